//! The webhook function: verified Stripe events synced into DynamoDB through the sync engine
//! (`POST /webhook`).

pub mod handler;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: true,
    redirects: false,
};
