//! Per-user rate of the requests that call Stripe (checkout, portal, subscription changes and
//! previews, cancels, resumes, invoices): one user cannot spend the account's Stripe rate limit
//! (100 requests a second in live mode, shared by every user of the deployment) or loop a
//! client against it. ONE conditional DynamoDB write per request
//! ([`crate::adapters::store::Store::take_rate`]); past the allowance the request is refused
//! with `429 /errors/rate-limited` and `Retry-After`, before any Stripe call.

use crate::adapters::store::{RateTaken, Store, StoreError};
use crate::domain::clock::Clock;

#[derive(Debug, thiserror::Error)]
pub enum RateError {
    /// The user's allowance of this minute is used up.
    #[error("too many requests that call stripe from this user")]
    Limited { retry_after: u32 },
    #[error("the store failed")]
    Store(#[from] StoreError),
}

/// Borrowed pieces of the process state; cheap to build per request.
pub struct RateLimiter<'a> {
    store: &'a Store,
    clock: &'a dyn Clock,
    per_minute: u32,
}

impl<'a> RateLimiter<'a> {
    /// `per_minute` 0 turns the limit off.
    pub fn new(store: &'a Store, clock: &'a dyn Clock, per_minute: u32) -> Self {
        Self { store, clock, per_minute }
    }

    /// Counts one Stripe-calling request of `user`, or refuses it.
    pub async fn take(&self, user: &str) -> Result<(), RateError> {
        if self.per_minute == 0 {
            return Ok(());
        }
        match self.store.take_rate(user, self.per_minute, self.clock.now()).await? {
            RateTaken::Yes => Ok(()),
            RateTaken::Exhausted { retry_after } => {
                tracing::info!(user, limit = self.per_minute, "stripe-calling requests rate limited");
                Err(RateError::Limited { retry_after })
            }
        }
    }
}
