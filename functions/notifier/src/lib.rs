//! The notifier (optional, off by default): emails for `payment.failed`,
//! `payment.action_required` and `trial.will_end` domain events, delivered by an EventBridge
//! rule on the billing bus, sent through SES.

pub mod handler;

/// What this function needs configured at startup: the table (the user's email), no Stripe.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: false,
    webhook_secrets: false,
    redirects: false,
};
