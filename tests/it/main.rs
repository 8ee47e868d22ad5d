//! The one integration-test binary: every test drives the real `herald`
//! binary over HTTP on loopback (one binary so the app is linked once).

mod backup;
mod bench;
mod sink;
mod support;

mod accounts;
mod cluster;
mod delivery;
mod disk;
mod edges;
mod endpoint_options;
mod event_types;
mod foundation;
mod limits;
mod memory;
mod monitoring;
mod openapi;
mod paused;
mod portal;
mod postgres;
mod recovery;
mod schedule;
mod stream;
mod svix;
mod tidy;
mod tls;
mod tools;
mod ui;
