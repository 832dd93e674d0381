//! The one error enum of the checkout function, mapped to HTTP in one place.

use billing::edge::identity::IdentityError;
use billing::edge::problem::{ApiError, Problem};
use billing::services::checkout::CheckoutError;
use billing::services::sync::SyncError;
use lambda_http::http::StatusCode;

/// Everything that can go wrong in this function, mapped to HTTP in [`ApiError::problem`]:
/// the caller unknown, the request itself invalid, or what the checkout service refused.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("invalid request: {}", .0.detail)]
    Invalid(Problem),
    #[error(transparent)]
    Service(#[from] CheckoutError),
}

impl From<Problem> for RouteError {
    fn from(problem: Problem) -> Self {
        RouteError::Invalid(problem)
    }
}

impl ApiError for RouteError {
    fn problem(&self) -> Problem {
        match self {
            RouteError::Identity(err) => err.problem(),
            RouteError::Invalid(problem) => problem.clone(),
            RouteError::Service(err) => service_problem(err),
        }
    }
}

fn service_problem(err: &CheckoutError) -> Problem {
    match err {
        CheckoutError::Rate(err) => err.into(),
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
