//! The events publisher: domain events from the outbox to the EventBridge bus, in order per
//! customer, at least once. Woken by the table's stream when an outbox item is written, and
//! every minute by EventBridge Scheduler as a sweep (the local stack runs it every 2 seconds).

pub mod handler;

/// What this function needs configured at startup: the table and the bus, no Stripe.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: false,
    webhook_secrets: false,
    redirects: false,
};
