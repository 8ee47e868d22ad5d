//! Pure types and rules: no I/O, no clock, no storage, no HTTP.

pub mod alert;
pub mod apikey;
pub mod delivery;
pub mod disk;
pub mod endpoint;
pub mod event;
pub mod event_type;
pub mod health;
pub mod idempotent;
pub mod ids;
pub mod lastuse;
pub mod limits;
pub mod logtext;
pub mod netguard;
pub mod outcome;
pub mod ratelimit;
pub mod retention;
pub mod retry;
pub mod samples;
pub mod schema;
pub mod session;
pub mod stats;
pub mod tenant;
pub mod throttle;
pub mod time;
pub mod user;
