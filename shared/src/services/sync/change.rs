//! Changes this service makes in Stripe (cancel, resume, change plan, schedules), written
//! through the same order-safe path as events.
//!
//! The writer reads the stored records first ([`Engine::observe`]), then calls Stripe, then hands
//! Stripe's answer to [`Engine::apply`] as an [`Arrival::Changed`](super::Arrival::Changed). The
//! answer is stamped like a fetch that started before the call, and written only while the
//! records read before the call are still stored: an event that landed in between (the change's
//! own `customer.subscription.updated`, or an older one arriving late) makes the write refuse,
//! and the engine then fetches the current state instead. The later webhook of the change is a
//! duplicate of what is stored or newer, never a regression.

use super::{Engine, Origin, Outcome, ROUNDS, SyncError};
use crate::adapters::store::{Committed, Write};
use crate::domain::objects::{SubscriptionSnapshot, describe};
use crate::domain::records::{ScheduleRecord, SubscriptionRecord};
use crate::domain::schedules::ScheduleSnapshot;
use crate::domain::version::Version;

/// What a change read before it called Stripe.
#[derive(Debug, Clone)]
pub struct Observed {
    user_id: String,
    subscription_id: String,
    subscription: Option<SubscriptionRecord>,
    schedule: Option<ScheduleRecord>,
    started_at: i64,
}

impl Observed {
    /// The stored subscription, as read before the change.
    pub fn subscription(&self) -> Option<&SubscriptionRecord> {
        self.subscription.as_ref()
    }

    /// The stored schedule record, as read before the change.
    pub fn schedule(&self) -> Option<&ScheduleRecord> {
        self.schedule.as_ref()
    }
}

/// Stripe's answer to a change.
#[derive(Debug, Clone)]
pub struct Change {
    pub observed: Observed,
    /// The subscription as Stripe answered the change; `None` when the change did not touch it.
    pub subscription: Option<SubscriptionSnapshot>,
    /// The subscription's schedule after the change: `Some(None)` when none drives it any more;
    /// `None` when the change did not touch schedules.
    pub schedule: Option<Option<ScheduleSnapshot>>,
}

impl Engine<'_> {
    /// Reads what a change of `user_id`'s subscription must not overwrite if it changes before
    /// the change's answer is written (one strongly consistent BatchGetItem).
    pub async fn observe(&self, user_id: &str, subscription_id: &str) -> Result<Observed, SyncError> {
        let started_at = self.clock.now();
        let (subscription, schedule) = self.store.subscription_and_schedule(user_id, subscription_id).await?;
        Ok(Observed {
            user_id: user_id.to_owned(),
            subscription_id: subscription_id.to_owned(),
            subscription,
            schedule,
            started_at,
        })
    }

    pub(super) async fn changed(&self, change: &Change) -> Result<Outcome, SyncError> {
        let observed = &change.observed;
        let user = observed.user_id.as_str();
        let origin = Origin::fetch("subscription.change", &observed.subscription_id, observed.started_at);
        let fetched = origin.fetch_version(observed.started_at);
        let now = self.clock.now();
        let mut writes = Vec::new();
        let mut audit = (String::new(), String::new());
        if let Some(snapshot) = &change.subscription {
            let stored = observed.subscription.as_ref().map(|s| s.version);
            let version = Version::above_observed(stored, fetched).ok_or(SyncError::Contention { what: "subscription" })?;
            let record = snapshot.to_record(
                user,
                self.catalog,
                version,
                observed.started_at,
                observed.subscription.as_ref(),
                now,
            );
            audit = (describe(observed.subscription.as_ref()), describe(Some(&record)));
            writes.push(Write::SubscriptionReplacing { record, observed: stored });
        }
        if let Some(schedule) = &change.schedule {
            let stored = observed.schedule.as_ref().map(|s| s.version);
            let version = Version::above_observed(stored, fetched).ok_or(SyncError::Contention { what: "schedule" })?;
            let record = self
                .schedule_record(schedule.as_ref(), user, &observed.subscription_id, version)
                .await?;
            audit.1.push_str(&format!(" schedule={}", record.status));
            writes.push(Write::ScheduleReplacing { record, observed: stored });
        }
        if writes.is_empty() {
            return Ok(Outcome::Applied);
        }
        match self
            .commit(
                &origin,
                Some(user),
                Outcome::Applied,
                audit,
                &writes,
                observed.subscription.as_ref(),
            )
            .await?
        {
            Committed::Yes | Committed::Duplicate => Ok(Outcome::Applied),
            // Something was stored after our read: Stripe's current state is the truth.
            Committed::Refused => {
                tracing::info!(user, subscription = %observed.subscription_id, "state changed during the change; fetching it");
                if change.subscription.is_some() {
                    let stored = self.store.subscription(user, &observed.subscription_id).await?;
                    self.refresh_subscription(&origin, user, stored, &observed.subscription_id).await?;
                }
                if change.schedule.is_some() {
                    self.refresh_schedule(&origin, user, &observed.subscription_id).await?;
                }
                Ok(Outcome::Applied)
            }
        }
    }

    /// Stores the schedule that drives `subscription_id` as Stripe has it now (or that none
    /// does), written only while the record read before the fetch is still stored.
    pub(super) async fn refresh_schedule(&self, origin: &Origin, user: &str, subscription_id: &str) -> Result<Outcome, SyncError> {
        for _ in 0..ROUNDS {
            let observed = self.store.schedule(user, subscription_id).await?;
            let started_at = self.clock.now();
            let schedule = match self.stripe.retrieve_subscription(subscription_id).await? {
                Some(subscription) => match &subscription.schedule_id {
                    Some(id) => self.stripe.retrieve_schedule(id).await?,
                    None => None,
                },
                None => None,
            };
            let stored = observed.as_ref().map(|o| o.version);
            let Some(version) = Version::above_observed(stored, origin.fetch_version(started_at)) else {
                return Err(SyncError::Contention { what: "schedule" });
            };
            let record = self.schedule_record(schedule.as_ref(), user, subscription_id, version).await?;
            let audit = (
                observed.as_ref().map(|o| o.status.clone()).unwrap_or_default(),
                format!("schedule={}", record.status),
            );
            match self
                .commit(
                    origin,
                    Some(user),
                    Outcome::Applied,
                    audit,
                    &[Write::ScheduleReplacing { record, observed: stored }],
                    None,
                )
                .await?
            {
                Committed::Yes => return Ok(Outcome::Applied),
                Committed::Duplicate => return Ok(Outcome::Duplicate),
                Committed::Refused => continue,
            }
        }
        Err(SyncError::Contention { what: "schedule" })
    }
}
