//! The one error enum of the usage function, mapped to HTTP in one place.

use billing::edge::identity::IdentityError;
use billing::edge::problem::{ApiError, Problem};
use billing::services::usage::UsageError;

#[derive(Debug, thiserror::Error)]
pub enum UsageFnError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("invalid request: {}", .0.detail)]
    Invalid(Problem),
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error("usage is recorded by trusted callers only")]
    TrustedCallerRequired,
}

impl From<Problem> for UsageFnError {
    fn from(problem: Problem) -> Self {
        UsageFnError::Invalid(problem)
    }
}

impl ApiError for UsageFnError {
    fn problem(&self) -> Problem {
        match self {
            UsageFnError::Identity(err) => err.problem(),
            UsageFnError::Invalid(problem) => problem.clone(),
            UsageFnError::Usage(err) => err.into(),
            UsageFnError::TrustedCallerRequired => Problem::new(
                lambda_http::http::StatusCode::FORBIDDEN,
                "/errors/trusted-caller-required",
                "Trusted caller required",
                "usage is recorded by the service's own backend (a direct invocation of the usage function, or billing::usage), never with a user's token",
            ),
        }
    }
}
