//! The HTTP edge: what the functions share at their boundary with API Gateway and Stripe's
//! webhook calls.
//!
//! - [`http`] — routing helpers, typed JSON bodies
//! - [`runtime`] — the Lambda runner: the guard against events lambda_http cannot take, direct invocations
//! - [`identity`] — the caller, from API Gateway claims or a verified bearer token
//! - [`problem`] — problem+json and the one mapping of every layer's errors to HTTP
//! - [`signature`] — `Stripe-Signature` verification (and signing, for the local stack)
//! - [`local_events`] — API Gateway events carrying a signed Stripe event (local tools, tests)
//! - [`metrics`] — CloudWatch metrics as embedded metric format log lines

pub mod http;
pub mod iam;
pub mod identity;
pub mod local_events;
pub mod membership;
/// The metrics adapter, re-exported where the functions have always found it.
pub use crate::adapters::metrics;
pub mod problem;
pub mod runtime;
pub mod signature;
