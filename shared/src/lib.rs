//! `billing`: the library shared by the stripe-lambda functions.
//!
//! - [`config`]: typed configuration from the environment
//! - [`plans`]: the plans catalog
//! - [`identity`]: the caller, from API Gateway claims or a verified bearer token
//! - [`store`]: the DynamoDB adapter and the table's key schema
//! - [`stripe_client`]: the Stripe client factory
//! - [`problem`]: problem+json errors and the error → HTTP mapping
//! - [`state`]: per-process state built once in `main`

pub mod access;
pub mod aws;
pub mod config;
pub mod gate;
pub mod gateway;
pub mod http;
pub mod identity;
pub mod plans;
pub mod problem;
pub mod secrets;
pub mod state;
pub mod store;
pub mod stripe_client;
pub mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod webhook;

pub use config::{Config, Needs};
pub use identity::{Identity, IdentityError};
pub use problem::{ApiError, Problem};
pub use state::AppState;

/// Installs the tracing subscriber: JSON under Lambda's JSON log format, level from
/// `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG`.
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}

/// Seconds since the Unix epoch.
pub fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
