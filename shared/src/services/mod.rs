//! Services: what the functions do with the adapters, written once.
//!
//! - [`context`] — the process's parts a request-scoped service borrows
//! - [`checkout`] — Checkout Sessions for plans and custom amounts, the eager sync after Checkout
//! - [`sync`] — the sync engine, the one path by which Stripe state reaches the table
//! - [`gate`] — "may this user use this feature?" for any Rust Lambda
//! - [`usage`] — usage quotas and metered usage for any Rust Lambda
//! - [`reporter`] — metered usage to Stripe's meters, exactly once
//! - [`notify`] — the optional emails of payment failures and trial ends, through SES
//! - [`publisher`] — domain events from the outbox to the EventBridge bus, in order per customer
//! - [`reconcile`] — what missed or lost webhooks left behind, repaired from Stripe's records
//! - [`ratelimit`] — the per-user rate of requests that call Stripe
//! - [`subscriptions`] — list, cancel, resume and change a subscription; its invoices

pub mod checkout;
pub mod context;
pub mod gate;
pub mod notify;
pub mod publisher;
pub mod ratelimit;
pub mod reconcile;
pub mod reporter;
pub mod seats;
pub mod subscriptions;
pub mod support;
pub mod sync;
pub mod usage;
