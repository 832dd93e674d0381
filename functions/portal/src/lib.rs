//! The portal function: Billing Portal sessions (`POST /portal`).

pub mod handler;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: false,
    redirects: true,
};
