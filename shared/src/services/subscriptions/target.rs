//! The operations: which subscription a request means (and that it is the caller's), and the
//! Stripe calls of cancel, resume and change, each result written through the sync engine.
//!
//! - Decisions are made on Stripe's current state of the subscription (read first), not on the
//!   table, which may lag behind a webhook.
//! - What is written is never the answer of a write call (Stripe may replay an answer up to a day
//!   old for a repeated idempotency key): after the calls, the subscription (and its schedule)
//!   are read again, and that state is stored, stamped as of the read of the table that preceded
//!   the calls ([`Engine::observe`]).
//! - Every Stripe write carries an idempotency key: derived from the client's `Idempotency-Key`
//!   when sent (whose first request is claimed in the table, so the same key with another body is
//!   refused), else from the request and the state it acts on, so a repeated request against
//!   unchanged state is one change, and the same request after the state moved on is a new one.

use super::{Refusal, SubscriptionError, Subscriptions};
use crate::adapters::stripe::{Stripe, idempotency_key};
use crate::domain::objects::SubscriptionSnapshot;
use crate::domain::plans::{Catalog, Interval};
use crate::domain::records::{SubscriptionRecord, UserItems, is_live_status};
use crate::domain::schedules::ScheduleSnapshot;
use crate::domain::status::SubscriptionStatus;
use crate::services::sync::{Arrival, Change, Engine, Observed};

/// Statuses after which a subscription can no longer be changed.
pub fn ended(status: &SubscriptionStatus) -> bool {
    matches!(status, SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired)
}

/// Subscriptions a request without `subscription` may mean: live ones, and paused ones (which
/// can be resumed).
fn open(status: &SubscriptionStatus) -> bool {
    is_live_status(status) || *status == SubscriptionStatus::Paused
}

pub(super) fn invalid(kind: &'static str, field: &'static str, detail: &str) -> SubscriptionError {
    SubscriptionError::Invalid(Refusal {
        kind,
        field,
        detail: detail.to_owned(),
    })
}

/// The stored subscription a request means, and the caller's customer: from the table
/// (strongly consistent), no Stripe call. Another user's subscription is a 404.
pub(super) async fn load(
    state: &Subscriptions<'_>,
    user: &str,
    requested: Option<&str>,
) -> Result<(SubscriptionRecord, String), SubscriptionError> {
    let items = state.store.user_items_consistent(user).await?;
    let record = choose(state.catalog, &items, requested)?.clone();
    let customer = items.customer.map(|c| c.customer_id).ok_or(SubscriptionError::NotFound)?;
    if record.customer_id != customer {
        return Err(SubscriptionError::NotFound);
    }
    Ok((record, customer))
}

fn choose<'a>(catalog: &Catalog, items: &'a UserItems, requested: Option<&str>) -> Result<&'a SubscriptionRecord, SubscriptionError> {
    // Plans only: one-time purchases and custom amounts (donations) are not managed here.
    let mut subscriptions = items
        .subscriptions
        .iter()
        .filter(|s| s.interval != Some(Interval::OneTime) && !crate::domain::access::is_custom_amount(catalog, s));
    match requested {
        Some(id) => subscriptions.find(|s| s.subscription_id == id).ok_or(SubscriptionError::NotFound),
        None => {
            let candidates: Vec<&SubscriptionRecord> = subscriptions.filter(|s| open(&s.status)).collect();
            match candidates.as_slice() {
                [] => Err(SubscriptionError::NoSubscription),
                [one] => Ok(one),
                _ => Err(invalid(
                    "/errors/missing-field",
                    "subscription",
                    "you have several subscriptions: say which one (`subscription`, see GET /subscription)",
                )),
            }
        }
    }
}

/// The subscription a request acts on, verified to be the caller's.
pub struct Target {
    pub record: SubscriptionRecord,
    /// Stripe's current state of it.
    pub current: SubscriptionSnapshot,
    pub customer: String,
}

/// Reads the subscription from Stripe; a subscription of another customer is a 404.
pub async fn fetch(stripe: &Stripe, record: SubscriptionRecord, customer: String) -> Result<Target, SubscriptionError> {
    let current = stripe
        .retrieve_subscription(&record.subscription_id)
        .await?
        .filter(|s| s.customer_id == customer)
        .ok_or(SubscriptionError::NotFound)?;
    Ok(Target { record, current, customer })
}

impl Target {
    pub fn id(&self) -> &str {
        &self.current.subscription_id
    }

    /// 409 when the subscription has ended.
    pub fn require_open(&self) -> Result<(), SubscriptionError> {
        if ended(&self.current.status) {
            return Err(SubscriptionError::Ended {
                status: self.current.status.to_string(),
            });
        }
        Ok(())
    }

    /// Set to end: at period end, or at another `cancel_at`.
    pub fn ending(&self) -> bool {
        self.current.cancel_at_period_end || self.current.cancel_at.is_some()
    }
}

/// Idempotency keys of one request's Stripe writes.
pub struct Keys {
    base: String,
}

impl Keys {
    pub fn new(operation: &str, user: &str, target: &Target, client_key: Option<&str>, observed: &Observed, params: &str) -> Self {
        let (params, state) = match client_key {
            // The client's key (its body is pinned by the claim): a retry replays each step.
            Some(key) => (String::new(), format!("client:{key}")),
            // The state acted on, including the stored version (each write moves it on).
            None => {
                let c = &target.current;
                let state = super::fingerprint(
                    "state",
                    &(
                        &c.status,
                        &c.price_id,
                        c.quantity,
                        c.cancel_at_period_end,
                        c.cancel_at,
                        &c.schedule_id,
                        c.current_period_end,
                        observed.subscription().map(|s| s.version.get()),
                    ),
                );
                (params.to_owned(), state)
            }
        };
        Self {
            base: idempotency_key(&format!("sub-{operation}"), &[user, target.id(), &params, &state]),
        }
    }

    /// The key of one step of the request.
    pub fn step(&self, step: &str) -> String {
        idempotency_key(step, &[&self.base])
    }
}

/// Releases the schedule driving the subscription, if one does: its pending change is dropped
/// and the subscription goes on as it is. Whether one was released.
pub async fn release_schedule(stripe: &Stripe, target: &Target, keys: &Keys) -> Result<bool, SubscriptionError> {
    match &target.current.schedule_id {
        Some(id) => {
            stripe.release_schedule(id, &keys.step("release")).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Whether the subscription's schedule has a change still to come.
pub async fn change_pending(stripe: &Stripe, target: &Target) -> Result<bool, SubscriptionError> {
    match &target.current.schedule_id {
        Some(id) => Ok(stripe.retrieve_schedule(id).await?.is_some_and(|s| s.next_phase().is_some())),
        None => Ok(false),
    }
}

/// Stores the subscription (and, when `schedule`, its schedule) as Stripe has it now, through
/// the engine: read again after the calls, never taken from their answers.
pub async fn record(engine: &Engine<'_>, stripe: &Stripe, observed: Observed, id: &str, schedule: bool) -> Result<Now, SubscriptionError> {
    let subscription = stripe.retrieve_subscription(id).await?;
    let current_schedule = match subscription.as_ref().and_then(|s| s.schedule_id.as_deref()) {
        Some(schedule_id) => stripe.retrieve_schedule(schedule_id).await?,
        None => None,
    };
    let change = Change {
        observed,
        subscription: subscription.clone(),
        schedule: schedule.then(|| current_schedule.clone()),
    };
    engine.apply(Arrival::Changed(Box::new(change))).await?;
    Ok(Now {
        subscription,
        schedule: current_schedule,
    })
}

/// Stripe's state after a change, as read for the engine: what the answer shows (the table may
/// briefly hold an event's older payload until the events that follow it land).
pub struct Now {
    pub subscription: Option<SubscriptionSnapshot>,
    pub schedule: Option<ScheduleSnapshot>,
}
