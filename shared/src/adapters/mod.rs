//! Adapters: the service's I/O, each behind project types.
//!
//! - [`store`] — DynamoDB (typed reads, one transactional commit of typed writes)
//! - [`stripe`] — the Stripe port over a pooled keep-alive client
//! - [`secrets`] — the Stripe key and webhook secrets, from the environment or Secrets Manager
//! - [`aws`] — AWS SDK configuration and clients
//! - [`bus`] — the EventBridge bus the domain events are published on
//! - [`catalog`] — the plans catalog from an SSM parameter
//! - [`jwks`] — the token issuer's signing keys (JWKS, OpenID discovery)
//! - [`mail`] — email through Amazon SES (the optional notifications)
//! - [`local_clock`] — the shared clock of a local run (the Stripe emulator's)
//! - [`metrics`] — CloudWatch metrics as embedded metric format lines on stdout

pub mod aws;
pub mod bus;
pub mod catalog;
pub mod jwks;
pub mod local_clock;
pub mod mail;
pub mod metrics;
pub mod secrets;
pub mod store;
pub mod stripe;

/// An error and every source below it, `outer: inner: …`: what logs show of a failure (the
/// client sees a generic problem).
pub fn cause_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
