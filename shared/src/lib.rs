//! `billing`: the library shared by the stripe-lambda functions, in layers whose dependencies
//! point one way (down):
//!
//! ```text
//! app        AppState: the composition root every main.rs builds
//!  │
//! edge       http (routing, typed bodies), identity (JWT), problem+json, webhook signatures
//!  │
//! services   sync (the engine every writer of Stripe state goes through), gate, usage,
//!  │         reporter (metered usage to Stripe)
//!  │
//! adapters   store (DynamoDB), stripe (the Stripe port, pooled), secrets, aws
//!  │
//! config     typed settings read once from the environment
//!  │
//! domain     plans, records, versions, access rules, Stripe objects, events, clock: pure
//! ```
//!
//! Function crates depend on this crate only: none of them names aws-sdk-dynamodb or an
//! async-stripe crate.

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod edge;
pub mod services;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use app::AppState;
pub use config::{Config, Needs};
pub use domain::clock::now_epoch;
pub use edge::identity::{Identity, IdentityError};
pub use edge::problem::{ApiError, Problem};
/// `billing::gate` and `billing::usage`: the services the team's own Rust Lambdas call.
pub use services::{gate, usage};

/// Installs the tracing subscriber: JSON under Lambda's JSON log format, level from
/// `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG`.
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}
