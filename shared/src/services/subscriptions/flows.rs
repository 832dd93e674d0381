//! The flows of cancel, resume and change, once the request is claimed: Stripe's current state
//! read, the decision made on it, the Stripe calls (each under its idempotency key), and what
//! Stripe has afterwards written through the sync engine.

use super::claims::Claim;
use super::target::{self, Keys, Now, Target};
use super::views::SubscriptionView;
use super::{ChangeRequest, Changed, SubscriptionError, Subscriptions, When, cancel, change};
use crate::adapters::store::RequestKey;
use crate::adapters::stripe::{GatewayError, Stripe, SubscriptionUpdate};
use crate::domain::records::SubscriptionRecord;
use crate::services::sync::{Arrival, Engine, Observed};

/// The subscription as Stripe has it after a change (what was just written through the engine).
pub(super) fn answer(state: &Subscriptions<'_>, user: &str, target: &Target, now: Now) -> Result<SubscriptionView, SubscriptionError> {
    let clock = state.clock.now();
    let version = crate::domain::version::Version::of_payload(clock);
    let subscription = now.subscription.ok_or(SubscriptionError::NotFound)?;
    let record = subscription.to_record(user, state.catalog, version, clock, Some(&target.record), clock);
    let schedule = now
        .schedule
        .map(|s| s.to_record(user, target.id(), state.catalog, None, version, clock));
    Ok(SubscriptionView::new(&record, schedule.as_ref(), clock))
}

/// The subscription as stored (strongly consistent), when nothing was asked of Stripe.
pub(super) async fn changed(state: &Subscriptions<'_>, user: &str, target: &Target) -> Result<SubscriptionView, SubscriptionError> {
    let items = state.store.user_items_consistent(user).await?;
    let record = items
        .subscriptions
        .iter()
        .find(|s| s.subscription_id == target.id())
        .ok_or(SubscriptionError::NotFound)?;
    let schedule = items.schedules.iter().find(|s| s.subscription_id == target.id());
    Ok(SubscriptionView::new(record, schedule, state.clock.now()))
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn cancel_claimed(
    state: &Subscriptions<'_>,
    user: &str,
    record: SubscriptionRecord,
    customer: String,
    at_period_end: bool,
    feedback: Option<String>,
    client_key: Option<&str>,
    claim: &Claim,
) -> Result<SubscriptionView, SubscriptionError> {
    let stripe = state.stripe()?;
    let target = target::fetch(stripe, record, customer).await?;
    target.require_open()?;
    let current = &target.current;
    if at_period_end && current.cancel_at_period_end && current.schedule_id.is_none() && !claim.retry() {
        // Already set to end at period end: nothing to ask Stripe, nothing to write.
        return changed(state, user, &target).await;
    }
    let engine = state.sync()?;
    let observed = engine.observe(user, target.id()).await?;
    let params = super::fingerprint("cancel", &(at_period_end, &feedback));
    let keys = Keys::new("cancel", user, &target, client_key, &observed, &params);
    let released;
    if at_period_end {
        released = step(target::release_schedule(stripe, &target, &keys).await, claim.key)?.unwrap_or(true);
        let update = SubscriptionUpdate {
            cancel_at_period_end: Some(true),
            feedback,
            ..SubscriptionUpdate::default()
        };
        let result = stripe.update_subscription(target.id(), &update, &keys.step("update")).await;
        if let Err(err) = step(result.map_err(SubscriptionError::from), claim.key) {
            return Err(failed(&engine, stripe, observed, &target, released, err).await);
        }
    } else {
        // Stripe cancels the schedule with its subscription.
        released = target.current.schedule_id.is_some();
        let result = cancel::now(state, stripe, user, &target, feedback.as_deref(), &keys).await;
        step(result, claim.key)?;
    }
    let now = target::record(&engine, stripe, observed, target.id(), released).await?;
    tracing::info!(user = %user, subscription = %target.id(), at_period_end, "subscription canceled");
    answer(state, user, &target, now)
}

pub(super) async fn resume_claimed(
    state: &Subscriptions<'_>,
    user: &str,
    record: SubscriptionRecord,
    customer: String,
    client_key: Option<&str>,
    claim: &Claim,
) -> Result<SubscriptionView, SubscriptionError> {
    let stripe = state.stripe()?;
    let target = target::fetch(stripe, record, customer).await?;
    target.require_open()?;
    let paused = target.current.status == "paused";
    let ending = target.ending();
    let pending = target::change_pending(stripe, &target).await?;
    // Paused collection, or a period that began while it was (lifted since): resumed with a
    // new period charged now when the current one was never paid.
    let current = &target.current;
    let (_, unpaid) = crate::domain::pause::track(
        current.pause.as_ref(),
        current.current_period_start,
        current.restarted(),
        Some(&target.record),
        state.clock.now(),
    );
    let collection = current.pause.is_some() || unpaid.is_some();
    if !paused && !ending && !pending && !collection && !claim.retry() {
        return Err(SubscriptionError::NothingToResume);
    }
    // Stripe resumes a paused subscription by invoicing it; without a card that invoice fails
    // and the subscription turns `past_due` (a grace period nobody paid for).
    if paused && !current.has_payment_method {
        let customer = stripe.retrieve_customer(&target.customer).await?;
        if !customer.is_some_and(|c| c.has_payment_method) {
            return Err(SubscriptionError::PaymentMethodRequired);
        }
    }
    let engine = state.sync()?;
    let observed = engine.observe(user, target.id()).await?;
    let keys = Keys::new("resume", user, &target, client_key, &observed, "");
    let released = step(target::release_schedule(stripe, &target, &keys).await, claim.key)?.unwrap_or(true);
    if paused
        && let Err(err) = step(
            stripe
                .resume_subscription(target.id(), &keys.step("resume"))
                .await
                .map_err(SubscriptionError::from),
            claim.key,
        )
    {
        return Err(failed(&engine, stripe, observed, &target, released, err).await);
    }
    if collection
        && let Err(err) = step(
            stripe
                // Per ten minutes: a declined card fixed since may be charged again without a new
                // client key (a resume that was paid leaves nothing to resume).
                .resume_collection(
                    target.id(),
                    unpaid.is_some(),
                    &keys.step(&format!("collect-{}", state.clock.now() / 600)),
                )
                .await
                .map_err(SubscriptionError::from),
            claim.key,
        )
    {
        return Err(failed(&engine, stripe, observed, &target, released, err).await);
    }
    if ending {
        // Both: a `cancel_at` at the period end may come without the flag.
        let update = SubscriptionUpdate {
            cancel_at_period_end: Some(false),
            clear_cancel_at: true,
            ..SubscriptionUpdate::default()
        };
        let result = stripe.update_subscription(target.id(), &update, &keys.step("update")).await;
        if let Err(err) = step(result.map_err(SubscriptionError::from), claim.key) {
            return Err(failed(&engine, stripe, observed, &target, released, err).await);
        }
    }
    let now = target::record(&engine, stripe, observed, target.id(), released).await?;
    tracing::info!(user = %user, subscription = %target.id(), paused, ending, pending, collection, "subscription resumed");
    answer(state, user, &target, now)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn change_claimed(
    state: &Subscriptions<'_>,
    user: &str,
    record: SubscriptionRecord,
    customer: String,
    request: &ChangeRequest<'_>,
    client_key: Option<&str>,
    claim: &Claim,
) -> Result<Changed, SubscriptionError> {
    let stripe = state.stripe()?;
    let target = target::fetch(stripe, record, customer).await?;
    target.require_open()?;
    let resolved = change::resolve(state, stripe, &target, request).await?;
    let same =
        target.current.price_id.as_deref() == Some(resolved.item.price.as_str()) && target.current.quantity == resolved.item.quantity;
    if same && !claim.retry() {
        return Err(SubscriptionError::NoChange);
    }
    let uncollected = target.current.pause.is_some() || crate::domain::pause::uncollected(&target.record);
    if (target.current.status == "past_due" || uncollected) && request.when == When::Now {
        // The period is not paid: an upgrade would hand out more for it, a downgrade would
        // credit time that was never paid for. A change at the period end bills nothing now.
        return Err(SubscriptionError::PastDue);
    }
    if (request.when == When::PeriodEnd || request.preview) && target.ending() {
        // Stripe has no next invoice to preview for a subscription set to end.
        return Err(SubscriptionError::CancelPending);
    }
    if request.when == When::Now && resolved.interval_changes && !target.current.other_items.is_empty() {
        // Its metered items must go, and Stripe would drop the period's usage with them.
        return Err(SubscriptionError::MeteredIntervalChange);
    }
    let proration = change::proration(request.proration, state.config.subscription.proration, resolved.upgrade)?;
    if request.preview {
        let preview = change::preview(stripe, &target, &resolved, request, proration, state.clock.now()).await?;
        return Ok(Changed::Preview(preview));
    }

    let engine = state.sync()?;
    let observed = engine.observe(user, target.id()).await?;
    let params = super::fingerprint(
        "change",
        &ChangeParams {
            price: &resolved.item.price,
            quantity: resolved.item.quantity,
            proration: proration.as_str(),
            now: request.when == When::Now,
            plan: request.plan.map(|p| p.id.as_str()),
        },
    );
    let keys = Keys::new("change", user, &target, client_key, &observed, &params);
    let now = match request.when {
        When::Now => {
            let released = step(target::release_schedule(stripe, &target, &keys).await, claim.key)?.unwrap_or(true);
            if let Err(err) = step(change::change_now(stripe, &target, &resolved, proration, &keys).await, claim.key) {
                return Err(failed(&engine, stripe, observed, &target, released, err).await);
            }
            let now = target::record(&engine, stripe, observed, target.id(), released).await?;
            // Features follow the new plan at once (the summary event comes later).
            let refresh = Arrival::Entitlements {
                user_id: user.to_owned(),
                customer_id: target.customer.clone(),
            };
            if let Err(err) = engine.apply(refresh).await {
                tracing::warn!(error = %crate::adapters::cause_chain(&err), "entitlements not refreshed after the change; the webhook will");
            }
            now
        }
        When::PeriodEnd => {
            step(change::schedule_change(stripe, user, &target, &resolved, &keys).await, claim.key)?;
            target::record(&engine, stripe, observed, target.id(), true).await?
        }
    };
    tracing::info!(
        user = %user,
        subscription = %target.id(),
        plan = %resolved.plan,
        interval = %resolved.interval,
        quantity = resolved.item.quantity,
        when = ?request.when,
        upgrade = resolved.upgrade,
        "subscription changed"
    );
    answer(state, user, &target, now).map(Changed::Subscription)
}

/// Whether a Stripe step's refusal means a retry of a claimed request finds its first attempt
/// applied: the same client key, the same body (the claim says so), but parameters derived from
/// the state the first attempt changed, so Stripe refuses the key's reuse.
fn applied_before(err: &SubscriptionError, claim: Option<RequestKey>) -> bool {
    claim == Some(RequestKey::Retry) && matches!(err, SubscriptionError::Stripe(GatewayError::IdempotencyReused { .. }))
}

/// A step's result, with a retry's [`applied_before`] refusal taken as done.
pub(super) fn step<T>(result: Result<T, SubscriptionError>, claim: Option<RequestKey>) -> Result<Option<T>, SubscriptionError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if applied_before(&err, claim) => {
            tracing::info!("a retry of a request whose first attempt took effect");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// After a step failed: when a schedule was released before it, the table learns that now (its
/// pending change is gone in Stripe), then the step's error is answered.
pub(super) async fn failed(
    engine: &Engine<'_>,
    stripe: &Stripe,
    observed: Observed,
    target: &Target,
    released: bool,
    err: SubscriptionError,
) -> SubscriptionError {
    if released && let Err(record) = target::record(engine, stripe, observed, target.id(), true).await {
        tracing::warn!(error = %crate::adapters::cause_chain(&record), "the released schedule could not be recorded; the webhook will");
    }
    err
}

/// What a change without a client key is keyed on, besides the state it acts on.
#[derive(serde::Serialize)]
struct ChangeParams<'a> {
    price: &'a str,
    quantity: u64,
    proration: &'a str,
    now: bool,
    plan: Option<&'a str>,
}
