//! Reconcile: repairs missed or lost webhooks from Stripe's Events API (and, beyond its window or
//! when asked, from fetched snapshots), through the sync engine. Run on a schedule (EventBridge
//! Scheduler; the local stack runs it too).

pub mod error;
pub mod handler;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: false,
    redirects: false,
};
