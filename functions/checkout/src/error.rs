//! The one error enum of the checkout function, mapped to HTTP in one place.

use billing::adapters::store::StoreError;
use billing::adapters::stripe::GatewayError;
use billing::edge::identity::IdentityError;
use billing::edge::problem::{ApiError, Problem};
use billing::services::sync::SyncError;
use lambda_http::http::StatusCode;

/// Everything that can go wrong in this function, mapped to HTTP in [`ApiError::problem`].
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("invalid request: {}", .0.detail)]
    Invalid(Problem),
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
    Rate(#[from] billing::services::ratelimit::RateError),
}

impl From<Problem> for CheckoutError {
    fn from(problem: Problem) -> Self {
        CheckoutError::Invalid(problem)
    }
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

impl ApiError for CheckoutError {
    fn problem(&self) -> Problem {
        match self {
            CheckoutError::Identity(err) => err.problem(),
            CheckoutError::Rate(err) => err.into(),
            CheckoutError::Invalid(problem) => problem.clone(),
            CheckoutError::AlreadySubscribed { plan } => Problem::new(
                StatusCode::CONFLICT,
                "/errors/already-subscribed",
                "Already subscribed",
                format!("you already have a subscription to `{plan}`; change or manage it in the billing portal (POST /portal)"),
            )
            .with_extension("portal", "/portal"),
            CheckoutError::SessionNotFound => Problem::not_found("no such checkout session"),
            CheckoutError::CustomerConflict => Problem::new(
                StatusCode::CONFLICT,
                "/errors/customer-conflict",
                "Customer conflict",
                "this checkout belongs to a billing account linked to another user; contact support",
            ),
            CheckoutError::Stripe(err) => err.into(),
            CheckoutError::Store(err) => err.into(),
            CheckoutError::Sync(SyncError::Contention { .. }) => Problem::unavailable(1),
            CheckoutError::Sync(_) => Problem::internal(),
            CheckoutError::Incomplete(_) => Problem::payment_provider(),
        }
    }
}
