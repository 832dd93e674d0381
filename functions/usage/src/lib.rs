//! The usage function: record usage against the plan's quota for the period, and read the
//! period's counters (issue 12).

pub mod error;
pub mod handler;

/// What this function needs configured at startup: no Stripe key (never Stripe on the request
/// path).
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: false,
    webhook_secrets: false,
    redirects: false,
};
