//! The subscription function: the user's subscriptions, cancel, resume, change of plan, seats
//! and interval (now or at period end), proration previews, invoices.

pub mod error;
pub mod handler;
pub mod input;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: false,
    redirects: false,
};
