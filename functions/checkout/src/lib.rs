//! The checkout function: the plans catalog (`GET /plans`) and, in later issues, Checkout
//! Sessions.

pub mod handler;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: false,
    redirects: true,
};
