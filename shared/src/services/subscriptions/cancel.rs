//! Cancelling now: what a subscription owes is billed before it ends.
//!
//! 1. Its metering is closed (a fence in the table): metered records for it are refused from
//!    here on, so no unit is counted that no invoice bills.
//! 2. Every metered unit counted so far is reported to Stripe's meters; if any cannot be, the
//!    cancel is refused (503) and the metering opened again: nothing is canceled that would
//!    leave usage unbilled.
//! 3. Stripe cancels with `invoice_now`: a final invoice bills the usage and every pending
//!    invoice item of the subscription (an upgrade's proration, say), so a cancel never leaves
//!    a charge uncollected. With `CANCEL_PRORATE` the unused time is credited on it too.
//! 4. On success the fence stays (the table's record turns `canceled` through the engine); when
//!    Stripe refused the cancel, the metering opens again.

use crate::adapters::stripe::Stripe;

use super::target::{Keys, Target};
use super::{SubscriptionError, Subscriptions};

/// How long a fence holds while its cancel is under way (a process that dies midway leaves
/// the metering closed this long at most).
const CLOSING_SECS: i64 = 300;
/// A canceled subscription's fence: kept about as long as its counters.
const CLOSED_SECS: i64 = 400 * 86_400;

/// Cancels `target` now, billing what it owes first (see the module docs). Stripe's refusals
/// come back as the error (the handler takes an idempotency refusal of a retry as done).
pub async fn now(
    state: &Subscriptions<'_>,
    stripe: &Stripe,
    user: &str,
    target: &Target,
    feedback: Option<&str>,
    keys: &Keys,
) -> Result<(), SubscriptionError> {
    let subscription = target.id();
    let now = state.clock.now();
    state.store.close_metering(subscription, now + CLOSING_SECS, now).await?;
    let reported = match state.reporter()?.flush(user, &target.customer).await {
        Ok(flushed) => {
            if flushed.parked > 0 {
                crate::adapters::metrics::emit(&state.config.metrics_namespace, &[("UsageBatchesParked", flushed.parked as f64)]);
            }
            flushed.complete
        }
        Err(err) => {
            tracing::warn!(error = %crate::adapters::cause_chain(&err), "metered usage not read before the cancel");
            false
        }
    };
    let closing = now + CLOSING_SECS;
    if !reported {
        reopen(state, subscription, closing).await;
        return Err(SubscriptionError::UsageNotReported);
    }
    // No credit for unused time of a period that was never paid, nor for seats whose quota
    // (per seat) the period already granted.
    let per_seat = target
        .current
        .price_id
        .as_deref()
        .and_then(|price| state.catalog.find_price(Some(price), None))
        .is_some_and(|(plan, _)| crate::domain::plans::has_per_seat(plan));
    // Nor for a period whose collection is paused, or that began while it was.
    let uncollected = target.current.pause.is_some() || crate::domain::pause::uncollected(&target.record);
    let prorate = state.config.subscription.cancel_prorate && target.current.status != "past_due" && !per_seat && !uncollected;
    match stripe
        .cancel_subscription_now(subscription, prorate, true, feedback, &keys.step("cancel"))
        .await
    {
        Ok(_) => {
            if let Err(err) = state.store.close_metering(subscription, now + CLOSED_SECS, now).await {
                // The engine's write of `canceled` closes it too.
                tracing::warn!(error = %crate::adapters::cause_chain(&err), "the canceled subscription's metering fence was not extended");
            }
            Ok(())
        }
        Err(err) => {
            // Whether Stripe canceled is read back, not guessed from the error: a live
            // subscription meters again, a canceled one stays closed for good.
            match stripe.retrieve_subscription(subscription).await {
                Ok(Some(now_in_stripe)) if now_in_stripe.status == "canceled" => {
                    if let Err(close) = state.store.close_metering(subscription, now + CLOSED_SECS, now).await {
                        tracing::warn!(error = %crate::adapters::cause_chain(&close), "the canceled subscription's metering fence was not extended");
                    }
                }
                Ok(Some(_)) => reopen(state, subscription, closing).await,
                // Unknown: the fence lapses after CLOSING_SECS; the webhook (or reconcile)
                // records the cancel if there was one.
                _ => {}
            }
            Err(err.into())
        }
    }
}

/// Opens the metering again, only while the fence is still this request's (a concurrent cancel
/// that won keeps its own).
async fn reopen(state: &Subscriptions<'_>, subscription: &str, until: i64) {
    if let Err(err) = state.store.reopen_metering(subscription, until).await {
        tracing::warn!(error = %crate::adapters::cause_chain(&err), "metering not reopened; it lapses after {CLOSING_SECS} s");
    }
}
