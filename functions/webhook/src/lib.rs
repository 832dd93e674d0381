//! The webhook function: verified Stripe events synced into DynamoDB (`POST /webhook`, issue 5).

pub mod events;
pub mod handler;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: true,
    redirects: false,
};
