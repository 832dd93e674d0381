//! The webhook function: verified Stripe events synced into DynamoDB through the sync engine
//! (`POST /webhook`), or delivered by Amazon EventBridge from Stripe's partner event source.

pub mod bridge;
pub mod handler;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: true,
    redirects: false,
};
