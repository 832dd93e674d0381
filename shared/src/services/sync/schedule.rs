//! Subscription Schedules (`subscription_schedule.*`): the change a schedule will make to its
//! subscription, stored beside the subscription (`SCHEDULE#<subscription id>`).

use super::{Engine, Origin, Outcome, ROUNDS, SyncError};
use crate::adapters::store::{Committed, Write};
use crate::adapters::stripe::PriceName;
use crate::domain::event::Envelope;
use crate::domain::records::ScheduleRecord;
use crate::domain::schedules::{ScheduleSnapshot, no_schedule, parse_schedule};
use crate::domain::version::{Verdict, Version};

impl Engine<'_> {
    /// The record of `schedule` (or of no schedule). A next phase whose price the catalog does
    /// not know by id is looked up in Stripe's price book (catalogs may name prices by lookup key).
    pub(super) async fn schedule_record(
        &self,
        schedule: Option<&ScheduleSnapshot>,
        user: &str,
        subscription: &str,
        version: Version,
    ) -> Result<ScheduleRecord, SyncError> {
        let now = self.clock.now();
        let Some(schedule) = schedule else {
            return Ok(no_schedule(user, subscription, version, now));
        };
        let unknown = schedule
            .next_phase()
            .and_then(|p| p.price_id.as_deref())
            .filter(|id| self.catalog.find_price(Some(id), None).is_none());
        let lookup_key = match unknown {
            Some(id) => {
                let name = PriceName::Id(id);
                self.stripe.prices(&[name]).await?.remove(&name.key()).and_then(|p| p.lookup_key)
            }
            None => None,
        };
        Ok(schedule.to_record(user, subscription, self.catalog, lookup_key.as_deref(), version, now))
    }

    pub(super) async fn schedule_event(&self, origin: &Origin, event: &Envelope) -> Result<Outcome, SyncError> {
        let schedule = parse_schedule(&event.object).ok_or_else(|| origin.shape("subscription schedule"))?;
        // A schedule not (yet) attached to a subscription changes nothing this service shows.
        let Some(subscription) = schedule.subscription_id.clone() else {
            return Ok(Outcome::Ignored);
        };
        // Schedules carry no proof of ownership of their own: only the customer's link counts.
        let Some(user) = self.store.customer_owner(&schedule.customer_id).await? else {
            return self.stranger(origin, &schedule.customer_id, &schedule.id);
        };
        for _ in 0..ROUNDS {
            let stored = self.store.schedule(&user, &subscription).await?;
            // Another schedule than the one stored: the order of two schedules' events cannot be
            // told from their payloads (the end of an old one, the start of a new one); what
            // drives the subscription now is asked from Stripe.
            if let Some(current) = stored.as_ref().and_then(|s| s.schedule_id.as_ref())
                && *current != schedule.id
            {
                return self.refresh_schedule(origin, &user, &subscription).await;
            }
            match Version::judge(stored.as_ref().map(|s| s.version), origin.version) {
                Verdict::Write(version) => {
                    let record = self.schedule_record(Some(&schedule), &user, &subscription, version).await?;
                    let audit = (
                        stored.as_ref().map(|s| s.status.clone()).unwrap_or_default(),
                        format!("schedule={} {}", schedule.id, record.status),
                    );
                    match self
                        .commit(origin, Some(&user), Outcome::Applied, audit, &[Write::Schedule(record)], None)
                        .await?
                    {
                        Committed::Yes => return Ok(Outcome::Applied),
                        Committed::Duplicate => return Ok(Outcome::Duplicate),
                        Committed::Refused => continue,
                    }
                }
                Verdict::Refetch => return self.refresh_schedule(origin, &user, &subscription).await,
                Verdict::Stale => {
                    let audit = (String::new(), format!("{} {}", schedule.id, schedule.status));
                    return self.mark(origin, Some(&user), Outcome::Stale, audit).await;
                }
            }
        }
        Err(SyncError::Contention { what: "schedule" })
    }
}
