//! Stripe objects as the service reads them, and the records they become.
//!
//! Everything is read tolerantly from JSON, the one shape both sources share: event payloads
//! (rendered at any API version) and objects the Stripe port fetches (rendered at the pinned
//! version). Older API versions keep `current_period_end` on the subscription itself; newer
//! ones on each item. Both are read.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::plans::{Catalog, Interval, PlanMode};
use crate::domain::records::{SubscriptionRecord, keys};
use crate::domain::version::Version;

/// The id of an expandable field: a string, or an object with an `id`.
pub fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Object(map) => map.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn text(object: &Value, pointer: &str) -> Option<String> {
    object.pointer(pointer).and_then(Value::as_str).map(str::to_owned)
}

fn metadata(object: &Value) -> BTreeMap<String, String> {
    object
        .get("metadata")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// What the store keeps of a Stripe subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSnapshot {
    pub subscription_id: String,
    pub customer_id: String,
    pub status: String,
    /// The currency it bills in (`None` when Stripe left it out).
    pub currency: Option<String>,
    pub price_id: Option<String>,
    pub lookup_key: Option<String>,
    pub recurring_interval: Option<String>,
    pub quantity: u64,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    /// When the subscription is set to end, if it is.
    pub cancel_at: Option<i64>,
    pub trial_end: Option<i64>,
    /// `metadata.user_id` as set by the checkout function.
    pub metadata_user_id: Option<String>,
    /// `metadata.custom_amount`: the catalog's custom-amount entry this subscription pays (a
    /// donation, a top-up), set by the checkout function.
    pub metadata_custom_amount: Option<String>,
    /// The first item (the one this service manages), for changes of price and quantity.
    pub item_id: Option<String>,
    /// The start of the current period.
    pub current_period_start: Option<i64>,
    /// The Subscription Schedule that drives the subscription, if one does.
    pub schedule_id: Option<String>,
    /// The metered items (usage billed through meters): item id and price id.
    pub other_items: Vec<(String, String)>,
}

/// Reads a subscription object; `None` when it lacks an id, a customer or a status.
pub fn parse_subscription(object: &Value) -> Option<SubscriptionSnapshot> {
    if object.get("object").and_then(Value::as_str).is_some_and(|o| o != "subscription") {
        return None;
    }
    let subscription_id = object.get("id")?.as_str()?.to_owned();
    let customer_id = id_of(object.get("customer"))?;
    let status = object.get("status")?.as_str()?.to_owned();
    // The licensed item (the plan's price): Stripe does not promise the order of items, and
    // metered ones (usage billed through meters) ride along.
    let items: Vec<&Value> = object
        .pointer("/items/data")
        .and_then(Value::as_array)
        .map(|items| items.iter().collect())
        .unwrap_or_default();
    let metered = |i: &&Value| i.pointer("/price/recurring/usage_type").and_then(Value::as_str) == Some("metered");
    let item = items.iter().find(|i| !metered(i)).or(items.first()).copied();
    let price = item.and_then(|i| i.get("price"));
    let price_id = id_of(price);
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
    let metadata_user_id = text(object, "/metadata/user_id").filter(|u| !u.is_empty());
    let metadata_custom_amount = text(object, "/metadata/custom_amount").filter(|u| !u.is_empty());
    let item_id = item.and_then(|i| i.get("id")).and_then(Value::as_str).map(str::to_owned);
    let current_period_start = item
        .and_then(|i| i.get("current_period_start"))
        .and_then(Value::as_i64)
        .or_else(|| object.get("current_period_start").and_then(Value::as_i64));
    let schedule_id = id_of(object.get("schedule"));
    let other_items = items
        .iter()
        .filter(|i| metered(i))
        .filter_map(|i| Some((i.get("id")?.as_str()?.to_owned(), id_of(i.get("price"))?)))
        .collect();
    Some(SubscriptionSnapshot {
        subscription_id,
        customer_id,
        status,
        currency: object.get("currency").and_then(Value::as_str).map(str::to_owned),
        price_id,
        lookup_key,
        recurring_interval,
        quantity,
        current_period_end,
        cancel_at_period_end,
        cancel_at,
        trial_end,
        metadata_user_id,
        metadata_custom_amount,
        item_id,
        current_period_start,
        schedule_id,
        other_items,
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
        version: Version,
        since: i64,
        previous: Option<&SubscriptionRecord>,
        now: i64,
    ) -> SubscriptionRecord {
        let found = catalog.find_price(self.price_id.as_deref(), self.lookup_key.as_deref());
        let interval = found.map(|(_, i)| i).or(match self.recurring_interval.as_deref() {
            Some("month") => Some(Interval::Month),
            Some("year") => Some(Interval::Year),
            _ => None,
        });
        let since = since.min(now);
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
            // A custom amount is stored under its entry's id (which no plan shares): it pays for
            // nothing the access rules grant.
            plan: found.map(|(p, _)| p.id.clone()).or_else(|| {
                self.metadata_custom_amount
                    .clone()
                    .filter(|id| found.is_none() && catalog.custom_amount(id).is_some())
            }),
            price_id: self.price_id.clone(),
            interval,
            quantity: self.quantity,
            current_period_end: self.current_period_end,
            current_period_start: self.current_period_start,
            cancel_at_period_end: self.cancel_at_period_end,
            cancel_at: self.cancel_at,
            trial_end: self.trial_end,
            past_due_since,
            version,
            updated_at: now,
        }
    }
}

/// A Checkout Session as the service reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckoutSessionSnapshot {
    pub id: String,
    /// `open`, `complete`, `expired`.
    pub status: Option<String>,
    /// `paid`, `unpaid`, `no_payment_required`.
    pub payment_status: String,
    /// `subscription`, `payment`, `setup`.
    pub mode: String,
    pub customer: Option<String>,
    /// The email the buyer entered (`customer_details.email`).
    pub customer_email: Option<String>,
    pub subscription: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The hosted page, while the session is open.
    pub url: Option<String>,
    /// When the session was created (Unix seconds).
    pub created: i64,
}

impl CheckoutSessionSnapshot {
    /// `metadata.user_id`, which only this service sets: the only proof of whose a session is
    /// (`client_reference_id` can be chosen by a buyer on Payment Links and pricing tables).
    pub fn metadata_user_id(&self) -> Option<&str> {
        self.metadata.get("user_id").map(String::as_str).filter(|u| !u.is_empty())
    }

    pub fn is_complete(&self) -> bool {
        self.status.as_deref() == Some("complete")
    }
}

/// Reads a Checkout Session object; `None` without an id.
pub fn parse_checkout_session(object: &Value) -> Option<CheckoutSessionSnapshot> {
    if object
        .get("object")
        .and_then(Value::as_str)
        .is_some_and(|o| o != "checkout.session")
    {
        return None;
    }
    Some(CheckoutSessionSnapshot {
        id: object.get("id")?.as_str()?.to_owned(),
        status: text(object, "/status"),
        payment_status: text(object, "/payment_status").unwrap_or_default(),
        mode: text(object, "/mode").unwrap_or_default(),
        customer: id_of(object.get("customer")),
        customer_email: text(object, "/customer_details/email").or_else(|| text(object, "/customer_email")),
        subscription: id_of(object.get("subscription")),
        metadata: metadata(object),
        url: text(object, "/url"),
        created: object.get("created").and_then(Value::as_i64).unwrap_or(0),
    })
}

/// A Stripe customer as the service reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerSnapshot {
    pub id: String,
    pub email: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub deleted: bool,
}

impl CustomerSnapshot {
    /// `metadata.user_id`, set by this service on the customers it creates.
    pub fn metadata_user_id(&self) -> Option<&str> {
        self.metadata.get("user_id").map(String::as_str).filter(|u| !u.is_empty())
    }
}

/// Reads a customer object (or a deleted customer's stub); `None` without an id.
pub fn parse_customer(object: &Value) -> Option<CustomerSnapshot> {
    if object.get("object").and_then(Value::as_str).is_some_and(|o| o != "customer") {
        return None;
    }
    Some(CustomerSnapshot {
        id: object.get("id")?.as_str()?.to_owned(),
        email: text(object, "/email"),
        metadata: metadata(object),
        deleted: object.get("deleted").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// A charge as the service reads it: what money was taken back from a one-time purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeSnapshot {
    pub id: String,
    pub payment_intent: Option<String>,
    /// Fully refunded.
    pub refunded: bool,
    /// A dispute was opened against it.
    pub disputed: bool,
}

/// Reads a charge; `None` without an id.
pub fn parse_charge(object: &Value) -> Option<ChargeSnapshot> {
    if object.get("object").and_then(Value::as_str).is_some_and(|o| o != "charge") {
        return None;
    }
    let amount = object.get("amount").and_then(Value::as_i64).unwrap_or(0);
    let refunded_amount = object.get("amount_refunded").and_then(Value::as_i64).unwrap_or(0);
    Some(ChargeSnapshot {
        id: object.get("id")?.as_str()?.to_owned(),
        payment_intent: id_of(object.get("payment_intent")),
        refunded: object.get("refunded").and_then(Value::as_bool).unwrap_or(false) || (amount > 0 && refunded_amount >= amount),
        disputed: object.get("disputed").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// A dispute as the service reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeSnapshot {
    pub id: String,
    pub charge: Option<String>,
    pub payment_intent: Option<String>,
    /// `warning_needs_response`, `warning_under_review`, `warning_closed`, `needs_response`,
    /// `under_review`, `won`, `lost`.
    pub status: String,
}

/// Reads a dispute; `None` without an id or status.
pub fn parse_dispute(object: &Value) -> Option<DisputeSnapshot> {
    if object.get("object").and_then(Value::as_str).is_some_and(|o| o != "dispute") {
        return None;
    }
    Some(DisputeSnapshot {
        id: object.get("id")?.as_str()?.to_owned(),
        charge: id_of(object.get("charge")),
        payment_intent: id_of(object.get("payment_intent")),
        status: object.get("status")?.as_str()?.to_owned(),
    })
}

/// The status of a one-time purchase given its charge and the charge's dispute: `refunded`
/// when the money is back with the buyer (a full refund, or a lost dispute), `disputed` while a
/// dispute is open, `active` otherwise (a partial refund, a won or warning-closed dispute).
pub fn purchase_status(charge: &ChargeSnapshot, dispute: Option<&DisputeSnapshot>) -> &'static str {
    if charge.refunded {
        return "refunded";
    }
    match dispute.map(|d| d.status.as_str()) {
        Some("lost") => "refunded",
        Some("won" | "warning_closed") | None => "active",
        Some(_) => "disputed",
    }
}

/// An `entitlements.active_entitlement_summary` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementSummary {
    pub customer: String,
    /// The embedded feature lookup keys; `None` when more exist than are embedded (`has_more`).
    pub features: Option<Vec<String>>,
}

/// Reads an entitlement summary; `None` without a customer or an entitlement list.
pub fn parse_entitlement_summary(object: &Value) -> Option<EntitlementSummary> {
    let customer = id_of(object.get("customer"))?;
    let embedded = object.pointer("/entitlements/data")?.as_array()?;
    let has_more = object.pointer("/entitlements/has_more").and_then(Value::as_bool).unwrap_or(false);
    let features = if has_more {
        None
    } else {
        Some(
            embedded
                .iter()
                .map(|e| e.get("lookup_key").and_then(Value::as_str).map(str::to_owned))
                .collect::<Option<Vec<_>>>()?,
        )
    };
    Some(EntitlementSummary { customer, features })
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
    version: Version,
    now: i64,
) -> Option<SubscriptionRecord> {
    let plan = catalog.get(plan_id).filter(|p| p.mode == PlanMode::OneTime)?;
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
        current_period_start: None,
        cancel_at: None,
        trial_end: None,
        past_due_since: None,
        version,
        updated_at: now,
    })
}

/// A one-line summary of a stored subscription for audit rows.
pub fn describe(record: Option<&SubscriptionRecord>) -> String {
    match record {
        None => "none".into(),
        Some(r) => format!(
            "status={} plan={} qty={} period_end={} cancel_at_period_end={}",
            r.status,
            r.plan.as_deref().unwrap_or("?"),
            r.quantity,
            r.current_period_end.map_or("-".into(), |t| t.to_string()),
            r.cancel_at_period_end
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded().unwrap()
    }

    const NOW: i64 = 1_900_000_000;

    #[test]
    fn reads_the_current_shape_with_item_periods() {
        let object = json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "trialing", "cancel_at_period_end": false,
            "trial_end": 1_800_000_000, "metadata": {"user_id": "u1"},
            "items": {"data": [{"quantity": 3, "current_period_end": 1_800_000_000, "price": {"id": "price_x", "lookup_key": "pro_year", "recurring": {"interval": "year"}}}]}
        });
        let snap = parse_subscription(&object).unwrap();
        assert_eq!(snap.metadata_user_id.as_deref(), Some("u1"));
        let record = snap.to_record("u1", &catalog(), Version::of_payload(5), 100, None, NOW);
        assert_eq!(record.plan.as_deref(), Some("pro"));
        assert_eq!(record.interval, Some(Interval::Year));
        assert_eq!(record.quantity, 3);
        assert_eq!(record.current_period_end, Some(1_800_000_000));
        assert_eq!((record.sk.as_str(), record.updated_at), ("SUB#sub_1", NOW));
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
        let record = snap.to_record("u2", &catalog(), Version::of_payload(1), 500, None, NOW);
        assert_eq!(record.past_due_since, Some(500), "grace starts when past_due is first seen");
        let later = snap.to_record("u2", &catalog(), Version::of_payload(2), 900, Some(&record), NOW);
        assert_eq!(later.past_due_since, Some(500), "and is kept while it stays past_due");
        let future = snap.to_record("u2", &catalog(), Version::of_payload(2), NOW + 50, None, NOW);
        assert_eq!(future.past_due_since, Some(NOW), "never later than now");
    }

    #[test]
    fn portal_cancel_at_counts_as_cancel_at_period_end() {
        let object =
            json!({"id": "sub_3", "customer": "cus", "status": "active", "cancel_at": 10, "items": {"data": [{"current_period_end": 10}]}});
        assert!(parse_subscription(&object).unwrap().cancel_at_period_end);
    }

    #[test]
    fn one_time_purchases_become_never_ending_records() {
        let record = purchase_record("u", "cs_1", "cus_1", "lifetime", &catalog(), Version::of_payload(3), NOW).unwrap();
        assert_eq!(
            (record.status.as_str(), record.interval, record.current_period_end),
            ("active", Some(Interval::OneTime), None)
        );
        assert!(
            purchase_record("u", "cs_1", "cus_1", "pro", &catalog(), Version::of_payload(3), NOW).is_none(),
            "not a one-time plan"
        );
    }

    #[test]
    fn incomplete_objects_are_refused() {
        assert!(parse_subscription(&json!({"id": "sub"})).is_none());
        assert!(parse_subscription(&json!({"id": "in_1", "object": "invoice", "customer": "c", "status": "paid"})).is_none());
        assert!(parse_checkout_session(&json!({"object": "checkout.session"})).is_none());
        assert!(parse_entitlement_summary(&json!({"customer": "cus"})).is_none());
    }

    #[test]
    fn checkout_sessions_read_owner_and_customer() {
        let session = parse_checkout_session(&json!({
            "id": "cs_1", "object": "checkout.session", "status": "complete", "payment_status": "paid", "mode": "payment",
            "customer": {"id": "cus_1"}, "customer_details": {"email": "a@example.com"}, "subscription": null,
            "client_reference_id": "", "payment_link": "plink_1", "metadata": {"user_id": "u1", "plan": "lifetime", "n": 1}
        }))
        .unwrap();
        assert!(session.is_complete());
        assert_eq!(session.metadata_user_id(), Some("u1"));
        assert_eq!((session.customer.as_deref(), session.subscription), (Some("cus_1"), None));
        assert_eq!(session.customer_email.as_deref(), Some("a@example.com"));
        assert_eq!(session.metadata.len(), 2, "non-string metadata is skipped");
    }

    #[test]
    fn a_purchase_stops_granting_when_the_money_goes_back() {
        let charge = |refunded, amount_refunded, dispute: Option<&str>| {
            parse_charge(
                &json!({"id": "ch_1", "object": "charge", "amount": 1000, "amount_refunded": amount_refunded,
                "refunded": refunded, "payment_intent": "pi_1", "disputed": dispute.is_some()}),
            )
            .unwrap()
        };
        let dispute =
            |status: &str| parse_dispute(&json!({"id": "dp_1", "object": "dispute", "charge": "ch_1", "status": status})).unwrap();
        assert_eq!(purchase_status(&charge(true, 1000, None), None), "refunded");
        assert_eq!(
            purchase_status(&charge(false, 400, None), None),
            "active",
            "a partial refund keeps it"
        );
        assert_eq!(
            purchase_status(&charge(false, 0, Some("dp_1")), Some(&dispute("needs_response"))),
            "disputed"
        );
        assert_eq!(purchase_status(&charge(false, 0, Some("dp_1")), Some(&dispute("lost"))), "refunded");
        assert_eq!(purchase_status(&charge(false, 0, Some("dp_1")), Some(&dispute("won"))), "active");
        assert_eq!(charge(false, 0, None).payment_intent.as_deref(), Some("pi_1"));
    }

    #[test]
    fn customers_read_their_metadata_owner() {
        let customer =
            parse_customer(&json!({"id": "cus_1", "object": "customer", "email": "a@example.com", "metadata": {"user_id": "u1"}})).unwrap();
        assert_eq!((customer.metadata_user_id(), customer.deleted), (Some("u1"), false));
        let stub = parse_customer(&json!({"id": "cus_2", "object": "customer", "deleted": true})).unwrap();
        assert_eq!((stub.metadata_user_id(), stub.deleted), (None, true));
    }

    #[test]
    fn entitlement_summaries_embed_keys_unless_there_are_more() {
        let summary = |has_more| {
            json!({"object": "entitlements.active_entitlement_summary", "customer": "cus_1",
                "entitlements": {"data": [{"lookup_key": "b"}, {"lookup_key": "a"}], "has_more": has_more}})
        };
        let read = parse_entitlement_summary(&summary(false)).unwrap();
        assert_eq!(read.features, Some(vec!["b".to_owned(), "a".to_owned()]));
        assert_eq!(parse_entitlement_summary(&summary(true)).unwrap().features, None);
    }
}
