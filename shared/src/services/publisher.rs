//! The publisher: domain events from the outbox to the EventBridge bus, at least once, in order
//! per customer.
//!
//! One run reads the outbox (one Query, key order: customer, then version), then works in
//! rounds: each round takes the head of every customer's queue and puts them, ten to a
//! `PutEvents`. A published item is deleted; a refused one counts an attempt and holds its
//! customer's later events until the next run, so a customer's events leave in version order;
//! other customers go on. A refusal that is EventBridge's trouble (unreachable, throttled,
//! failing inside) is retried without end; after [`OUTBOX_MAX_ATTEMPTS`] refusals of the event
//! itself an item is parked (`OUTBOX#PARKED`, metric `DomainEventsParked`, alarmed) and its
//! customer goes on.
//!
//! **At least once, never invented.** An item exists only when the change that made it
//! committed (same transaction). It is deleted only after EventBridge took it; a crash between
//! the two puts it again with the same `id`, which consumers deduplicate on.
//!
//! **Access checks** ([`AccessCheck`]): the head may be a request to decide the user's features
//! again. The publisher reads the user's items (one Query), decides, and compares with the set
//! it last published (`ACCESS`); when they differ it puts `entitlements.changed`, then saves
//! the new set. A check with a later check of the same user queued behind it is dropped: the
//! later one decides from the same state, with the later cause. A `past_due` grace period that
//! runs out changes access with no Stripe event: the engine leaves a check due at its end
//! (`OUTBOX#LATER`), which each run releases into the outbox once due.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::adapters::bus::{Bus, BusError, Entry, PUT_EVENTS_MAX};
use crate::adapters::store::{OUTBOX_READ_CAP, Store, StoreError};
use crate::domain::access::{AccessPolicy, decide};
use crate::domain::clock::Clock;
use crate::domain::events::{AccessCheck, entitlements_changed};
use crate::domain::plans::Catalog;
use crate::domain::records::{ACCESS_CHECK_KIND, AccessSnapshot, OUTBOX_MAX_ATTEMPTS, OutboxRecord, UserItems};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("the event bus failed")]
    Bus(#[from] BusError),
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PublishSummary {
    /// Domain events EventBridge took.
    pub published: usize,
    /// Access checks that found the user's features unchanged.
    pub unchanged: usize,
    /// Puts EventBridge refused (counted as attempts; retried next run).
    pub refused: usize,
    /// Items parked after too many refusals.
    pub parked: usize,
    /// Items left for the next run (held behind a refusal, or past the budget or the read cap).
    pub left: usize,
    /// Age in seconds of the oldest item read (0: none).
    pub oldest_age_secs: i64,
    /// `PutEvents` requests made.
    pub put_requests: usize,
}

/// The publisher, borrowing the process's parts.
#[derive(Clone, Copy)]
pub struct Publisher<'a> {
    store: &'a Store,
    bus: &'a Bus,
    catalog: &'a Catalog,
    policy: &'a AccessPolicy,
    clock: &'a dyn Clock,
    budget: Duration,
}

/// The code of a whole `PutEvents` request that failed.
const REQUEST_FAILED: &str = "RequestFailed";

/// Whether a refusal is EventBridge's trouble rather than the event's: retried without counting.
fn retryable(code: &str) -> bool {
    matches!(
        code,
        REQUEST_FAILED | "ThrottlingException" | "InternalFailure" | "InternalException" | "ServiceUnavailable"
    )
}

/// The user of an access check item.
fn check_user(record: &OutboxRecord) -> Option<String> {
    (record.kind == ACCESS_CHECK_KIND)
        .then(|| serde_json::from_str::<AccessCheck>(&record.detail).ok().map(|c| c.user_id))
        .flatten()
}

/// Whether the head of `queue` is an access check that a later check of the same user, still
/// queued, makes pointless: that one decides from the same state, with the later cause.
fn superseded(queue: &VecDeque<OutboxRecord>) -> bool {
    let Some(user) = queue.front().and_then(check_user) else {
        return false;
    };
    queue.iter().skip(1).any(|r| check_user(r).as_deref() == Some(user.as_str()))
}

/// One head of a customer's queue, ready to put.
struct Ready {
    queue: usize,
    detail_type: String,
    detail: String,
    /// For an access check that found a change: the set to save once published.
    snapshot: Option<AccessSnapshot>,
}

impl<'a> Publisher<'a> {
    pub fn new(
        store: &'a Store,
        bus: &'a Bus,
        catalog: &'a Catalog,
        policy: &'a AccessPolicy,
        clock: &'a dyn Clock,
        budget: Duration,
    ) -> Self {
        Self {
            store,
            bus,
            catalog,
            policy,
            clock,
            budget,
        }
    }

    /// Publishes what the outbox holds, until it is empty, everything left is held, or the
    /// budget is spent. Fails only when the store fails; refusals are counted in the summary.
    pub async fn run(&self) -> Result<PublishSummary, PublishError> {
        let deadline = Instant::now() + self.budget;
        let now = self.clock.now();
        // Grace periods that ran out since: their access checks join the outbox now.
        let grace = i64::try_from(self.policy.past_due_grace.as_secs()).unwrap_or(i64::MAX);
        self.store.release_due_checks(now.saturating_sub(grace)).await?;
        let items = self.store.outbox(OUTBOX_READ_CAP).await?;
        let mut summary = PublishSummary {
            oldest_age_secs: items.iter().map(|i| now - i.created).max().unwrap_or(0).max(0),
            ..PublishSummary::default()
        };
        let mut queues: Vec<VecDeque<OutboxRecord>> = Vec::new();
        for item in items {
            match queues.last_mut() {
                Some(queue) if queue.front().is_some_and(|f| f.order_key == item.order_key) => queue.push_back(item),
                _ => queues.push(VecDeque::from([item])),
            }
        }
        let mut held = vec![false; queues.len()];
        while Instant::now() < deadline {
            let mut ready = Vec::new();
            for (i, queue) in queues.iter_mut().enumerate() {
                if held[i] {
                    continue;
                }
                while let Some(head) = queue.front() {
                    if superseded(queue) {
                        // A later check of the same user decides the same question with more.
                        self.store.outbox_published(&[head]).await?;
                        summary.unchanged += 1;
                        queue.pop_front();
                        continue;
                    }
                    match self.prepare(i, head).await? {
                        Some(r) => {
                            ready.push(r);
                            break;
                        }
                        None => {
                            // An access check that found nothing new: done.
                            self.store.outbox_published(&[head]).await?;
                            summary.unchanged += 1;
                            queue.pop_front();
                        }
                    }
                }
            }
            if ready.is_empty() {
                break;
            }
            for chunk in ready.chunks(PUT_EVENTS_MAX) {
                self.put_chunk(chunk, &mut queues, &mut held, &mut summary).await?;
            }
        }
        summary.left = queues.iter().map(VecDeque::len).sum();
        Ok(summary)
    }

    /// What to put for the head of queue `queue`; `None` for an access check with no change.
    async fn prepare(&self, queue: usize, head: &OutboxRecord) -> Result<Option<Ready>, PublishError> {
        if head.kind != ACCESS_CHECK_KIND {
            return Ok(Some(Ready {
                queue,
                detail_type: head.kind.clone(),
                detail: head.detail.clone(),
                snapshot: None,
            }));
        }
        let Ok(check) = serde_json::from_str::<AccessCheck>(&head.detail) else {
            tracing::error!(id = %head.id, "unreadable access check in the outbox; dropped");
            return Ok(None);
        };
        let items = self.store.user_items_consistent(&check.user_id).await?;
        // A check queued before the user had a customer (a support grant to a free-plan user)
        // names the customer they have when it is published.
        let mut check = check;
        if check.customer_id.is_empty()
            && let Some(link) = &items.customer
        {
            check.customer_id = link.customer_id.clone();
        }
        let now = self.clock.now();
        let access = decide(self.catalog, &items, now, self.policy);
        let before = match &items.access {
            Some(snapshot) => snapshot.features.clone(),
            // Nothing published yet: what a user without subscriptions has.
            None => decide(self.catalog, &UserItems::default(), now, self.policy).features,
        };
        let after: BTreeSet<String> = access.features.clone();
        let status = access.status.as_str();
        Ok(
            entitlements_changed(&check, access.plan.clone(), status, &before, &after).map(|event| Ready {
                queue,
                detail_type: event.detail_type.as_str().to_owned(),
                detail: event.detail_json(),
                snapshot: Some(AccessSnapshot::new(&check.user_id, after, check.version, now)),
            }),
        )
    }

    async fn put_chunk(
        &self,
        chunk: &[Ready],
        queues: &mut [VecDeque<OutboxRecord>],
        held: &mut [bool],
        summary: &mut PublishSummary,
    ) -> Result<(), PublishError> {
        let entries: Vec<Entry<'_>> = chunk
            .iter()
            .map(|r| Entry {
                detail_type: &r.detail_type,
                detail: &r.detail,
            })
            .collect();
        summary.put_requests += 1;
        let results = match self.bus.put(&entries).await {
            Ok(results) => results,
            Err(err) => {
                tracing::warn!(error = %crate::adapters::cause_chain(&err), entries = chunk.len(), "put_events failed; retried");
                vec![Some(REQUEST_FAILED.to_owned()); chunk.len()]
            }
        };
        let mut published = Vec::new();
        for (ready, result) in chunk.iter().zip(results) {
            let Some(head) = queues[ready.queue].front() else { continue };
            match result {
                None => {
                    if let Some(snapshot) = &ready.snapshot {
                        self.store.save_access(snapshot).await?;
                    }
                    published.push(head.clone());
                    queues[ready.queue].pop_front();
                    summary.published += 1;
                }
                Some(code) if retryable(&code) => {
                    // EventBridge unreachable, throttling, or failing inside: not the event's
                    // fault, so not counted towards parking; the customer waits for the next run.
                    summary.refused += 1;
                    tracing::warn!(id = %head.id, kind = %head.kind, %code, "domain event not taken; retried");
                    held[ready.queue] = true;
                }
                Some(code) => {
                    summary.refused += 1;
                    let attempts = self.store.outbox_refused(head).await?.unwrap_or(0);
                    tracing::warn!(id = %head.id, kind = %head.kind, %code, attempts, "eventbridge refused a domain event");
                    if attempts >= OUTBOX_MAX_ATTEMPTS {
                        self.store.park_outbox(head, &code, self.clock.now()).await?;
                        tracing::error!(id = %head.id, kind = %head.kind, %code, "domain event parked after repeated refusals");
                        queues[ready.queue].pop_front();
                        summary.parked += 1;
                    } else {
                        held[ready.queue] = true;
                    }
                }
            }
        }
        let published: Vec<&OutboxRecord> = published.iter().collect();
        self.store.outbox_published(&published).await?;
        Ok(())
    }
}
