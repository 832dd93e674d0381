//! The admin function: support staff's lookups, grants and resyncs, on routes API Gateway
//! authorizes with IAM (SigV4) only.

pub mod handler;

/// What this function needs configured at startup (Stripe, for resyncs).
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: false,
    redirects: false,
};
