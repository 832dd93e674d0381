//! The one error enum of the subscriptions service. The subscription function maps it to HTTP.

use crate::adapters::store::StoreError;
use crate::adapters::stripe::GatewayError;
use crate::services::ratelimit::RateError;
use crate::services::sync::SyncError;

/// Input refused on the subscription's state (a 400 naming the field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The problem type (`/errors/…`).
    pub kind: &'static str,
    pub field: &'static str,
    pub detail: String,
}

impl Refusal {
    /// `quantity` outside 1..=`max`.
    pub fn quantity(max: Option<u32>) -> Self {
        let detail = match max {
            Some(max) => format!("`quantity` must be a whole number from 1 to {max}"),
            None => "`quantity` must be a whole number from 1 to the plan's maximum".to_owned(),
        };
        Self {
            kind: "/errors/invalid-quantity",
            field: "quantity",
            detail,
        }
    }
}

/// Everything that can go wrong in the service.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("invalid request: {}", .0.detail)]
    Invalid(Refusal),
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
    /// An organization's quantity lowered below the seats its members hold.
    #[error("{assigned} seats are assigned; free seats before lowering the quantity to {quantity}")]
    SeatsAssigned { assigned: u64, quantity: u64 },
    #[error("the client's idempotency key was used for another request")]
    KeyReused,
    #[error("a change of interval of a metered subscription must wait for the period end")]
    MeteredIntervalChange,
    /// Fewer seats now, on a plan whose limits are per seat: the period's quota was granted for
    /// the seats paid, so the decrease waits for the period end.
    #[error("fewer seats on a plan with per-seat limits take effect at the period end: send `\"when\": \"period_end\"`")]
    PerSeatDecrease,
    #[error("the subscription or its schedule changed while the request was served")]
    ChangedMeanwhile,
    #[error("a change now of a subscription whose payment is past due")]
    PastDue,
    #[error("metered usage could not all be reported before the cancel")]
    UsageNotReported,
    /// Only an active or trialing subscription can be paused.
    #[error("this subscription cannot be paused: {reason}")]
    NotPausable { reason: String },
    /// A paused subscription resumes by charging a card, and none is on file.
    #[error("add a payment method in the billing portal (POST /portal) before resuming")]
    PaymentMethodRequired,
    /// The subscription carries another discount already (codes do not stack).
    #[error("this subscription already has a discount; codes do not stack")]
    DiscountExists,
    #[error(transparent)]
    Rate(#[from] RateError),
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
                | SubscriptionError::SeatsAssigned { .. }
                | SubscriptionError::MeteredIntervalChange
                | SubscriptionError::PerSeatDecrease
                | SubscriptionError::PastDue
                | SubscriptionError::NotPausable { .. }
                | SubscriptionError::DiscountExists
                | SubscriptionError::PaymentMethodRequired
        )
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
