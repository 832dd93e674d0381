//! The checkout function: the plans catalog (`GET /plans`), Stripe Checkout Sessions
//! (`POST /checkout`) and the eager sync after Checkout (`GET /checkout/{session_id}`).

pub mod error;
pub mod handler;
pub mod input;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: false,
    redirects: true,
};
