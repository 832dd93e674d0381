//! What a request-scoped service borrows from the process: the store, the Stripe port (when the
//! function has a key), the catalog, the clock and the configuration, and the engines built on
//! them. [`crate::app::AppState::context`] hands one out; the checkout and subscriptions
//! services wrap it.

use crate::adapters::store::Store;
use crate::adapters::stripe::{GatewayError, Stripe};
use crate::config::Config;
use crate::domain::clock::Clock;
use crate::domain::plans::Catalog;
use crate::services::ratelimit::RateLimiter;
use crate::services::reporter::Reporter;
use crate::services::sync::Engine;

/// The process's parts, borrowed for one request.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub store: &'a Store,
    stripe: Option<&'a Stripe>,
    pub catalog: &'a Catalog,
    pub clock: &'a dyn Clock,
    pub config: &'a Config,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("stripe", &self.stripe.is_some()).finish()
    }
}

impl<'a> Context<'a> {
    pub fn new(store: &'a Store, stripe: Option<&'a Stripe>, catalog: &'a Catalog, clock: &'a dyn Clock, config: &'a Config) -> Self {
        Self {
            store,
            stripe,
            catalog,
            clock,
            config,
        }
    }

    /// The Stripe port, for functions that have a key.
    pub fn stripe(&self) -> Result<&'a Stripe, GatewayError> {
        self.stripe.ok_or(GatewayError::NotConfigured)
    }

    /// The sync engine: the one path by which Stripe state reaches the table.
    pub fn sync(&self) -> Result<Engine<'a>, GatewayError> {
        Ok(Engine::new(self.store, self.stripe()?, self.catalog, self.clock, &self.config.sync))
    }

    /// The usage reporter: metered units to Stripe's meters.
    pub fn reporter(&self) -> Result<Reporter<'a>, GatewayError> {
        Ok(Reporter::new(self.store, self.stripe()?, self.clock, self.config.reporter_budget))
    }

    /// The per-user rate of requests that call Stripe (`USER_RATE_LIMIT_PER_MINUTE`).
    pub fn rate_limiter(&self) -> RateLimiter<'a> {
        RateLimiter::new(self.store, self.clock, self.config.rate_limit_per_minute)
    }
}
