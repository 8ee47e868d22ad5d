//! Herald: a self-hosted webhook delivery appliance.
//!
//! See `ARCHITECTURE.md` for the map. Dependencies point one way:
//! `http`/`cli` → `service` → `store` → `domain`.

#![warn(missing_docs)]
pub mod app;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod http;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod wire;
