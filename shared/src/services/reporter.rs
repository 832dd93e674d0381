//! Metered usage to Stripe's meters, exactly once in effect, from a scheduled run (never the
//! request path).
//!
//! 1. Batches sealed by an earlier run and not sent (it crashed, or Stripe failed) are sent
//!    again with their identifier: Stripe refuses an identifier it already recorded, which the
//!    reporter takes as sent.
//! 2. Each counter with metered units not reported yet is *sealed*: in ONE transaction the
//!    counter's `reported` moves to its `metered` count and a batch holding the difference is
//!    written with a fixed identifier. Then the batch is sent as one meter event and marked sent.
//!
//! A crash between sealing and sending leaves a sealed batch (step 1 of the next run); a crash
//! after sending but before marking resends the same identifier. Each batch gets one attempt
//! per run (the schedule is the retry), several in flight at once, and an item that fails never
//! stops the run. Stripe calls per run grow with the counters that moved (customers × features),
//! not with the records. Only what Stripe refuses for good (a timestamp outside its window, a
//! deleted customer) is marked `rejected`: logged and counted, never dropped silently; anything
//! else stays for the next run.
//!
//! The whole queue is read each run, oldest first ([`crate::adapters::store`]'s queue), so a
//! batch that keeps failing cannot hold back the rest. Two things take a batch out of the queue
//! for review (*parked*: kept, logged, counted in `parked`, alarmed), never retried for ever:
//!
//! - Stripe refused it (a 4xx other than the final refusals above: a meter deactivated, say) in
//!   [`MAX_REFUSALS`] runs.
//! - Stripe remembers a meter event's identifier for 24 hours only: a resend after that would
//!   count the units again if the first send was recorded and its answer lost. A batch first
//!   sent more than [`DEDUPE_SAFE_SECS`] ago is resent only when the meter's event summary for
//!   the customer shows nothing recorded in the batch's minute; otherwise it is parked. A unit is
//!   never billed twice.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::adapters::store::{QUEUE_READ_CAP, Store, StoreError};
use crate::adapters::stripe::{GatewayError, Stripe, idempotency_key};
use crate::domain::clock::Clock;
use crate::domain::records::{UsageBatch, UsageCounter, keys};

/// Stripe accepts meter events up to this old.
pub const METER_EVENT_MAX_AGE_SECS: i64 = 35 * 86_400;
/// How long after a period ends Stripe still adds usage to its invoice (the renewal invoice is
/// finalized about an hour after the period ends): a batch sent later is counted as late.
pub const INVOICE_GRACE_SECS: i64 = 3600;
/// Runs in which Stripe refused a batch before it is parked for review.
pub const MAX_REFUSALS: u32 = 10;
/// A batch first sent longer ago than this may be past Stripe's 24-hour identifier window by
/// the time it arrives: it is resent only when the meter's summary shows it was not recorded.
pub const DEDUPE_SAFE_SECS: i64 = 23 * 3600;
/// Batches in flight at once.
const IN_FLIGHT: usize = 8;

/// What one run did (the invoke answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// Meter events Stripe accepted (or had already recorded).
    pub sent: u64,
    /// Units in them.
    pub units: u64,
    /// Counters and batches left for the next run (the time budget ran out, a concurrent record).
    pub pending: u64,
    /// Batches that failed and stay for the next run.
    pub failed: u64,
    /// Units Stripe refused for good (outside its time window, a deleted customer): logged,
    /// marked `rejected`.
    pub rejected_units: u64,
    /// Units sent after their period's invoice was probably finalized (Stripe records them; the
    /// invoice may not show them).
    pub late_units: u64,
    /// Batches taken out of the queue for review in this run.
    pub parked: u64,
}

impl RunSummary {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Sent { units, late } => {
                self.sent += 1;
                self.units += units;
                if late {
                    self.late_units += units;
                }
            }
            Outcome::Failed => self.failed += 1,
            Outcome::Rejected { units } => self.rejected_units += units,
            Outcome::Pending => self.pending += 1,
            Outcome::Parked => self.parked += 1,
            Outcome::Nothing => {}
        }
    }
}

/// What a flush before a cancel achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Every metered unit of the customer reached Stripe (or was refused by it for good).
    pub complete: bool,
    /// Batches parked for review on the way.
    pub parked: u64,
}

/// What became of one queue item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent { units: u64, late: bool },
    Failed,
    Rejected { units: u64 },
    Pending,
    Parked,
    Nothing,
}

pub struct Reporter<'a> {
    store: &'a Store,
    stripe: &'a Stripe,
    clock: &'a dyn Clock,
    budget: Duration,
}

impl<'a> Reporter<'a> {
    pub fn new(store: &'a Store, stripe: &'a Stripe, clock: &'a dyn Clock, budget: Duration) -> Self {
        Self {
            store,
            stripe,
            clock,
            budget,
        }
    }

    /// One run. Fails only when the queue itself cannot be read.
    pub async fn run(&self) -> Result<RunSummary, StoreError> {
        let deadline = Instant::now() + self.budget;
        let mut summary = RunSummary::default();
        let sealed = self.store.sealed_batches(QUEUE_READ_CAP).await?;
        let outcomes: Vec<Outcome> = futures_util::stream::iter(sealed.iter())
            .map(|batch| async move {
                if Instant::now() >= deadline {
                    return Outcome::Pending;
                }
                self.send(batch).await
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        outcomes.into_iter().for_each(|o| summary.add(o));

        let counters = self.store.pending_counters(QUEUE_READ_CAP).await?;
        let outcomes: Vec<Outcome> = futures_util::stream::iter(counters.iter())
            .map(|counter| async move {
                if Instant::now() >= deadline {
                    return Outcome::Pending;
                }
                self.report(counter).await
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        outcomes.into_iter().for_each(|o| summary.add(o));
        Ok(summary)
    }

    /// Reports now every metered unit of `user` billed to `customer` that Stripe does not have
    /// yet (before a cancel now: Stripe bills on the final invoice the usage it has). Sealed
    /// batches of the customer are sent first, then the user's counters. Complete only when,
    /// read again consistently, every counter billed to the customer has all its metered units
    /// sealed and every sealed unit settled (sent, or refused by Stripe for good): a batch a
    /// concurrent run sealed and has not sent yet, or one parked for review, leaves it
    /// incomplete.
    pub async fn flush(&self, user: &str, customer: &str) -> Result<Flushed, StoreError> {
        let mut summary = RunSummary::default();
        for batch in self.store.sealed_batches(QUEUE_READ_CAP).await? {
            if batch.customer_id == customer {
                summary.add(self.send(&batch).await);
            }
        }
        let counters = self.store.user_items_consistent(user).await?.usage;
        for counter in counters.iter().filter(|c| Self::billed_to(c, customer) && c.metered > c.reported) {
            summary.add(self.report(counter).await);
        }
        let unsettled: u64 = self
            .store
            .user_items_consistent(user)
            .await?
            .usage
            .iter()
            .filter(|c| Self::billed_to(c, customer))
            .map(|c| (c.metered - c.reported.min(c.metered)) + c.settled.map_or(0, |s| c.reported.saturating_sub(s)))
            .sum();
        if unsettled > 0 {
            tracing::warn!(
                user,
                customer,
                unsettled,
                failed = summary.failed,
                parked = summary.parked,
                "metered usage not all reported"
            );
        }
        Ok(Flushed {
            complete: unsettled == 0,
            parked: summary.parked,
        })
    }

    fn billed_to(counter: &UsageCounter, customer: &str) -> bool {
        counter.meter.is_some() && counter.customer_id.as_deref() == Some(customer)
    }

    /// Seals and sends a counter's unreported metered units.
    async fn report(&self, counter: &UsageCounter) -> Outcome {
        let result: Result<Outcome, StoreError> = async {
            if counter.metered <= counter.reported {
                self.store.retire_counter(counter).await?;
                return Ok(Outcome::Nothing);
            }
            let Some(batch) = self.seal(counter) else {
                return Ok(Outcome::Nothing);
            };
            if !self.store.seal_batch(&batch).await? {
                // Another run sealed it first, or a record came in between: next run.
                return Ok(Outcome::Pending);
            }
            let outcome = self.send(&batch).await;
            // Out of the queue now unless metered units were counted meanwhile.
            self.store.retire_counter(counter).await?;
            Ok(outcome)
        }
        .await;
        result.unwrap_or_else(|err| {
            tracing::warn!(counter = %counter.sk, user = %counter.user_id(), error = %crate::adapters::cause_chain(&err), "usage counter not reported; next run");
            Outcome::Failed
        })
    }

    /// The batch of a counter's unreported metered units, with its fixed identifier and a
    /// timestamp inside the counter's period and never ahead of now (Stripe bills an event in
    /// the period of its timestamp, and refuses one from the future).
    fn seal(&self, counter: &UsageCounter) -> Option<UsageBatch> {
        let (meter, customer) = (counter.meter.clone()?, counter.customer_id.clone()?);
        let now = self.clock.now();
        let (from, to) = (counter.reported.to_string(), counter.metered.to_string());
        let identifier = idempotency_key("usage", &[&counter.pk, &counter.sk, &from, &to]);
        Some(UsageBatch {
            pk: keys::batch(&identifier),
            sk: keys::SK_BATCH.into(),
            identifier,
            counter_pk: counter.pk.clone(),
            counter_sk: counter.sk.clone(),
            customer_id: customer,
            meter,
            from: counter.reported,
            to: counter.metered,
            timestamp: now.min(counter.period_end - 1).max(counter.period_start).min(now),
            period_end: counter.period_end,
            state: "sealed".into(),
            report: Some(keys::REPORT_SEALED.into()),
            created_at: now,
            refusals: 0,
            parked_reason: None,
            requeued_at: None,
            expires_at: None,
        })
    }

    async fn send(&self, batch: &UsageBatch) -> Outcome {
        let now = self.clock.now();
        if now - batch.requeued_at.unwrap_or(batch.created_at) > DEDUPE_SAFE_SECS {
            match self.recorded_meanwhile(batch).await {
                Ok(0) => tracing::info!(identifier = %batch.identifier, "an old batch Stripe has no units of in its minute: sent again"),
                Ok(found) => {
                    return self
                        .park(
                            batch,
                            &format!("first sent over 23 h ago; Stripe's meter shows {found} units in its minute: it may have it"),
                            now,
                        )
                        .await;
                }
                Err(err) => {
                    tracing::warn!(identifier = %batch.identifier, error = %crate::adapters::cause_chain(&err), "meter summary unavailable; next run");
                    return Outcome::Failed;
                }
            }
        }
        let result = self
            .stripe
            .create_meter_event(&batch.meter, &batch.customer_id, batch.value(), batch.timestamp, &batch.identifier)
            .await;
        let settle = |state: &'static str| async move {
            if let Err(err) = self.store.settle_batch(batch, state, now).await {
                // Sent (or refused) but still queued: the next run sends it again, and Stripe
                // refuses the identifier it has, which counts as sent.
                tracing::warn!(identifier = %batch.identifier, error = %crate::adapters::cause_chain(&err), "batch not marked; next run");
            }
        };
        match result {
            Ok(()) => {
                settle("sent").await;
                let late = batch.period_end > 0 && now > batch.period_end + INVOICE_GRACE_SECS;
                if late {
                    tracing::warn!(identifier = %batch.identifier, units = batch.value(), timestamp = batch.timestamp, "usage sent after its period's invoice was likely finalized");
                }
                tracing::info!(identifier = %batch.identifier, meter = %batch.meter, customer = %batch.customer_id, units = batch.value(), "usage reported");
                Outcome::Sent {
                    units: batch.value(),
                    late,
                }
            }
            Err(err) => match Refusal::of(&err) {
                Refusal::AlreadyRecorded => {
                    settle("sent").await;
                    tracing::info!(identifier = %batch.identifier, "usage already recorded by Stripe (an earlier attempt's answer was lost)");
                    Outcome::Sent {
                        units: batch.value(),
                        late: false,
                    }
                }
                Refusal::ForGood => {
                    tracing::error!(
                        identifier = %batch.identifier,
                        meter = %batch.meter,
                        customer = %batch.customer_id,
                        units = batch.value(),
                        timestamp = batch.timestamp,
                        error = %crate::adapters::cause_chain(&err),
                        "usage refused by Stripe for good; not billed"
                    );
                    settle("rejected").await;
                    Outcome::Rejected { units: batch.value() }
                }
                Refusal::Refused => {
                    let refusals = self.store.note_refusal(batch).await.unwrap_or(0);
                    tracing::warn!(identifier = %batch.identifier, refusals, error = %crate::adapters::cause_chain(&err), "usage refused by Stripe; kept for the next run");
                    if refusals >= MAX_REFUSALS {
                        return self.park(batch, &format!("refused by Stripe in {refusals} runs: {err}"), now).await;
                    }
                    Outcome::Failed
                }
                Refusal::Retry => {
                    tracing::warn!(identifier = %batch.identifier, error = %crate::adapters::cause_chain(&err), "usage not reported; kept for the next run");
                    Outcome::Failed
                }
            },
        }
    }

    /// The units Stripe's meter recorded for the batch's customer in the minute of its
    /// timestamp.
    async fn recorded_meanwhile(&self, batch: &UsageBatch) -> Result<i64, crate::adapters::stripe::GatewayError> {
        let Some(meter) = self.stripe.meter_id(&batch.meter).await? else {
            return Err(crate::adapters::stripe::GatewayError::NotFound { what: "meter" });
        };
        let minute = batch.timestamp.div_euclid(60) * 60;
        self.stripe.meter_usage(&meter, &batch.customer_id, minute, minute + 60).await
    }

    async fn park(&self, batch: &UsageBatch, reason: &str, now: i64) -> Outcome {
        tracing::error!(
            identifier = %batch.identifier,
            meter = %batch.meter,
            customer = %batch.customer_id,
            units = batch.value(),
            reason,
            "usage batch parked for review: it will not be sent again unless requeued (devtool usage-batches)"
        );
        match self.store.park_batch(batch, reason, now).await {
            Ok(()) => Outcome::Parked,
            Err(err) => {
                tracing::warn!(identifier = %batch.identifier, error = %crate::adapters::cause_chain(&err), "batch not parked; next run");
                Outcome::Failed
            }
        }
    }
}

/// How a refused meter event is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Stripe has an event with this identifier: the batch was sent before.
    AlreadyRecorded,
    /// Outside Stripe's time window, or the customer is gone: it never will be accepted.
    ForGood,
    /// Another refusal of the request (a meter deactivated, say): retried, and parked after
    /// [`MAX_REFUSALS`] runs.
    Refused,
    /// Anything else (the key refused, a rate limit, Stripe down): the next run tries again,
    /// however long it takes.
    Retry,
}

impl Refusal {
    fn of(err: &GatewayError) -> Self {
        match err {
            GatewayError::Rejected {
                param: Some(param),
                message,
                ..
            } if param == "identifier" && message.contains("already exists") => Refusal::AlreadyRecorded,
            GatewayError::Rejected { param: Some(param), .. } if param == "timestamp" => Refusal::ForGood,
            GatewayError::Rejected {
                code: Some(code),
                param: Some(param),
                ..
            } if code == "resource_missing" && param.starts_with("payload[") => Refusal::ForGood,
            // 401/403: a key problem is the deployment's, not the batch's.
            GatewayError::Rejected { status, .. } if !matches!(status, 401 | 403) => Refusal::Refused,
            _ => Refusal::Retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(param: &str, code: Option<&str>, message: &str) -> GatewayError {
        GatewayError::Rejected {
            operation: "create_meter_event",
            status: 400,
            code: code.map(str::to_owned),
            param: Some(param.into()),
            message: message.into(),
        }
    }

    #[test]
    fn only_what_stripe_never_takes_is_rejected() {
        assert_eq!(
            Refusal::of(&rejected("identifier", None, "An event already exists with identifier usage-1.")),
            Refusal::AlreadyRecorded
        );
        assert_eq!(Refusal::of(&rejected("timestamp", None, "too old")), Refusal::ForGood);
        assert_eq!(
            Refusal::of(&rejected(
                "payload[stripe_customer_id]",
                Some("resource_missing"),
                "No such customer"
            )),
            Refusal::ForGood
        );
        assert_eq!(Refusal::of(&rejected("event_name", None, "No active meter")), Refusal::Refused);
        let unauthorized = GatewayError::Rejected {
            operation: "create_meter_event",
            status: 401,
            code: None,
            param: None,
            message: "Invalid API Key".into(),
        };
        assert_eq!(Refusal::of(&unauthorized), Refusal::Retry);
        assert_eq!(Refusal::of(&GatewayError::NotFound { what: "meter" }), Refusal::Retry);
        assert_eq!(Refusal::of(&GatewayError::NotConfigured), Refusal::Retry);
    }
}
