//! The one error enum of the subscription function, mapped to HTTP in one place.

use billing::edge::identity::IdentityError;
use billing::edge::problem::{ApiError, Problem};
use billing::services::subscriptions::{Refusal, SubscriptionError};
use billing::services::sync::SyncError;
use lambda_http::http::StatusCode;

/// Everything that can go wrong in this function, mapped to HTTP in [`ApiError::problem`]:
/// the caller unknown, the request itself invalid, or what the subscriptions service refused.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("invalid request: {}", .0.detail)]
    Invalid(Problem),
    #[error(transparent)]
    Service(#[from] SubscriptionError),
}

impl From<Problem> for RouteError {
    fn from(problem: Problem) -> Self {
        RouteError::Invalid(problem)
    }
}

/// A refusal of the service as the 400 naming its field.
pub fn refusal(refusal: Refusal) -> Problem {
    Problem::bad_request(refusal.kind, refusal.detail).with_field(refusal.field)
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

fn service_problem(err: &SubscriptionError) -> Problem {
    let conflict = |kind, title, detail: &str| Problem::new(StatusCode::CONFLICT, kind, title, detail.to_owned());
    match err {
        SubscriptionError::Invalid(r) => refusal(r.clone()),
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
        SubscriptionError::SeatsAssigned { .. } => conflict("/errors/seats-assigned", "Seats assigned", &err.to_string()),
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
        SubscriptionError::PerSeatDecrease => conflict("/errors/change-at-period-end", "Change at period end", &err.to_string()),
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
        SubscriptionError::NotPausable { .. } => conflict("/errors/not-pausable", "Cannot be paused", &err.to_string()),
        SubscriptionError::DiscountExists => conflict("/errors/discount-exists", "Discount exists", &err.to_string()),
        SubscriptionError::PaymentMethodRequired => Problem::new(
            StatusCode::PAYMENT_REQUIRED,
            "/errors/payment-method-required",
            "Payment method required",
            err.to_string(),
        ),
        SubscriptionError::Rate(err) => err.into(),
        SubscriptionError::Stripe(err) => err.into(),
        SubscriptionError::Store(err) => err.into(),
        SubscriptionError::Sync(SyncError::Contention { .. }) => Problem::unavailable(1),
        SubscriptionError::Sync(_) => Problem::internal(),
        SubscriptionError::Incomplete(_) => Problem::payment_provider(),
    }
}
