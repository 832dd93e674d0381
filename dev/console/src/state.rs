//! What every route of the console shares.

use std::path::PathBuf;

use billing::config::Config;

/// What every route shares.
pub struct Console {
    pub config: Config,
    pub verifier: billing::edge::identity::IdentityVerifier,
    pub http: reqwest::Client,
    /// The HTTP API's base, without a trailing `/`.
    pub api: String,
    /// The Stripe emulator's base, without a trailing `/`.
    pub stripe: String,
    pub static_dir: PathBuf,
    pub feed: crate::kept::Feed,
}
