//! Adapters: the service's I/O, each behind project types.
//!
//! - [`store`] — DynamoDB (typed reads, one transactional commit of typed writes)
//! - [`stripe`] — the Stripe port over a pooled keep-alive client
//! - [`secrets`] — the Stripe key and webhook secrets, from the environment or Secrets Manager
//! - [`aws`] — AWS SDK configuration and clients
//! - [`catalog`] — the plans catalog from an SSM parameter

pub mod aws;
pub mod catalog;
pub mod secrets;
pub mod store;
pub mod stripe;
