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
        }
    }
}
