//! Stripe objects → stored records. Read tolerantly from JSON so that the webhook function
//! (events rendered at any API version) and the eager sync after Checkout (typed objects,
//! serialized back to JSON) share one mapping.
//!
//! Older API versions keep `current_period_end` on the subscription itself; newer ones on each
//! item. Both are read.

use serde_json::Value;

use crate::plans::{Catalog, Interval};
use crate::store::{SubscriptionRecord, keys};

/// Low bits of a version: writes of fetched state within one second.
pub const SAME_SECOND: u64 = (1 << 20) - 1;

/// Version of state read from an event payload: its `created` second, shifted left by 20 bits.
/// Every writer of subscription and entitlement items (webhook, eager sync) uses this scale.
pub fn payload_version(created: i64) -> u64 {
    (created.max(0) as u64) << 20
}

/// Version of state fetched from Stripe: the truth at fetch time, never older than the event
/// that prompted the fetch nor than now, and above any payload of that second.
pub fn fetched_version(created: i64) -> u64 {
    payload_version(created.max(crate::now_epoch())) | 1
}

/// The version for fetched state that must land above `stored` within the same second, if any
/// is left.
pub fn above(stored: u64) -> Option<u64> {
    (stored & SAME_SECOND < SAME_SECOND).then_some(stored + 1)
}

/// What the store keeps of a Stripe subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSnapshot {
    pub subscription_id: String,
    pub customer_id: String,
    pub status: String,
    pub price_id: Option<String>,
    pub lookup_key: Option<String>,
    pub recurring_interval: Option<String>,
    pub quantity: u64,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<i64>,
    /// `metadata.user_id` as set by the checkout function.
    pub metadata_user_id: Option<String>,
}

fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(id) => Some(id.clone()),
        Value::Object(map) => map.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// Reads a subscription object; `None` when it lacks an id, a customer or a status.
pub fn parse_subscription(object: &Value) -> Option<SubscriptionSnapshot> {
    if object.get("object").and_then(Value::as_str).is_some_and(|o| o != "subscription") {
        return None;
    }
    let subscription_id = object.get("id")?.as_str()?.to_owned();
    let customer_id = id_of(object.get("customer")?)?;
    let status = object.get("status")?.as_str()?.to_owned();
    let item = object.pointer("/items/data/0");
    let price = item.and_then(|i| i.get("price"));
    let price_id = price.and_then(id_of);
    let lookup_key = price.and_then(|p| p.get("lookup_key")).and_then(Value::as_str).map(str::to_owned);
    let recurring_interval = price
        .and_then(|p| p.pointer("/recurring/interval"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let quantity = item.and_then(|i| i.get("quantity")).and_then(Value::as_u64).unwrap_or(1);
    let current_period_end = item
        .and_then(|i| i.get("current_period_end"))
        .and_then(Value::as_i64)
        .or_else(|| object.get("current_period_end").and_then(Value::as_i64));
    let cancel_at_period_end = object.get("cancel_at_period_end").and_then(Value::as_bool).unwrap_or(false);
    // Newer cancellations through the portal may set `cancel_at` instead of the flag.
    let cancel_at = object.get("cancel_at").and_then(Value::as_i64);
    let cancel_at_period_end = cancel_at_period_end || (cancel_at.is_some() && cancel_at == current_period_end);
    let trial_end = object.get("trial_end").and_then(Value::as_i64);
    let metadata_user_id = object.pointer("/metadata/user_id").and_then(Value::as_str).map(str::to_owned);
    Some(SubscriptionSnapshot {
        subscription_id,
        customer_id,
        status,
        price_id,
        lookup_key,
        recurring_interval,
        quantity,
        current_period_end,
        cancel_at_period_end,
        trial_end,
        metadata_user_id,
    })
}

impl SubscriptionSnapshot {
    /// The record to store for `user_id`. `since` is when this state was observed (event
    /// `created`, or fetch time); `previous` is the stored record, which keeps the start of a
    /// past_due grace period across updates.
    pub fn to_record(
        &self,
        user_id: &str,
        catalog: &Catalog,
        version: u64,
        since: i64,
        previous: Option<&SubscriptionRecord>,
    ) -> SubscriptionRecord {
        let found = catalog.find_price(self.price_id.as_deref(), self.lookup_key.as_deref());
        let interval = found.map(|(_, i)| i).or(match self.recurring_interval.as_deref() {
            Some("month") => Some(Interval::Month),
            Some("year") => Some(Interval::Year),
            _ => None,
        });
        let since = since.min(crate::now_epoch());
        let past_due_since = (self.status == "past_due").then(|| match previous {
            Some(prev) if prev.status == "past_due" => prev.past_due_since.unwrap_or(since),
            _ => since,
        });
        SubscriptionRecord {
            pk: keys::user(user_id),
            sk: keys::subscription(&self.subscription_id),
            subscription_id: self.subscription_id.clone(),
            customer_id: self.customer_id.clone(),
            status: self.status.clone(),
            plan: found.map(|(p, _)| p.id.clone()),
            price_id: self.price_id.clone(),
            interval,
            quantity: self.quantity,
            current_period_end: self.current_period_end,
            cancel_at_period_end: self.cancel_at_period_end,
            trial_end: self.trial_end,
            past_due_since,
            version,
            updated_at: crate::now_epoch(),
        }
    }
}

/// A paid one-time purchase (Checkout in `payment` mode) of a one-time plan, stored as a
/// subscription record that never ends: `sk = SUB#<checkout session id>`, status `active`,
/// interval `one_time`. The entitlement rules then treat it like any active subscription.
/// `None` when `plan_id` is not a one-time plan of the catalog.
pub fn purchase_record(
    user_id: &str,
    session_id: &str,
    customer_id: &str,
    plan_id: &str,
    catalog: &Catalog,
    version: u64,
) -> Option<SubscriptionRecord> {
    let plan = catalog.get(plan_id).filter(|p| p.mode == crate::plans::PlanMode::OneTime)?;
    Some(SubscriptionRecord {
        pk: keys::user(user_id),
        sk: keys::subscription(session_id),
        subscription_id: session_id.to_owned(),
        customer_id: customer_id.to_owned(),
        status: "active".into(),
        plan: Some(plan.id.clone()),
        price_id: plan.price(Interval::OneTime).and_then(|p| p.price.clone()),
        interval: Some(Interval::OneTime),
        quantity: 1,
        current_period_end: None,
        cancel_at_period_end: false,
        trial_end: None,
        past_due_since: None,
        version,
        updated_at: crate::now_epoch(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded().unwrap()
    }

    #[test]
    fn reads_the_current_shape_with_item_periods() {
        let object = json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "trialing", "cancel_at_period_end": false,
            "trial_end": 1_800_000_000, "metadata": {"user_id": "u1"},
            "items": {"data": [{"quantity": 3, "current_period_end": 1_800_000_000, "price": {"id": "price_x", "lookup_key": "pro_year", "recurring": {"interval": "year"}}}]}
        });
        let snap = parse_subscription(&object).unwrap();
        assert_eq!(snap.metadata_user_id.as_deref(), Some("u1"));
        let record = snap.to_record("u1", &catalog(), 5, 100, None);
        assert_eq!(record.plan.as_deref(), Some("pro"));
        assert_eq!(record.interval, Some(Interval::Year));
        assert_eq!(record.quantity, 3);
        assert_eq!(record.current_period_end, Some(1_800_000_000));
        assert_eq!(record.sk, "SUB#sub_1");
    }

    #[test]
    fn reads_an_older_shape_with_top_level_period_and_expanded_customer() {
        let object = json!({
            "id": "sub_2", "object": "subscription", "customer": {"id": "cus_2", "object": "customer"}, "status": "past_due",
            "current_period_end": 1_700_000_000, "plan": {"id": "price_old"},
            "items": {"data": [{"price": {"id": "price_old", "lookup_key": "starter_month"}}]}
        });
        let snap = parse_subscription(&object).unwrap();
        assert_eq!(snap.customer_id, "cus_2");
        assert_eq!(snap.current_period_end, Some(1_700_000_000));
        let record = snap.to_record("u2", &catalog(), 1, 500, None);
        assert_eq!(record.past_due_since, Some(500), "grace starts when past_due is first seen");
        let later = snap.to_record("u2", &catalog(), 2, 900, Some(&record));
        assert_eq!(later.past_due_since, Some(500), "and is kept while it stays past_due");
    }

    #[test]
    fn portal_cancel_at_counts_as_cancel_at_period_end() {
        let object =
            json!({"id": "sub_3", "customer": "cus", "status": "active", "cancel_at": 10, "items": {"data": [{"current_period_end": 10}]}});
        assert!(parse_subscription(&object).unwrap().cancel_at_period_end);
    }

    #[test]
    fn one_time_purchases_become_never_ending_records() {
        let record = purchase_record("u", "cs_1", "cus_1", "lifetime", &catalog(), 3).unwrap();
        assert_eq!(
            (record.status.as_str(), record.interval, record.current_period_end),
            ("active", Some(Interval::OneTime), None)
        );
        assert!(
            purchase_record("u", "cs_1", "cus_1", "pro", &catalog(), 3).is_none(),
            "not a one-time plan"
        );
    }

    #[test]
    fn versions_order_seconds_and_fetches() {
        assert!(payload_version(100) < payload_version(101));
        assert!(payload_version(100) < payload_version(100) | 1);
        assert!((payload_version(100) | SAME_SECOND) < payload_version(101));
        assert_eq!(above(payload_version(100)), Some(payload_version(100) + 1));
        assert_eq!(above(payload_version(100) | SAME_SECOND), None);
        assert!(
            fetched_version(0) > payload_version(crate::now_epoch() - 1),
            "a fetch is never older than now"
        );
    }

    #[test]
    fn incomplete_objects_are_refused() {
        assert!(parse_subscription(&json!({"id": "sub"})).is_none());
        assert!(parse_subscription(&json!({"id": "in_1", "object": "invoice", "customer": "c", "status": "paid"})).is_none());
    }
}
