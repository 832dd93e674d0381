//! The seats function: an organization's seats (`GET /org/seats`, `PUT|DELETE /org/seats/{user_id}`).

pub mod handler;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: false,
    webhook_secrets: false,
    redirects: false,
};
