//! Pure types and rules: no I/O, no clock, no storage, no HTTP.

pub mod apikey;
pub mod endpoint;
pub mod event_type;
pub mod ids;
pub mod netguard;
pub mod tenant;
pub mod time;
pub mod user;
