//! The entitlements function: feature checks answered from DynamoDB (`GET /entitlements`).

pub mod handler;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: false,
    webhook_secrets: false,
    redirects: false,
};
