//! The one place a Stripe client is built. The base URL comes from config (`STRIPE_API_BASE`),
//! so the local emulator or real Stripe is chosen by configuration alone.

use std::time::Duration;

use crate::config::{Config, Secret};

/// Per-attempt timeout for Stripe calls: three attempts (see `gateway`) fit the 25 s function timeout.
pub const STRIPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the process's Stripe client.
pub fn client(config: &Config, secret_key: &Secret) -> Result<stripe::Client, stripe::StripeError> {
    let mut builder = stripe::ClientBuilder::new(secret_key.expose()).timeout(STRIPE_TIMEOUT).app_info(
        "stripe-lambda",
        Some(env!("CARGO_PKG_VERSION").to_owned()),
        None,
    );
    if let Some(base) = &config.stripe_api_base {
        builder = builder.url(base.as_str());
    }
    builder.build()
}
