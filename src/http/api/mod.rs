//! The JSON API under `/api/v1`, one file per resource, and [`json`], the
//! shapes its answers (and the CLI's output) take. A handler is its
//! extractors (`http::extract`), one service call and its answer.

pub mod admin;
pub mod alerts;
pub mod backup;
pub mod deliveries;
pub mod event_types;
pub mod events;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod portal;
pub mod streams;
pub mod tenants;
pub mod users;
pub mod webhooks;
