//! An HTTP API Lambda authorizer (payload 2.0, simple responses) that gates the team's own
//! routes by feature: the bearer token verified, the route's feature looked up in
//! `AUTHORIZER_ROUTES`, and the decision made by the same access rules as
//! `GET /entitlements/{feature}` (one DynamoDB read, no Stripe call).

pub mod handler;

/// What this function needs configured at startup: the table and the token settings only.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: false,
    webhook_secrets: false,
    redirects: false,
};
