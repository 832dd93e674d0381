//! The checkout function: the plans catalog (`GET /plans`), Stripe Checkout Sessions
//! (`POST /checkout`) and the eager sync after Checkout (`GET /checkout/{session_id}`).

pub mod customer;
pub mod error;
pub mod handler;
pub mod input;
pub mod session;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: false,
    redirects: true,
};
