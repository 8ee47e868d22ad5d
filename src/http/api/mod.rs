//! The JSON API under `/api/v1`, one file per resource.

pub mod alerts;
pub mod deliveries;
pub mod event_types;
pub mod events;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod tenants;
pub mod webhooks;
