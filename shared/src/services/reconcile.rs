//! Reconcile: repairs what missed or lost webhooks left behind, from Stripe's own records, through
//! the sync engine (never beside it). Run on a schedule; running it any number of times, or at
//! the same time as webhooks, changes nothing twice: an event already applied is a duplicate
//! (its marker), an older one is stale (the version guard).
//!
//! **Events** ([`Reconciler::events`]). Stripe's Events API (`GET /v1/events`, the types the
//! engine handles) is read from the stored checkpoint minus [`OVERLAP_SECS`] (events become
//! listable a little after their `created`), or, without a checkpoint, from the start of the
//! API's window ([`EVENTS_WINDOW_SECS`]: 30 days). The span is read in time slices, each listed
//! whole (newest first, as Stripe pages) and applied oldest first; a slice too busy to hold
//! ([`MAX_SLICE_EVENTS`]) is halved. Markers of a page are read in one BatchGetItem, so events
//! the webhook already applied cost no Stripe call. An event that fails (Stripe or DynamoDB down,
//! a customer not linked yet) is tried once more at the end of its slice; if it still fails, the
//! checkpoint stays before it (`created - 1`) while later events are still applied (they are
//! order-safe on their own), and the next run lists it again. A malformed event is skipped
//! deliberately: logged and counted as `ignored`. The run stops at its time budget and saves
//! the checkpoint of what it finished; the next run resumes there.
//!
//! **Snapshots** ([`Reconciler::customer`], [`Reconciler::sweep`]). Beyond the Events API's window
//! (a checkpoint older than 30 days: the function was off, or the table restored) or when asked,
//! a customer's subscriptions and active entitlements are fetched from Stripe and written through
//! the engine as fetched snapshots. The sweep pages every Stripe customer, keeps its cursor in the
//! checkpoint item and resumes from it across runs.
//!
//! Stripe's rate limits: pages of 100, one call at a time, the port's backoff on 429; a limit
//! that outlasts it ends the run (the checkpoint holds what was done).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::adapters::store::{Store, StoreError};
use crate::adapters::stripe::{GatewayError, Stripe};
use crate::domain::clock::Clock;
use crate::domain::event::Envelope;
use crate::domain::records::ReconcileState;
use crate::services::sync::{Arrival, Engine, Outcome, SyncError, handled_event_type_groups};

/// How far back Stripe's Events API lists events.
pub const EVENTS_WINDOW_SECS: i64 = 30 * 86_400;
/// Each run lists again this far before its checkpoint: events become listable after their
/// `created` (later still during Stripe incidents), and clocks differ. Listing them again is
/// cheap: their markers are read in bulk and they are not applied twice.
pub const OVERLAP_SECS: i64 = 3600;
/// The longest time slice listed (and held in memory) at once.
pub const SLICE_SECS: i64 = 86_400;
/// A slice listing more events than this is halved (down to `MIN_SLICE_SECS`).
pub const MAX_SLICE_EVENTS: usize = 2000;
/// Slices are halved down to one second; a second is listed whole however busy.
const MIN_SLICE_SECS: i64 = 1;
/// Events per page (Stripe's maximum).
const PAGE: u8 = 100;

/// What one run did: the invoke answer, and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// Events listed (with the overlap's repeats) or, for snapshots, objects fetched.
    pub events_seen: u64,
    pub applied: u64,
    pub duplicate: u64,
    pub stale: u64,
    /// Types or objects the engine leaves alone, customers not ours, unmatched or conflicting
    /// links, malformed events: marked or logged, deliberately skipped.
    pub ignored: u64,
    /// Events or objects that failed (the next run tries them again).
    pub failed: u64,
    /// The stored checkpoint after the run (Unix seconds): every event created up to it was
    /// applied or skipped.
    pub checkpoint: Option<i64>,
    /// Customers whose snapshots were fetched (snapshot runs and the sweep only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customers: Option<u64>,
    /// Whether the run covered everything it was asked to (false: the budget ran out, or Stripe
    /// could not be read; the next run resumes).
    pub complete: bool,
}

impl RunSummary {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Applied => self.applied += 1,
            Outcome::Duplicate => self.duplicate += 1,
            Outcome::Stale => self.stale += 1,
            Outcome::Ignored | Outcome::Unmatched | Outcome::Conflict => self.ignored += 1,
        }
    }

    /// The figures as CloudWatch metrics (name, count).
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("ReconcileEventsSeen", self.events_seen as f64),
            ("ReconcileApplied", self.applied as f64),
            ("ReconcileDuplicate", self.duplicate as f64),
            ("ReconcileStale", self.stale as f64),
            ("ReconcileIgnored", self.ignored as f64),
            ("ReconcileFailed", self.failed as f64),
            ("ReconcileIncomplete", if self.complete { 0.0 } else { 1.0 }),
        ]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The checkpoint could not be read or saved.
    #[error("the reconcile checkpoint could not be read or saved")]
    Store(#[from] StoreError),
    /// The customer (or user) asked for is not known.
    #[error("{0}")]
    NotFound(String),
}

/// What an event's application came to.
enum Applied {
    Done(Outcome),
    /// A malformed event: logged, skipped for good.
    Malformed,
    /// Failed, for the reason given (its cause chain).
    Failed(String),
}

/// What listing one slice came to.
enum Listed {
    /// The events not applied before (no marker), oldest first, and what the listing counted.
    Events(Vec<Envelope>, RunSummary),
    /// More than the slice limit, and the slice can still be halved.
    TooMany,
    /// The budget ran out while listing.
    OutOfTime,
}

pub struct Reconciler<'a> {
    engine: Engine<'a>,
    store: &'a Store,
    stripe: &'a Stripe,
    clock: &'a dyn Clock,
    deadline: Instant,
    max_slice_events: usize,
    settle: i64,
    livemode: Option<bool>,
}

impl<'a> Reconciler<'a> {
    pub fn new(engine: Engine<'a>, store: &'a Store, stripe: &'a Stripe, clock: &'a dyn Clock, budget: Duration) -> Self {
        Self {
            engine,
            store,
            stripe,
            clock,
            deadline: Instant::now() + budget,
            max_slice_events: MAX_SLICE_EVENTS,
            settle: 0,
            livemode: None,
        }
    }

    /// Halves slices holding more than `limit` new events (default [`MAX_SLICE_EVENTS`]).
    pub fn with_max_slice_events(mut self, limit: usize) -> Self {
        self.max_slice_events = limit.max(1);
        self
    }

    /// Leaves events younger than `seconds` to the webhook (`RECONCILE_SETTLE_SECONDS`): they
    /// are read by a later run, and a delivery in flight is not counted as drift.
    pub fn with_settle(mut self, seconds: u64) -> Self {
        self.settle = i64::try_from(seconds).unwrap_or(i64::MAX);
        self
    }

    /// Refuses events of the other mode (the webhook does the same): a base URL pointing at the
    /// wrong account must not write its events.
    pub fn with_livemode(mut self, livemode: bool) -> Self {
        self.livemode = Some(livemode);
        self
    }

    fn time_left(&self) -> bool {
        Instant::now() < self.deadline
    }

    /// The scheduled run: events since the checkpoint; when the checkpoint is older than the
    /// Events API's window, a sweep of every customer too (resumed across runs until done).
    pub async fn events(&self) -> Result<RunSummary, ReconcileError> {
        let now = self.clock.now();
        let mut state = self.store.reconcile_state().await?.unwrap_or_else(ReconcileState::new);
        let window_start = now - EVENTS_WINDOW_SECS;
        if state.checkpoint.is_some_and(|c| c < window_start) && state.sweep_after.is_none() {
            tracing::warn!(
                checkpoint = state.checkpoint,
                "checkpoint older than the events api's window: every customer is fetched again"
            );
            state.sweep_after = Some(String::new());
        }
        let from = state.checkpoint.map_or(window_start, |c| (c - OVERLAP_SECS).max(window_start));
        // Without a settle time the newest slice is open-ended: Stripe's clock may run ahead.
        let (target, open_ended) = if self.settle > 0 { (now - self.settle, false) } else { (now, true) };
        let mut summary = RunSummary::default();
        let mut complete = self.events_since(&mut state, from, target, open_ended, &mut summary).await?;
        if state.sweep_after.is_some() {
            complete &= self.sweep_from(&mut state, &mut summary).await?;
        }
        state.updated_at = self.clock.now();
        self.store.save_reconcile_state(&state).await?;
        summary.checkpoint = state.checkpoint;
        summary.complete = complete;
        Ok(summary)
    }

    /// Lists and applies the events created in `(from, target]` slice by slice, saving the
    /// checkpoint after each. Returns whether everything was applied or skipped.
    async fn events_since(
        &self,
        state: &mut ReconcileState,
        from: i64,
        target: i64,
        open_ended: bool,
        summary: &mut RunSummary,
    ) -> Result<bool, ReconcileError> {
        let groups = handled_event_type_groups();
        let mut start = from;
        let mut span = SLICE_SECS;
        // Just before the oldest event that failed: the checkpoint never passes it.
        let mut held: Option<i64> = None;
        while start < target {
            if !self.time_left() {
                tracing::warn!(reached = start, "reconcile budget spent; the next run resumes");
                return Ok(false);
            }
            let bounded = start + span < target;
            let slice_end = if bounded { start + span } else { target };
            let until = (bounded || !open_ended).then_some(slice_end);
            let (events, listed) = match self.list_slice(&groups, start, until, slice_end).await {
                Ok(Listed::Events(events, listed)) => (events, listed),
                Ok(Listed::TooMany) => {
                    span = (span / 2).max(MIN_SLICE_SECS);
                    continue;
                }
                Ok(Listed::OutOfTime) => {
                    tracing::warn!(reached = start, "reconcile budget spent while listing; the next run resumes");
                    return Ok(false);
                }
                Err(err) => {
                    tracing::error!(error = %crate::adapters::cause_chain(&err), from = start, "stripe's events could not be listed; the next run resumes");
                    return Ok(false);
                }
            };
            summary.events_seen += listed.events_seen;
            summary.duplicate += listed.duplicate;
            summary.ignored += listed.ignored;
            let (unfinished, failed) = self.apply_slice(&events, summary).await;
            if let Some(failed) = failed {
                held = Some(held.map_or(failed - 1, |h| h.min(failed - 1)));
            }
            let done = unfinished.map_or(slice_end, |created| created - 1);
            state.checkpoint = Some(held.map_or(done, |h| h.min(done)));
            state.updated_at = self.clock.now();
            self.store.save_reconcile_state(state).await?;
            if unfinished.is_some() {
                tracing::warn!(reached = done, "reconcile budget spent; the next run resumes");
                return Ok(false);
            }
            start = slice_end;
            span = (span * 2).min(SLICE_SECS);
        }
        Ok(held.is_none())
    }

    /// The events created in `(after, until]` (no upper bound without `until`) of every type
    /// group, less those already applied (their markers are read page by page, so only new
    /// events are held in memory), oldest first.
    async fn list_slice(&self, groups: &[Vec<&str>], after: i64, until: Option<i64>, end: i64) -> Result<Listed, GatewayError> {
        let mut kept: Vec<Envelope> = Vec::new();
        let mut listed = RunSummary::default();
        for types in groups {
            let mut cursor: Option<String> = None;
            loop {
                if !self.time_left() {
                    return Ok(Listed::OutOfTime);
                }
                let page = self.stripe.list_events(types, after, until, cursor.as_deref(), PAGE).await?;
                listed.events_seen += (page.events.len() + page.malformed.len()) as u64;
                for id in &page.malformed {
                    tracing::error!(event = %id, "malformed event skipped");
                    listed.ignored += 1;
                }
                let ids: Vec<&str> = page.events.iter().map(|e| e.id.as_str()).collect();
                let marked = match self.store.event_markers(&ids).await {
                    Ok(marked) => marked,
                    // The engine's own marker condition still holds: only the shortcut is lost.
                    Err(err) => {
                        tracing::warn!(error = %crate::adapters::cause_chain(&err), "event markers could not be read");
                        HashSet::new()
                    }
                };
                listed.duplicate += marked.len() as u64;
                kept.extend(page.events.into_iter().filter(|e| !marked.contains(&e.id)));
                if kept.len() > self.max_slice_events && end - after > MIN_SLICE_SECS {
                    return Ok(Listed::TooMany);
                }
                match (page.has_more, page.last_id) {
                    (true, Some(last)) => cursor = Some(last),
                    _ => break,
                }
            }
        }
        // Each group's pages come oldest first; the groups interleave by time. Events of the
        // same second cannot be ordered by their payloads anyway (the engine fetches then).
        kept.sort_by_key(|e| e.created);
        Ok(Listed::Events(kept, listed))
    }

    /// Applies a slice's new events (oldest first). Returns the `created` of the first event
    /// left undone when the budget ran out, and the `created` of the oldest event that failed.
    async fn apply_slice(&self, events: &[Envelope], summary: &mut RunSummary) -> (Option<i64>, Option<i64>) {
        let mut retry: Vec<&Envelope> = Vec::new();
        let mut unfinished = None;
        for event in events {
            if !self.time_left() {
                unfinished = Some(event.created);
                break;
            }
            match self.apply(event).await {
                Applied::Done(outcome) => summary.count(outcome),
                Applied::Malformed => summary.ignored += 1,
                Applied::Failed(_) => retry.push(event),
            }
        }
        // Once more, after the rest of the slice: a customer's link may have come later in it.
        let mut failed = None;
        for event in retry {
            let reason = if self.time_left() {
                match self.apply(event).await {
                    Applied::Done(outcome) => {
                        summary.count(outcome);
                        continue;
                    }
                    Applied::Malformed => {
                        summary.ignored += 1;
                        continue;
                    }
                    Applied::Failed(reason) => reason,
                }
            } else {
                "not retried: the budget ran out".to_owned()
            };
            tracing::error!(event = %event.id, event_type = %event.event_type, created = event.created, error = %reason, "event failed; the checkpoint stays before it");
            summary.failed += 1;
            failed = Some(failed.map_or(event.created, |f: i64| f.min(event.created)));
        }
        (unfinished, failed)
    }

    async fn apply(&self, event: &Envelope) -> Applied {
        if let Some(expected) = self.livemode.filter(|expected| *expected != event.livemode) {
            return Applied::Failed(format!("event livemode {} but the configured key's is {expected}", event.livemode));
        }
        match self.engine.apply(event).await {
            Ok(outcome) => {
                tracing::info!(event = %event.id, event_type = %event.event_type, outcome = outcome.as_str(), "reconciled");
                Applied::Done(outcome)
            }
            Err(SyncError::Shape { kind, what }) => {
                tracing::error!(event = %event.id, %kind, what, "malformed event skipped");
                Applied::Malformed
            }
            Err(err) => Applied::Failed(crate::adapters::cause_chain(&err)),
        }
    }

    /// Fetches one customer's subscriptions and active entitlements from Stripe and stores them
    /// through the engine.
    pub async fn customer(&self, customer_id: &str) -> Result<RunSummary, ReconcileError> {
        let mut summary = RunSummary {
            customers: Some(0),
            ..RunSummary::default()
        };
        match self.stripe.retrieve_customer(customer_id).await {
            Ok(Some(customer)) if !customer.deleted => self.snapshot(customer_id, &mut summary).await,
            // Deleted in Stripe (or never there) but linked here: its subscriptions as Stripe
            // has them now (deleting a customer cancels them), then the engine removes the
            // link, as `customer.deleted` would.
            Ok(_) if let Some(owner) = self.store.customer_owner(customer_id).await? => {
                let items = self.store.user_items(&owner).await?;
                for record in items.subscriptions.iter().filter(|s| s.customer_id == customer_id) {
                    let arrival = Arrival::Subscription {
                        user_id: owner.clone(),
                        subscription_id: record.subscription_id.clone(),
                    };
                    self.apply_arrival(customer_id, arrival, &mut summary).await;
                }
                let arrival = Arrival::Customer {
                    customer_id: customer_id.to_owned(),
                };
                self.apply_arrival(customer_id, arrival, &mut summary).await;
            }
            Ok(_) => {
                return Err(ReconcileError::NotFound(format!(
                    "no customer {customer_id} in stripe or in the table"
                )));
            }
            Err(err) => self.failed(&mut summary, customer_id, &err),
        }
        summary.complete = summary.failed == 0;
        summary.checkpoint = self.store.reconcile_state().await?.and_then(|s| s.checkpoint);
        Ok(summary)
    }

    /// [`Reconciler::customer`] for the customer linked to `user_id`.
    pub async fn user(&self, user_id: &str) -> Result<RunSummary, ReconcileError> {
        let items = self.store.user_items(user_id).await?;
        match items.customer {
            Some(link) => self.customer(&link.customer_id).await,
            None => Err(ReconcileError::NotFound(format!("no stripe customer is linked to user {user_id}"))),
        }
    }

    /// Every Stripe customer, from the stored sweep cursor (or the start), until done or out of
    /// time.
    pub async fn sweep(&self) -> Result<RunSummary, ReconcileError> {
        let mut state = self.store.reconcile_state().await?.unwrap_or_else(ReconcileState::new);
        if state.sweep_after.is_none() {
            state.sweep_after = Some(String::new());
        }
        let mut summary = RunSummary::default();
        summary.complete = self.sweep_from(&mut state, &mut summary).await?;
        state.updated_at = self.clock.now();
        self.store.save_reconcile_state(&state).await?;
        summary.checkpoint = state.checkpoint;
        Ok(summary)
    }

    /// Continues the sweep `state` holds; saves its cursor after each page. Returns whether it
    /// finished.
    async fn sweep_from(&self, state: &mut ReconcileState, summary: &mut RunSummary) -> Result<bool, ReconcileError> {
        summary.customers.get_or_insert(0);
        while let Some(after) = state.sweep_after.clone() {
            if !self.time_left() {
                return Ok(false);
            }
            let cursor = (!after.is_empty()).then_some(after.as_str());
            let page = match self.stripe.list_customers(cursor, PAGE).await {
                Ok(page) => page,
                Err(err) => {
                    tracing::error!(error = %crate::adapters::cause_chain(&err), "stripe customers could not be listed; the sweep resumes next run");
                    return Ok(false);
                }
            };
            for (index, customer) in page.customers.iter().enumerate() {
                if !self.time_left() {
                    // Resume at this customer: the cursor is the one before it.
                    state.sweep_after = Some(match index {
                        0 => after.clone(),
                        _ => page.customers[index - 1].id.clone(),
                    });
                    self.store.save_reconcile_state(state).await?;
                    return Ok(false);
                }
                self.snapshot(&customer.id, summary).await;
            }
            state.sweep_after = match (page.has_more, page.customers.last()) {
                (true, Some(last)) => Some(last.id.clone()),
                _ => None,
            };
            self.store.save_reconcile_state(state).await?;
        }
        Ok(summary.failed == 0)
    }

    /// One customer's subscriptions and entitlements, fetched and stored through the engine.
    async fn snapshot(&self, customer_id: &str, summary: &mut RunSummary) {
        *summary.customers.get_or_insert(0) += 1;
        let owner = match self.store.customer_owner(customer_id).await {
            Ok(owner) => owner,
            Err(err) => return self.failed(summary, customer_id, &err),
        };
        let subscriptions = match self.stripe.list_subscriptions(customer_id).await {
            Ok(subscriptions) => subscriptions,
            Err(err) => return self.failed(summary, customer_id, &err),
        };
        summary.events_seen += subscriptions.len() as u64;
        // The stored link is the authority; without one, the subscription's own metadata names
        // the user, as it does for the subscription's events (on the platform account, where
        // the metadata is this service's).
        for subscription in &subscriptions {
            let user = owner
                .clone()
                .or_else(|| subscription.metadata_user_id.clone().filter(|u| !u.is_empty()));
            let Some(user) = user else {
                tracing::info!(customer = customer_id, subscription = %subscription.subscription_id, "no link and no metadata of this service; ignored");
                summary.ignored += 1;
                continue;
            };
            let arrival = Arrival::Subscription {
                user_id: user,
                subscription_id: subscription.subscription_id.clone(),
            };
            self.apply_arrival(customer_id, arrival, summary).await;
        }
        // A user's entitlements record is their linked customer's: never written from a customer
        // only metadata points at (it would replace the linked one's features).
        if let Some(user_id) = owner {
            let arrival = Arrival::Entitlements {
                user_id,
                customer_id: customer_id.to_owned(),
            };
            self.apply_arrival(customer_id, arrival, summary).await;
        }
    }

    async fn apply_arrival(&self, customer_id: &str, arrival: Arrival<'_>, summary: &mut RunSummary) {
        match self.engine.apply(arrival).await {
            Ok(outcome) => summary.count(outcome),
            Err(err) => self.failed(summary, customer_id, &err),
        }
    }

    fn failed(&self, summary: &mut RunSummary, customer_id: &str, err: &(dyn std::error::Error + 'static)) {
        tracing::error!(customer = customer_id, error = %crate::adapters::cause_chain(err), "customer snapshot failed");
        summary.failed += 1;
    }
}
