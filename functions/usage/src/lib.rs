//! The usage function: record usage against the plan's quota for the period (direct invocations
//! by trusted callers), and read the period's counters (`GET /usage`).

pub mod direct;
pub mod error;
pub mod handler;

/// What this function needs configured at startup: no Stripe key (never Stripe on the request
/// path).
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: false,
    webhook_secrets: false,
    redirects: false,
};
