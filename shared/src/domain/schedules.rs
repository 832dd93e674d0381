//! Subscription Schedules as the service reads them: which subscription a schedule drives and
//! what its next phase will change. Read through the wire shapes of `stripe_wire`,
//! tolerant of API versions like [`super::objects`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::plans::{Catalog, Interval};
use crate::domain::records::{ScheduleRecord, ScheduledChange, keys};
use crate::domain::stripe_wire::{self as wire, id_of, read};
use crate::domain::version::Version;

/// One phase: its span, its first item, and the terms a rewrite of the schedule must carry over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phase {
    pub start_date: i64,
    pub end_date: Option<i64>,
    pub price_id: Option<String>,
    pub quantity: u64,
    /// `metadata.plan` of the phase, when this service wrote it.
    pub plan: Option<String>,
    /// Every item: price id and quantity (`None` for a metered price).
    pub items: Vec<(String, Option<u64>)>,
    pub trial_end: Option<i64>,
    /// Discounts as `(coupon | discount | promotion_code, id)`.
    pub discounts: Vec<(String, String)>,
    pub default_tax_rates: Vec<String>,
    pub default_payment_method: Option<String>,
    pub collection_method: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// A discount of a phase as `(coupon | discount | promotion_code, id)`: the first kind it names.
fn discount(discount: &wire::PhaseDiscount) -> Option<(String, String)> {
    [
        ("coupon", &discount.coupon),
        ("discount", &discount.discount),
        ("promotion_code", &discount.promotion_code),
    ]
    .into_iter()
    .find_map(|(kind, id)| Some((kind.to_owned(), id_of(id.as_ref())?)))
}

fn parse_phase(phase: wire::Phase) -> Option<Phase> {
    let items = phase.items.unwrap_or_default();
    let first = items.first();
    Some(Phase {
        start_date: phase.start_date?,
        end_date: phase.end_date,
        price_id: id_of(first.and_then(|i| i.price.as_ref())),
        quantity: first.and_then(|i| i.quantity).unwrap_or(1),
        plan: phase.metadata.get("plan").filter(|p| !p.is_empty()).cloned(),
        items: items.iter().filter_map(|i| Some((id_of(i.price.as_ref())?, i.quantity))).collect(),
        trial_end: phase.trial_end,
        discounts: phase.discounts.unwrap_or_default().iter().filter_map(discount).collect(),
        default_tax_rates: phase
            .default_tax_rates
            .unwrap_or_default()
            .iter()
            .filter_map(|rate| id_of(rate.as_ref()))
            .collect(),
        default_payment_method: id_of(phase.default_payment_method.as_ref()),
        collection_method: phase.collection_method,
        metadata: phase.metadata,
    })
}

/// A Subscription Schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSnapshot {
    pub id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    /// `not_started`, `active`, `completed`, `released`, `canceled`.
    pub status: String,
    /// The span of the phase in effect, while the schedule is active.
    pub current_phase: Option<(i64, Option<i64>)>,
    pub phases: Vec<Phase>,
    /// The owner its metadata names (`user_id`, or `org_id`), when this service set it.
    pub metadata_user_id: Option<String>,
}

/// Reads a schedule object; `None` when it lacks an id, a customer or a status.
pub fn parse_schedule(object: &Value) -> Option<ScheduleSnapshot> {
    let wire: wire::Schedule = read(object)?;
    if wire.object.as_deref().is_some_and(|o| o != "subscription_schedule") {
        return None;
    }
    let current = wire.current_phase;
    Some(ScheduleSnapshot {
        id: wire.id?,
        customer_id: id_of(wire.customer.as_ref())?,
        subscription_id: id_of(wire.subscription.as_ref()),
        status: wire.status?,
        current_phase: current.start_date.map(|start| (start, current.end_date)),
        phases: wire.phases.unwrap_or_default().into_iter().filter_map(parse_phase).collect(),
        metadata_user_id: crate::domain::billable::from_metadata(&wire.metadata),
    })
}

impl ScheduleSnapshot {
    /// Whether the schedule still drives its subscription.
    pub fn is_running(&self) -> bool {
        matches!(self.status.as_str(), "active" | "not_started")
    }

    /// The phase in effect.
    pub fn current(&self) -> Option<&Phase> {
        let (start, _) = self.current_phase?;
        self.phases.iter().find(|p| p.start_date == start)
    }

    /// The next phase that changes the subscription: the first phase starting at or after the
    /// current phase's end (the first phase of a schedule not started yet).
    pub fn next_phase(&self) -> Option<&Phase> {
        if !self.is_running() {
            return None;
        }
        match self.current_phase {
            Some((start, end)) => {
                let current = self.phases.iter().find(|p| p.start_date == start);
                self.phases
                    .iter()
                    .filter(|p| p.start_date >= end.unwrap_or(i64::MAX) && p.start_date > start)
                    .find(|p| current.is_none_or(|c| (&c.price_id, c.quantity) != (&p.price_id, p.quantity)))
            }
            None => self.phases.first(),
        }
    }

    /// The record to store for the schedule's subscription. `lookup_key` is the lookup key of
    /// the next phase's price, when the caller knows it (a catalog may name prices by lookup
    /// key only, while a phase names its price by id).
    pub fn to_record(
        &self,
        user_id: &str,
        subscription_id: &str,
        catalog: &Catalog,
        lookup_key: Option<&str>,
        version: Version,
        now: i64,
    ) -> ScheduleRecord {
        let change = self.next_phase().and_then(|phase| {
            let price_id = phase.price_id.clone()?;
            let found = catalog.find_price(Some(&price_id), lookup_key);
            Some(ScheduledChange {
                plan: found.map(|(p, _)| p.id.clone()).or_else(|| phase.plan.clone()),
                interval: found.map(|(_, i)| i).filter(|i| *i != Interval::OneTime),
                price_id,
                quantity: phase.quantity,
                at: phase.start_date,
            })
        });
        ScheduleRecord {
            pk: keys::user(user_id),
            sk: keys::schedule(subscription_id),
            subscription_id: subscription_id.to_owned(),
            schedule_id: self.is_running().then(|| self.id.clone()),
            status: self.status.clone(),
            change,
            version,
            updated_at: now,
        }
    }
}

/// The record saying no schedule drives `subscription_id` any more (released, or never was).
pub fn no_schedule(user_id: &str, subscription_id: &str, version: Version, now: i64) -> ScheduleRecord {
    ScheduleRecord {
        pk: keys::user(user_id),
        sk: keys::schedule(subscription_id),
        subscription_id: subscription_id.to_owned(),
        schedule_id: None,
        status: "none".into(),
        change: None,
        version,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schedule(status: &str, phases: Value, current: Value) -> Value {
        json!({"id": "sub_sched_1", "object": "subscription_schedule", "customer": "cus_1", "subscription": "sub_1",
               "status": status, "current_phase": current, "phases": phases, "metadata": {}})
    }

    #[test]
    fn the_next_phase_is_the_pending_change() {
        let phases = json!([
            {"start_date": 100, "end_date": 200, "items": [{"price": "price_pro", "quantity": 1}]},
            {"start_date": 200, "end_date": 300, "items": [{"price": {"id": "price_starter"}, "quantity": 2}]}
        ]);
        let parsed = parse_schedule(&schedule("active", phases.clone(), json!({"start_date": 100, "end_date": 200}))).unwrap();
        let next = parsed.next_phase().unwrap();
        assert_eq!(
            (next.price_id.as_deref(), next.quantity, next.start_date),
            (Some("price_starter"), 2, 200)
        );

        // In its last phase, or released: nothing pending.
        let last = parse_schedule(&schedule("active", phases.clone(), json!({"start_date": 200, "end_date": 300}))).unwrap();
        assert_eq!(last.next_phase(), None);
        let released = parse_schedule(&schedule("released", phases, Value::Null)).unwrap();
        assert_eq!(released.next_phase(), None);
        let record = released.to_record("u1", "sub_1", &Catalog::embedded().unwrap(), None, Version::of_payload(1), 5);
        assert_eq!((record.schedule_id, record.change), (None, None));
    }

    #[test]
    fn a_phase_repeating_the_current_one_is_no_change() {
        let phases = json!([
            {"start_date": 100, "end_date": 200, "items": [{"price": "price_pro", "quantity": 1}]},
            {"start_date": 200, "end_date": 300, "items": [{"price": "price_pro", "quantity": 1}]}
        ]);
        let parsed = parse_schedule(&schedule("active", phases, json!({"start_date": 100, "end_date": 200}))).unwrap();
        assert_eq!(parsed.next_phase(), None);
        assert!(parse_schedule(&json!({"object": "subscription", "id": "x"})).is_none());
    }
}
