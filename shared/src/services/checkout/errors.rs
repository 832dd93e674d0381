//! The one error enum of the checkout service. The checkout function maps it to HTTP.

use crate::adapters::store::StoreError;
use crate::adapters::stripe::GatewayError;
use crate::services::ratelimit::RateError;
use crate::services::sync::SyncError;

/// Everything that can go wrong in the service.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("user already has a live subscription to `{plan}`")]
    AlreadySubscribed { plan: String },
    #[error("checkout session not found for this user")]
    SessionNotFound,
    #[error("the checkout's customer is linked to another user, or the user to another customer")]
    CustomerConflict,
    #[error("a stripe call failed")]
    Stripe(#[from] GatewayError),
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("the eager sync failed")]
    Sync(#[source] SyncError),
    #[error("stripe returned a checkout session without {0}")]
    Incomplete(&'static str),
    #[error(transparent)]
    Rate(#[from] RateError),
}

impl From<SyncError> for CheckoutError {
    fn from(err: SyncError) -> Self {
        match err {
            SyncError::Store(err) => CheckoutError::Store(err),
            SyncError::Stripe(err) => CheckoutError::Stripe(err),
            other => CheckoutError::Sync(other),
        }
    }
}
