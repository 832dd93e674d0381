//! The one error enum of the subscription function, mapped to HTTP in one place.

use billing::adapters::store::StoreError;
use billing::adapters::stripe::GatewayError;
use billing::edge::identity::IdentityError;
use billing::edge::problem::{ApiError, Problem};
use billing::services::sync::SyncError;
use lambda_http::http::StatusCode;

/// Everything that can go wrong in this function, mapped to HTTP in [`ApiError::problem`].
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("invalid request: {}", .0.detail)]
    Invalid(Problem),
    #[error("no such subscription for this user")]
    NotFound,
    #[error("the user has no open subscription")]
    NoSubscription,
    #[error("the subscription has ended ({status})")]
    Ended { status: String },
    #[error("nothing to resume")]
    NothingToResume,
    #[error("the subscription is set to end; resume it before scheduling a change")]
    CancelPending,
    #[error("the change asks for the current plan, interval and quantity")]
    NoChange,
    #[error("the client's idempotency key was used for another request")]
    KeyReused,
    #[error("a change of interval of a metered subscription must wait for the period end")]
    MeteredIntervalChange,
    #[error("the subscription or its schedule changed while the request was served")]
    ChangedMeanwhile,
    #[error("a change now of a subscription whose payment is past due")]
    PastDue,
    #[error("metered usage could not all be reported before the cancel")]
    UsageNotReported,
    #[error(transparent)]
    Rate(#[from] billing::services::ratelimit::RateError),
    #[error("a stripe call failed")]
    Stripe(#[from] GatewayError),
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("writing the change failed")]
    Sync(#[source] SyncError),
    #[error("stripe answered without {0}")]
    Incomplete(&'static str),
}

impl SubscriptionError {
    /// A refusal decided here before the request changed anything in Stripe (a 4xx of this
    /// service's own judgement): the client's idempotency key is not remembered for it.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            SubscriptionError::Invalid(_)
                | SubscriptionError::NotFound
                | SubscriptionError::NoSubscription
                | SubscriptionError::Ended { .. }
                | SubscriptionError::NothingToResume
                | SubscriptionError::CancelPending
                | SubscriptionError::NoChange
                | SubscriptionError::MeteredIntervalChange
                | SubscriptionError::PastDue
        )
    }
}

impl From<Problem> for SubscriptionError {
    fn from(problem: Problem) -> Self {
        SubscriptionError::Invalid(problem)
    }
}

impl From<SyncError> for SubscriptionError {
    fn from(err: SyncError) -> Self {
        match err {
            SyncError::Store(err) => SubscriptionError::Store(err),
            SyncError::Stripe(err) => SubscriptionError::Stripe(err),
            other => SubscriptionError::Sync(other),
        }
    }
}

impl ApiError for SubscriptionError {
    fn problem(&self) -> Problem {
        let conflict = |kind, title, detail: &str| Problem::new(StatusCode::CONFLICT, kind, title, detail.to_owned());
        match self {
            SubscriptionError::Identity(err) => err.problem(),
            SubscriptionError::Invalid(problem) => problem.clone(),
            SubscriptionError::NotFound => Problem::not_found("no such subscription"),
            SubscriptionError::NoSubscription => conflict(
                "/errors/no-subscription",
                "No subscription",
                "you have no open subscription; subscribe first (POST /checkout)",
            ),
            SubscriptionError::Ended { status } => conflict(
                "/errors/subscription-ended",
                "Subscription ended",
                &format!("this subscription is `{status}` and can no longer be changed; subscribe again (POST /checkout)"),
            ),
            SubscriptionError::NothingToResume => conflict(
                "/errors/nothing-to-resume",
                "Nothing to resume",
                "this subscription is neither set to end, paused, nor has a scheduled change",
            ),
            SubscriptionError::CancelPending => conflict(
                "/errors/cancel-pending",
                "Cancellation pending",
                "this subscription is set to end; resume it (POST /subscription/resume) before scheduling a change",
            ),
            SubscriptionError::NoChange => Problem::bad_request(
                "/errors/no-change",
                "this is the subscription's current plan, interval and quantity",
            )
            .with_field("plan"),
            SubscriptionError::KeyReused => Problem::new(
                StatusCode::CONFLICT,
                "/errors/idempotency-key-reused",
                "Idempotency key reused",
                "this `Idempotency-Key` was used for a different request; use a new key",
            )
            .with_field("Idempotency-Key"),
            SubscriptionError::MeteredIntervalChange => conflict(
                "/errors/change-at-period-end",
                "Change at period end",
                "this subscription bills metered usage: a change of billing interval takes effect at the period end (`\"when\": \"period_end\"`)",
            ),
            SubscriptionError::ChangedMeanwhile => conflict(
                "/errors/changed-meanwhile",
                "Changed meanwhile",
                "the subscription changed while this request was served; look again (GET /subscription) and retry",
            ),
            SubscriptionError::PastDue => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "/errors/payment-past-due",
                "Payment past due",
                "this subscription's last payment failed: pay the open invoice (POST /portal) before changing it now; a change at the period end or a cancel is still possible",
            ),
            SubscriptionError::UsageNotReported => Problem::unavailable(30),
            SubscriptionError::Rate(err) => err.into(),
            SubscriptionError::Stripe(err) => err.into(),
            SubscriptionError::Store(err) => err.into(),
            SubscriptionError::Sync(SyncError::Contention { .. }) => Problem::unavailable(1),
            SubscriptionError::Sync(_) => Problem::internal(),
            SubscriptionError::Incomplete(_) => Problem::payment_provider(),
        }
    }
}
