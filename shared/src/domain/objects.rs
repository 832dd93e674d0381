//! Stripe objects as the service reads them, and the records they become.
//!
//! Both sources of objects are read the same way: event payloads (rendered at any API version)
//! and objects the Stripe port fetches (rendered at the pinned version). Each `parse_*` reads
//! JSON through the private wire shapes of `stripe_wire` (tolerant: a field missing or
//! of another type is `None`, never an error) and builds the snapshot the rest of the code uses;
//! the rules that decide what a snapshot says are the named functions here
//! ([`licensed_item`], [`current_period`], [`cancels_at_period_end`], [`fully_refunded`], …).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::plans::{Catalog, Interval, PlanMode};
use crate::domain::records::{SubscriptionRecord, keys};
use crate::domain::status::SubscriptionStatus;
use crate::domain::stripe_wire::{self as wire, Expandable, id_of, read};
use crate::domain::version::Version;

/// `metadata[key]`, unless empty.
fn metadata_text<'a>(metadata: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    metadata.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

/// Whether an object's `object` field, when it has one, names `kind`.
fn is_kind(object: Option<&str>, kind: &str) -> bool {
    object.is_none_or(|o| o == kind)
}

/// What the store keeps of a Stripe subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSnapshot {
    pub subscription_id: String,
    pub customer_id: String,
    pub status: SubscriptionStatus,
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
    /// `pause_collection`, when collection is paused.
    pub pause: Option<crate::domain::pause::PauseCollection>,
    /// `trial_settings.end_behavior.missing_payment_method`: `cancel`, `pause`, `create_invoice`.
    pub trial_end_without_card: Option<String>,
    /// Whether it names a default payment method.
    pub has_payment_method: bool,
    /// `billing_cycle_anchor`: equal to the period start when the period was restarted (a
    /// resume charging a new period at once), not renewed.
    pub billing_cycle_anchor: Option<i64>,
}

/// One item of a subscription, as the rules read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionItem {
    pub id: Option<String>,
    pub price_id: Option<String>,
    pub lookup_key: Option<String>,
    pub recurring_interval: Option<String>,
    /// Its price bills usage reported to a meter (`recurring.usage_type` is `metered`).
    pub metered: bool,
    pub quantity: Option<u64>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
}

impl SubscriptionItem {
    fn from_wire(item: wire::SubscriptionItem) -> Self {
        let price = item.price.as_ref().and_then(Expandable::object);
        Self {
            price_id: id_of(item.price.as_ref()),
            lookup_key: price.and_then(|p| p.lookup_key.clone()),
            recurring_interval: price.and_then(|p| p.recurring.interval.clone()),
            metered: price.and_then(|p| p.recurring.usage_type.as_deref()) == Some("metered"),
            id: item.id,
            quantity: item.quantity,
            current_period_start: item.current_period_start,
            current_period_end: item.current_period_end,
        }
    }
}

/// The item this service manages: the plan's licensed price. Stripe does not promise the order
/// of items, and metered ones (usage billed through meters) ride along: the first item that is
/// not metered, else the first.
pub fn licensed_item(items: &[SubscriptionItem]) -> Option<&SubscriptionItem> {
    items.iter().find(|i| !i.metered).or(items.first())
}

/// The metered items as item id and price id (an item lacking either is left out).
pub fn metered_items(items: &[SubscriptionItem]) -> Vec<(String, String)> {
    items
        .iter()
        .filter(|i| i.metered)
        .filter_map(|i| Some((i.id.clone()?, i.price_id.clone()?)))
        .collect()
}

/// The current period (start, end): API versions since 2025-03-31 keep it on each item (the
/// licensed item's counts); older ones on the subscription. Each bound is the item's when it
/// has one.
pub fn current_period(item: Option<&SubscriptionItem>, subscription: (Option<i64>, Option<i64>)) -> (Option<i64>, Option<i64>) {
    (
        item.and_then(|i| i.current_period_start).or(subscription.0),
        item.and_then(|i| i.current_period_end).or(subscription.1),
    )
}

/// Whether the subscription ends at its period end: the flag, or a `cancel_at` at the period end
/// (what newer cancellations through the portal set instead of the flag).
pub fn cancels_at_period_end(cancel_at_period_end: bool, cancel_at: Option<i64>, current_period_end: Option<i64>) -> bool {
    cancel_at_period_end || (cancel_at.is_some() && cancel_at == current_period_end)
}

/// Reads a subscription object; `None` when it lacks an id, a customer or a status.
pub fn parse_subscription(object: &Value) -> Option<SubscriptionSnapshot> {
    read(object).and_then(SubscriptionSnapshot::from_wire)
}

/// How a subscription's trial ends: `charge` with a default payment method, else its
/// `trial_settings.end_behavior.missing_payment_method` (Stripe's default `create_invoice`).
pub fn trial_ends_by(object: &Value) -> Option<String> {
    let snapshot = parse_subscription(object)?;
    Some(if snapshot.has_payment_method {
        "charge".to_owned()
    } else {
        snapshot.trial_end_without_card.unwrap_or_else(|| "create_invoice".to_owned())
    })
}

/// Whether a subscription payload names a default payment method (`None`: unreadable).
pub fn subscription_has_payment_method(object: &Value) -> Option<bool> {
    read::<wire::Subscription>(object).map(|w| w.default_payment_method.is_some())
}

impl SubscriptionSnapshot {
    /// The snapshot of a subscription read from the wire; `None` as [`parse_subscription`].
    pub(crate) fn from_wire(wire: wire::Subscription) -> Option<Self> {
        if !is_kind(wire.object.as_deref(), "subscription") {
            return None;
        }
        let items: Vec<SubscriptionItem> = wire.items.items().into_iter().map(SubscriptionItem::from_wire).collect();
        let item = licensed_item(&items);
        let (current_period_start, current_period_end) = current_period(item, (wire.current_period_start, wire.current_period_end));
        Some(SubscriptionSnapshot {
            subscription_id: wire.id?,
            customer_id: id_of(wire.customer.as_ref())?,
            status: SubscriptionStatus::from(wire.status?),
            currency: wire.currency,
            price_id: item.and_then(|i| i.price_id.clone()),
            lookup_key: item.and_then(|i| i.lookup_key.clone()),
            recurring_interval: item.and_then(|i| i.recurring_interval.clone()),
            quantity: item.and_then(|i| i.quantity).unwrap_or(1),
            current_period_end,
            cancel_at_period_end: cancels_at_period_end(wire.cancel_at_period_end.unwrap_or(false), wire.cancel_at, current_period_end),
            cancel_at: wire.cancel_at,
            trial_end: wire.trial_end,
            metadata_user_id: crate::domain::billable::from_metadata(&wire.metadata),
            metadata_custom_amount: metadata_text(&wire.metadata, "custom_amount").map(str::to_owned),
            item_id: item.and_then(|i| i.id.clone()),
            current_period_start,
            schedule_id: id_of(wire.schedule.as_ref()),
            other_items: metered_items(&items),
            pause: wire.pause_collection.and_then(|p| {
                Some(crate::domain::pause::PauseCollection {
                    behavior: p.behavior?,
                    resumes_at: p.resumes_at,
                })
            }),
            trial_end_without_card: wire.trial_settings.and_then(|t| t.end_behavior?.missing_payment_method),
            has_payment_method: wire.default_payment_method.is_some(),
            billing_cycle_anchor: wire.billing_cycle_anchor,
        })
    }
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
        let (paused_since, uncollected_period) =
            crate::domain::pause::track(self.pause.as_ref(), self.current_period_start, self.restarted(), previous, since);
        let past_due_since = (self.status == SubscriptionStatus::PastDue).then(|| match previous {
            Some(prev) if prev.status == SubscriptionStatus::PastDue => prev.past_due_since.unwrap_or(since),
            // A paused subscription resumed and not paid: its grace ran out long ago (a resume
            // must not buy a grace period with a card that declines).
            Some(prev) if prev.status == SubscriptionStatus::Paused => 0,
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
            pause: self.pause.clone(),
            paused_since,
            uncollected_period,
            version,
            updated_at: now,
        }
    }
}

impl SubscriptionSnapshot {
    /// Whether the current period was restarted (its start is the billing cycle anchor: a
    /// resume or a reset charged at once), rather than renewed.
    pub fn restarted(&self) -> bool {
        // A trial's end anchors the cycle too: the first paid period after a trial is a renewal.
        self.billing_cycle_anchor.is_some()
            && self.billing_cycle_anchor == self.current_period_start
            && self.trial_end != self.current_period_start
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
    pub fn metadata_user_id(&self) -> Option<String> {
        crate::domain::billable::from_metadata(&self.metadata)
    }

    pub fn is_complete(&self) -> bool {
        self.status.as_deref() == Some("complete")
    }
}

/// Reads a Checkout Session object; `None` without an id.
pub fn parse_checkout_session(object: &Value) -> Option<CheckoutSessionSnapshot> {
    read(object).and_then(CheckoutSessionSnapshot::from_wire)
}

impl CheckoutSessionSnapshot {
    /// `None` as [`parse_checkout_session`].
    pub(crate) fn from_wire(wire: wire::CheckoutSession) -> Option<Self> {
        if !is_kind(wire.object.as_deref(), "checkout.session") {
            return None;
        }
        Some(CheckoutSessionSnapshot {
            id: wire.id?,
            status: wire.status,
            payment_status: wire.payment_status.unwrap_or_default(),
            mode: wire.mode.unwrap_or_default(),
            customer: id_of(wire.customer.as_ref()),
            // The email the buyer entered; older sessions only have the one given at creation.
            customer_email: wire.customer_details.email.or(wire.customer_email),
            subscription: id_of(wire.subscription.as_ref()),
            metadata: wire.metadata,
            url: wire.url,
            created: wire.created.unwrap_or(0),
        })
    }
}

/// A Stripe customer as the service reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerSnapshot {
    pub id: String,
    pub email: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub deleted: bool,
    /// Whether `invoice_settings.default_payment_method` names one (a card added in the portal).
    pub has_payment_method: bool,
}

impl CustomerSnapshot {
    /// The owner its metadata names (`user_id`, or `org_id` for an organization's), set by this
    /// service on the customers it creates.
    pub fn metadata_user_id(&self) -> Option<String> {
        crate::domain::billable::from_metadata(&self.metadata)
    }
}

/// Reads a customer object (or a deleted customer's stub); `None` without an id.
pub fn parse_customer(object: &Value) -> Option<CustomerSnapshot> {
    read(object).and_then(CustomerSnapshot::from_wire)
}

impl CustomerSnapshot {
    /// `None` as [`parse_customer`].
    pub(crate) fn from_wire(wire: wire::Customer) -> Option<Self> {
        if !is_kind(wire.object.as_deref(), "customer") {
            return None;
        }
        Some(CustomerSnapshot {
            id: wire.id?,
            email: wire.email,
            metadata: wire.metadata,
            deleted: wire.deleted.unwrap_or(false),
            has_payment_method: wire.invoice_settings.and_then(|s| s.default_payment_method).is_some(),
        })
    }
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

/// Whether a charge's money is all back with the buyer: Stripe's flag, or refunds adding up to
/// a non-zero amount.
pub fn fully_refunded(refunded: bool, amount: i64, amount_refunded: i64) -> bool {
    refunded || (amount > 0 && amount_refunded >= amount)
}

/// Reads a charge; `None` without an id.
pub fn parse_charge(object: &Value) -> Option<ChargeSnapshot> {
    let wire: wire::Charge = read(object)?;
    if !is_kind(wire.object.as_deref(), "charge") {
        return None;
    }
    Some(ChargeSnapshot {
        id: wire.id?,
        payment_intent: id_of(wire.payment_intent.as_ref()),
        refunded: fully_refunded(
            wire.refunded.unwrap_or(false),
            wire.amount.unwrap_or(0),
            wire.amount_refunded.unwrap_or(0),
        ),
        disputed: wire.disputed.unwrap_or(false),
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
    read(object).and_then(DisputeSnapshot::from_wire)
}

impl DisputeSnapshot {
    /// `None` as [`parse_dispute`].
    pub(crate) fn from_wire(wire: wire::Dispute) -> Option<Self> {
        if !is_kind(wire.object.as_deref(), "dispute") {
            return None;
        }
        Some(DisputeSnapshot {
            id: wire.id?,
            charge: id_of(wire.charge.as_ref()),
            payment_intent: id_of(wire.payment_intent.as_ref()),
            status: wire.status?,
        })
    }
}

/// The status of a one-time purchase given its charge and the charge's dispute: `refunded`
/// when the money is back with the buyer (a full refund, or a lost dispute), `disputed` while a
/// dispute is open, `active` otherwise (a partial refund, a won or warning-closed dispute).
pub fn purchase_status(charge: &ChargeSnapshot, dispute: Option<&DisputeSnapshot>) -> SubscriptionStatus {
    if charge.refunded {
        return SubscriptionStatus::Refunded;
    }
    match dispute.map(|d| d.status.as_str()) {
        Some("lost") => SubscriptionStatus::Refunded,
        Some("won" | "warning_closed") | None => SubscriptionStatus::Active,
        Some(_) => SubscriptionStatus::Disputed,
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
    let wire: wire::EntitlementSummary = read(object)?;
    let customer = id_of(wire.customer.as_ref())?;
    let embedded = wire.entitlements.data?;
    let features = if wire.entitlements.has_more.unwrap_or(false) {
        None
    } else {
        Some(embedded.into_iter().map(|e| e.lookup_key).collect::<Option<Vec<_>>>()?)
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
        status: SubscriptionStatus::Active,
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
        pause: None,
        paused_since: None,
        uncollected_period: None,
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

    fn item(id: &str, metered: bool) -> SubscriptionItem {
        SubscriptionItem {
            id: Some(id.into()),
            price_id: Some(format!("price_{id}")),
            metered,
            ..SubscriptionItem::default()
        }
    }

    #[test]
    fn the_licensed_item_is_the_first_not_metered_else_the_first() {
        let items = [item("m1", true), item("l1", false), item("l2", false)];
        assert_eq!(licensed_item(&items).and_then(|i| i.id.as_deref()), Some("l1"));
        let metered = [item("m1", true), item("m2", true)];
        assert_eq!(licensed_item(&metered).and_then(|i| i.id.as_deref()), Some("m1"));
        assert_eq!(licensed_item(&[]), None);
        let unnamed = SubscriptionItem {
            metered: true,
            ..SubscriptionItem::default()
        };
        assert_eq!(
            metered_items(&[item("m1", true), item("l1", false), unnamed]),
            [("m1".to_owned(), "price_m1".to_owned())],
            "metered items need an id and a price"
        );
    }

    #[test]
    fn the_period_is_the_items_else_the_subscriptions() {
        let newer = SubscriptionItem {
            current_period_start: Some(10),
            current_period_end: Some(20),
            ..SubscriptionItem::default()
        };
        assert_eq!(current_period(Some(&newer), (Some(1), Some(2))), (Some(10), Some(20)));
        assert_eq!(
            current_period(Some(&SubscriptionItem::default()), (Some(1), Some(2))),
            (Some(1), Some(2))
        );
        assert_eq!(current_period(None, (None, Some(2))), (None, Some(2)));
    }

    #[test]
    fn a_cancel_at_the_period_end_is_a_cancel_at_period_end() {
        assert!(cancels_at_period_end(true, None, None));
        assert!(cancels_at_period_end(false, Some(10), Some(10)));
        assert!(!cancels_at_period_end(false, Some(5), Some(10)), "another date is a scheduled end");
        assert!(!cancels_at_period_end(false, None, None), "no cancel_at and no period: none");
        assert!(!cancels_at_period_end(false, Some(10), None));
    }

    #[test]
    fn a_charge_is_fully_refunded_by_flag_or_by_amount() {
        assert!(fully_refunded(true, 1000, 0));
        assert!(fully_refunded(false, 1000, 1000));
        assert!(!fully_refunded(false, 1000, 999));
        assert!(!fully_refunded(false, 0, 0), "nothing charged, nothing refunded");
    }

    #[test]
    fn a_period_anchored_at_a_trial_end_is_a_renewal_not_a_restart() {
        let sub = |anchor: i64, trial_end: Option<i64>| {
            parse_subscription(&json!({
                "object": "subscription", "id": "sub_r", "customer": "cus_r", "status": "active",
                "billing_cycle_anchor": anchor, "trial_end": trial_end,
                "items": {"data": [{"id": "si_r", "current_period_start": 500, "current_period_end": 900, "price": {"id": "price_r"}}]}
            }))
            .unwrap()
        };
        assert!(sub(500, None).restarted(), "a resume anchored the cycle at the period start");
        assert!(sub(500, Some(100)).restarted(), "a trial long over");
        assert!(!sub(500, Some(500)).restarted(), "the first period after the trial");
        assert!(!sub(100, None).restarted(), "a renewal");
    }

    #[test]
    fn subscription_reading_tolerates_odd_shapes() {
        let snap = parse_subscription(&json!({
            "id": "sub_4", "customer": {"id": "cus_4"}, "status": "on_hold", "cancel_at_period_end": "yes",
            "trial_end": "1700000000", "metadata": {"user_id": "", "custom_amount": 5},
            "items": {"data": [{"id": "si_m", "price": {"id": "price_m", "recurring": {"usage_type": "metered"}}},
                               "junk", {"id": "si_l", "quantity": -2, "price": "price_l"}]}
        }))
        .unwrap();
        assert_eq!(snap.status.as_str(), "on_hold", "an unknown status is kept");
        assert_eq!((snap.cancel_at_period_end, snap.trial_end), (false, None));
        assert_eq!((snap.metadata_user_id, snap.metadata_custom_amount), (None, None));
        assert_eq!(
            (snap.item_id, snap.price_id, snap.quantity),
            (None, None, 1),
            "the junk element is the first licensed item"
        );
        assert_eq!(snap.other_items, [("si_m".to_owned(), "price_m".to_owned())]);
        assert!(
            parse_subscription(&json!({"id": "sub_5", "customer": "", "status": "active"})).is_none(),
            "an empty customer id"
        );
        assert!(parse_subscription(&json!(["sub_6"])).is_none());
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
        assert_eq!(session.metadata_user_id().as_deref(), Some("u1"));
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
        assert_eq!((customer.metadata_user_id().as_deref(), customer.deleted), (Some("u1"), false));
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
