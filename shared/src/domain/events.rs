//! Domain events: the billing changes this service publishes for the team's own code (on an
//! EventBridge bus; see `docs/events.md`). Pure: which events a change makes, and their shapes.
//!
//! A Stripe event or a fetch that changes stored state makes its domain events in the same
//! transaction as the change (an outbox item each, see [`crate::domain::records::OutboxRecord`]);
//! the publisher sends them later, in order per customer. Duplicate and stale Stripe events
//! change nothing and so make none.
//!
//! | detail-type | made when |
//! |---|---|
//! | `subscription.created` | a subscription is stored for the first time |
//! | `subscription.updated` | its plan, interval, quantity, status, cancellation or paused collection changed |
//! | `subscription.canceled` | its status became `canceled` (or `incomplete_expired`: never paid) |
//! | `entitlements.changed` | the user's effective feature set changed (the publisher decides it from the stored state, see [`AccessCheck`]) |
//! | `payment.succeeded`, `payment.failed`, `payment.action_required` | `invoice.paid`, `invoice.payment_failed`, `invoice.payment_action_required` applied |
//! | `trial.will_end` | `customer.subscription.trial_will_end` applied |
//! | `usage.threshold` | a quota's count first reached 80 % or 100 % of its limit in a period |
//! | `purchase.completed` | a one-time purchase is stored for the first time |
//! | `purchase.refunded` | a one-time purchase became `refunded` (full refund or lost dispute) |

use std::collections::BTreeSet;

use serde::Serialize;

use crate::domain::plans::Interval;
use crate::domain::records::SubscriptionRecord;
use crate::domain::status::SubscriptionStatus;

/// The `detail-type` of a domain event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DetailType {
    #[serde(rename = "subscription.created")]
    SubscriptionCreated,
    #[serde(rename = "subscription.updated")]
    SubscriptionUpdated,
    #[serde(rename = "subscription.canceled")]
    SubscriptionCanceled,
    #[serde(rename = "entitlements.changed")]
    EntitlementsChanged,
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "payment.action_required")]
    PaymentActionRequired,
    #[serde(rename = "trial.will_end")]
    TrialWillEnd,
    #[serde(rename = "usage.threshold")]
    UsageThreshold,
    #[serde(rename = "purchase.completed")]
    PurchaseCompleted,
    #[serde(rename = "purchase.refunded")]
    PurchaseRefunded,
    #[serde(rename = "seat.assigned")]
    SeatAssigned,
    #[serde(rename = "seat.released")]
    SeatReleased,
}

impl DetailType {
    /// Every detail type, in the order of the docs.
    pub const ALL: [DetailType; 13] = [
        DetailType::SubscriptionCreated,
        DetailType::SubscriptionUpdated,
        DetailType::SubscriptionCanceled,
        DetailType::EntitlementsChanged,
        DetailType::PaymentSucceeded,
        DetailType::PaymentFailed,
        DetailType::PaymentActionRequired,
        DetailType::TrialWillEnd,
        DetailType::UsageThreshold,
        DetailType::PurchaseCompleted,
        DetailType::PurchaseRefunded,
        DetailType::SeatAssigned,
        DetailType::SeatReleased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DetailType::SubscriptionCreated => "subscription.created",
            DetailType::SubscriptionUpdated => "subscription.updated",
            DetailType::SubscriptionCanceled => "subscription.canceled",
            DetailType::EntitlementsChanged => "entitlements.changed",
            DetailType::PaymentSucceeded => "payment.succeeded",
            DetailType::PaymentFailed => "payment.failed",
            DetailType::PaymentActionRequired => "payment.action_required",
            DetailType::TrialWillEnd => "trial.will_end",
            DetailType::UsageThreshold => "usage.threshold",
            DetailType::PurchaseCompleted => "purchase.completed",
            DetailType::PurchaseRefunded => "purchase.refunded",
            DetailType::SeatAssigned => "seat.assigned",
            DetailType::SeatReleased => "seat.released",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

/// The quota thresholds (percent of the limit) that make `usage.threshold`.
pub const USAGE_THRESHOLDS: [u8; 2] = [80, 100];

/// What caused a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Unique per committed change: the Stripe event id, or the fetch (`fetch:<id>`) with the
    /// version it wrote, or the usage counter and threshold.
    pub key: String,
    /// The Stripe event that caused it; `None` for a fetch or a usage record.
    pub stripe_event_id: Option<String>,
    /// When it happened (the Stripe event's `created`, or when the fetch started), unix seconds.
    pub occurred_at: i64,
    /// The engine's version of the state the change wrote.
    pub version: u64,
}

/// The fields every `detail` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Common {
    /// Unique per domain event, the same on every redelivery.
    pub id: String,
    /// The billable (a user's `sub`, or `org:<id>` for an organization's billing); for
    /// `seat.*` and a member's `entitlements.changed`, the member.
    pub user_id: String,
    /// The organization, when the event is about one's billing or one's member.
    pub org_id: Option<String>,
    pub customer_id: String,
    /// The subscription (or, for `purchase.*`, the Checkout Session of the purchase).
    pub subscription_id: Option<String>,
    pub plan: Option<String>,
    pub status: Option<String>,
    pub version: u64,
    pub occurred_at: i64,
    pub stripe_event_id: Option<String>,
}

/// The fields of one detail type, beside [`Common`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Data {
    Subscription(SubscriptionData),
    Entitlements(EntitlementsData),
    Payment(PaymentData),
    Trial(TrialData),
    Usage(UsageData),
    Seat(SeatData),
    /// `purchase.*`: the common fields say it all.
    Purchase {},
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionData {
    pub interval: Option<Interval>,
    pub quantity: u64,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<i64>,
    pub trial_end: Option<i64>,
    /// `subscription.updated`: what changed, of `plan`, `interval`, `quantity`, `status`,
    /// `cancellation`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<&'static str>,
    /// `subscription.updated`: the values before the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Previous {
    pub plan: Option<String>,
    pub interval: Option<Interval>,
    pub quantity: u64,
    pub status: String,
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntitlementsData {
    pub before: BTreeSet<String>,
    pub after: BTreeSet<String>,
    pub added: BTreeSet<String>,
    pub removed: BTreeSet<String>,
}

/// An invoice's payment, as `payment.*` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PaymentData {
    pub invoice_id: Option<String>,
    /// In the currency's smallest unit: paid for `payment.succeeded`, due otherwise.
    pub amount: i64,
    pub currency: Option<String>,
    pub attempt: u64,
    pub next_attempt: Option<i64>,
    pub hosted_invoice_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialData {
    pub trial_end: Option<i64>,
    /// Whether the subscription has a payment method to charge when the trial ends; without
    /// one the user should add a card in the billing portal.
    pub has_payment_method: Option<bool>,
    /// How the trial ends: `charge` (a payment method is on the subscription), or without one
    /// Stripe's `trial_settings.end_behavior.missing_payment_method`: `cancel`, `pause` or
    /// `create_invoice` (an open invoice, then dunning). Adding a card in the billing portal
    /// (`POST /portal`) turns any of them into `charge`.
    pub ends_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageData {
    pub feature: String,
    /// Percent of the limit: 80 or 100.
    pub threshold: u8,
    pub used: u64,
    pub limit: u64,
    pub period_start: i64,
    pub period_end: i64,
}

/// `seat.*`: the slot and the organization's quantity at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatData {
    pub slot: u32,
    pub quantity: u64,
    /// The admin who made the change.
    pub by: String,
}

/// One domain event, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainEvent {
    #[serde(skip)]
    pub detail_type: DetailType,
    #[serde(flatten)]
    pub common: Common,
    #[serde(flatten)]
    pub data: Data,
}

impl DomainEvent {
    /// The `detail` as JSON.
    pub fn detail_json(&self) -> String {
        // A struct of strings, numbers and sets always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Its outbox item: the `seq`-th event of its change.
    pub fn outbox(&self, seq: usize, now: i64) -> crate::domain::records::OutboxRecord {
        crate::domain::records::OutboxRecord::new(
            self.detail_type.as_str(),
            &self.common.id,
            &self.order_key(),
            self.common.version,
            seq,
            self.detail_json(),
            now,
        )
    }

    /// Events of one customer are published in this key's order; a user without a customer
    /// (a free-plan usage threshold) is keyed by user.
    pub fn order_key(&self) -> String {
        if self.common.customer_id.is_empty() {
            format!("user:{}", self.common.user_id)
        } else {
            self.common.customer_id.clone()
        }
    }
}

/// A request to the publisher to decide a user's effective feature set again, after a change
/// that may have moved it: it publishes `entitlements.changed` when the set differs from the
/// one it last published (kept under the user, [`crate::domain::records::AccessSnapshot`]).
/// Deciding there, from everything stored, keeps the webhook's writes to one transaction and
/// makes `before` and `after` the user's whole effective set, not one subscription's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AccessCheck {
    pub id: String,
    pub user_id: String,
    pub customer_id: String,
    pub version: u64,
    pub occurred_at: i64,
    pub stripe_event_id: Option<String>,
}

fn common(cause: &Cause, kind: DetailType, user: &str, record: &SubscriptionRecord) -> Common {
    Common {
        id: event_id(cause, kind, &record.subscription_id),
        user_id: user.to_owned(),
        org_id: crate::domain::billable::Billable::of(user).org_id().map(str::to_owned),
        customer_id: record.customer_id.clone(),
        subscription_id: Some(record.subscription_id.clone()),
        plan: record.plan.clone(),
        status: Some(record.status.as_str().to_owned()),
        version: cause.version,
        occurred_at: cause.occurred_at,
        stripe_event_id: cause.stripe_event_id.clone(),
    }
}

/// The id of the domain event of `kind` about `subject` that `cause` made. A cause makes at
/// most one event of a kind per subject, and its key is unique per committed change.
pub fn event_id(cause: &Cause, kind: DetailType, subject: &str) -> String {
    format!("{}/{}/{}", cause.key, kind.as_str(), subject)
}

fn subscription_data(record: &SubscriptionRecord) -> SubscriptionData {
    SubscriptionData {
        interval: record.interval,
        quantity: record.quantity,
        current_period_end: record.current_period_end,
        cancel_at_period_end: record.cancel_at_period_end,
        cancel_at: record.cancel_at,
        trial_end: record.trial_end,
        changed: Vec::new(),
        previous: None,
    }
}

/// What of `plan`, `interval`, `quantity`, `status`, `cancellation`, `pause` differs.
fn changes(before: &SubscriptionRecord, after: &SubscriptionRecord) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if before.plan != after.plan {
        changed.push("plan");
    }
    if before.interval != after.interval {
        changed.push("interval");
    }
    if before.quantity != after.quantity {
        changed.push("quantity");
    }
    if before.status != after.status {
        changed.push("status");
    }
    if (before.cancel_at_period_end, before.cancel_at) != (after.cancel_at_period_end, after.cancel_at) {
        changed.push("cancellation");
    }
    // Paused collection, or a period it left unpaid: both move what the subscription grants.
    if (&before.pause, before.uncollected_period) != (&after.pause, after.uncollected_period) {
        changed.push("pause");
    }
    changed
}

/// Whether a subscription has ended for good: `canceled`, or `incomplete_expired` (its first
/// payment never came). Either makes `subscription.canceled`.
fn ended(status: &SubscriptionStatus) -> bool {
    matches!(status, SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired)
}

/// Whether a record written over `before` may move the user's features: it is new, or its
/// plan, interval, quantity, status or cancellation changed (a purchase disputed, say, which
/// makes no event of its own).
pub fn may_move_access(before: Option<&SubscriptionRecord>, after: &SubscriptionRecord) -> bool {
    before.is_none_or(|b| !changes(b, after).is_empty())
}

/// The events of a subscription (or one-time purchase) record written over `before`.
pub fn subscription_events(cause: &Cause, user: &str, before: Option<&SubscriptionRecord>, after: &SubscriptionRecord) -> Vec<DomainEvent> {
    let event = |kind, data| DomainEvent {
        detail_type: kind,
        common: common(cause, kind, user, after),
        data,
    };
    if after.interval == Some(Interval::OneTime) {
        let kind = match before {
            None if after.status == SubscriptionStatus::Active => DetailType::PurchaseCompleted,
            _ if after.status == SubscriptionStatus::Refunded && before.is_none_or(|b| b.status != SubscriptionStatus::Refunded) => {
                DetailType::PurchaseRefunded
            }
            _ => return Vec::new(),
        };
        return vec![event(kind, Data::Purchase {})];
    }
    let Some(before) = before else {
        let mut events = vec![event(DetailType::SubscriptionCreated, Data::Subscription(subscription_data(after)))];
        if ended(&after.status) {
            events.push(event(
                DetailType::SubscriptionCanceled,
                Data::Subscription(subscription_data(after)),
            ));
        }
        return events;
    };
    let changed = changes(before, after);
    if changed.is_empty() {
        return Vec::new();
    }
    let kind = if ended(&after.status) && !ended(&before.status) {
        DetailType::SubscriptionCanceled
    } else {
        DetailType::SubscriptionUpdated
    };
    let data = SubscriptionData {
        changed,
        previous: Some(Previous {
            plan: before.plan.clone(),
            interval: before.interval,
            quantity: before.quantity,
            status: before.status.as_str().to_owned(),
            cancel_at_period_end: before.cancel_at_period_end,
            cancel_at: before.cancel_at,
        }),
        ..subscription_data(after)
    };
    vec![event(kind, Data::Subscription(data))]
}

/// What a Stripe event says by itself, beside the state it changes: a payment, or a trial about
/// to end. Made only when the event is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    Payment(DetailType, PaymentData),
    TrialWillEnd {
        has_payment_method: Option<bool>,
        ends_by: Option<String>,
    },
}

impl Signal {
    /// The event of this signal about the subscription `record` as written.
    pub fn event(&self, cause: &Cause, user: &str, record: &SubscriptionRecord) -> DomainEvent {
        match self {
            Signal::Payment(kind, payment) => DomainEvent {
                detail_type: *kind,
                common: common(cause, *kind, user, record),
                data: Data::Payment(payment.clone()),
            },
            Signal::TrialWillEnd {
                has_payment_method,
                ends_by,
            } => DomainEvent {
                detail_type: DetailType::TrialWillEnd,
                common: common(cause, DetailType::TrialWillEnd, user, record),
                data: Data::Trial(TrialData {
                    trial_end: record.trial_end,
                    has_payment_method: *has_payment_method,
                    ends_by: ends_by.clone(),
                }),
            },
        }
    }
}

/// The thresholds (of [`USAGE_THRESHOLDS`]) that `used` has reached under `limit`.
pub fn thresholds_reached(used: u64, limit: u64) -> Vec<u8> {
    USAGE_THRESHOLDS
        .into_iter()
        .filter(|t| limit > 0 && u128::from(used) * 100 >= u128::from(limit) * u128::from(*t))
        .collect()
}

/// A quota's count that reached a threshold, as `usage.threshold` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached<'a> {
    pub user_id: &'a str,
    /// The user's Stripe customer, when linked (`None`: a free-plan user).
    pub customer_id: Option<&'a str>,
    pub plan: Option<&'a str>,
    /// The subscription whose period the counter counts in (`None`: the calendar month).
    pub subscription_id: Option<&'a str>,
    pub usage: UsageData,
    /// When it was recorded.
    pub now: i64,
}

/// `usage.threshold` of `reached`. Its id names the counter, the period and the threshold: the
/// counter makes it once.
pub fn usage_threshold(reached: &Reached<'_>) -> DomainEvent {
    let u = &reached.usage;
    let key = format!("usage:{}:{}:{}:{}", reached.user_id, u.feature, u.period_end, u.threshold);
    DomainEvent {
        detail_type: DetailType::UsageThreshold,
        common: Common {
            id: format!("{key}/{}", DetailType::UsageThreshold.as_str()),
            user_id: reached.user_id.to_owned(),
            org_id: crate::domain::billable::Billable::of(reached.user_id).org_id().map(str::to_owned),
            customer_id: reached.customer_id.unwrap_or_default().to_owned(),
            subscription_id: reached.subscription_id.map(str::to_owned),
            plan: reached.plan.map(str::to_owned),
            status: None,
            version: crate::domain::version::Version::of_payload(reached.now).get(),
            occurred_at: reached.now,
            stripe_event_id: None,
        },
        data: Data::Usage(u.clone()),
    }
}

/// `seat.assigned` or `seat.released` for `member` in organization `org_id` (`org` is the
/// organization's access, for its customer, plan and quantity).
pub fn seat_event(kind: DetailType, seat: &SeatChange<'_>) -> DomainEvent {
    DomainEvent {
        detail_type: kind,
        common: Common {
            id: format!("seat:{}:{}:{}/{}", seat.org_id, seat.member, seat.version, kind.as_str()),
            user_id: seat.member.to_owned(),
            org_id: Some(seat.org_id.to_owned()),
            customer_id: seat.customer_id.to_owned(),
            subscription_id: seat.subscription_id.map(str::to_owned),
            plan: seat.plan.map(str::to_owned),
            status: seat.status.map(str::to_owned),
            version: seat.version,
            occurred_at: seat.at,
            stripe_event_id: None,
        },
        data: Data::Seat(SeatData {
            slot: seat.slot,
            quantity: seat.quantity,
            by: seat.by.to_owned(),
        }),
    }
}

/// A seat assigned or released, as [`seat_event`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatChange<'a> {
    pub org_id: &'a str,
    pub member: &'a str,
    pub by: &'a str,
    pub slot: u32,
    pub quantity: u64,
    pub customer_id: &'a str,
    pub subscription_id: Option<&'a str>,
    pub plan: Option<&'a str>,
    pub status: Option<&'a str>,
    /// When (Unix seconds).
    pub at: i64,
    /// Its place among the organization's events ([`crate::domain::version::Version`] of `at`).
    pub version: u64,
}

/// `entitlements.changed` for a user whose effective set moved from `before` to `after`, or
/// `None` when it did not.
pub fn entitlements_changed(
    check: &AccessCheck,
    plan: Option<String>,
    status: &str,
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
) -> Option<DomainEvent> {
    if before == after {
        return None;
    }
    Some(DomainEvent {
        detail_type: DetailType::EntitlementsChanged,
        common: Common {
            id: check.id.clone(),
            user_id: check.user_id.clone(),
            org_id: crate::domain::billable::Billable::of(&check.user_id).org_id().map(str::to_owned),
            customer_id: check.customer_id.clone(),
            subscription_id: None,
            plan,
            status: Some(status.to_owned()),
            version: check.version,
            occurred_at: check.occurred_at,
            stripe_event_id: check.stripe_event_id.clone(),
        },
        data: Data::Entitlements(EntitlementsData {
            before: before.clone(),
            after: after.clone(),
            added: after.difference(before).cloned().collect(),
            removed: before.difference(after).cloned().collect(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::keys;
    use crate::domain::version::Version;

    fn record(status: &str, plan: &str) -> SubscriptionRecord {
        SubscriptionRecord {
            pk: keys::user("u1"),
            sk: keys::subscription("sub_1"),
            subscription_id: "sub_1".into(),
            customer_id: "cus_1".into(),
            status: SubscriptionStatus::parse(status),
            plan: Some(plan.into()),
            price_id: None,
            interval: Some(Interval::Month),
            quantity: 1,
            current_period_end: Some(100),
            cancel_at_period_end: false,
            current_period_start: None,
            cancel_at: None,
            trial_end: None,
            past_due_since: None,
            pause: None,
            paused_since: None,
            uncollected_period: None,
            version: Version::of_payload(1),
            updated_at: 1,
        }
    }

    fn cause() -> Cause {
        Cause {
            key: "evt_1".into(),
            stripe_event_id: Some("evt_1".into()),
            occurred_at: 5,
            version: 7,
        }
    }

    fn kinds(events: &[DomainEvent]) -> Vec<&'static str> {
        events.iter().map(|e| e.detail_type.as_str()).collect()
    }

    #[test]
    fn a_subscription_is_created_updated_and_canceled() {
        let first = record("trialing", "pro");
        assert_eq!(kinds(&subscription_events(&cause(), "u1", None, &first)), ["subscription.created"]);
        assert!(
            subscription_events(&cause(), "u1", Some(&first), &first).is_empty(),
            "no change, no event"
        );
        let upgraded = SubscriptionRecord {
            quantity: 3,
            ..record("active", "team")
        };
        let events = subscription_events(&cause(), "u1", Some(&first), &upgraded);
        assert_eq!(kinds(&events), ["subscription.updated"]);
        let Data::Subscription(data) = &events[0].data else { panic!() };
        assert_eq!(data.changed, ["plan", "quantity", "status"]);
        assert_eq!(data.previous.as_ref().unwrap().plan.as_deref(), Some("pro"));
        let detail: serde_json::Value = serde_json::from_str(&events[0].detail_json()).unwrap();
        for field in [
            "id",
            "user_id",
            "customer_id",
            "subscription_id",
            "plan",
            "status",
            "version",
            "occurred_at",
            "stripe_event_id",
        ] {
            assert!(detail.get(field).is_some(), "{field} in {detail}");
        }
        assert_eq!(detail["version"], 7);
        assert_eq!(detail["id"], "evt_1/subscription.updated/sub_1");
        let canceled = record("canceled", "team");
        assert_eq!(
            kinds(&subscription_events(&cause(), "u1", Some(&upgraded), &canceled)),
            ["subscription.canceled"]
        );
        let unpaid = record("incomplete", "team");
        let expired = record("incomplete_expired", "team");
        assert_eq!(
            kinds(&subscription_events(&cause(), "u1", Some(&unpaid), &expired)),
            ["subscription.canceled"],
            "a subscription never paid ends as canceled"
        );
        let ending = SubscriptionRecord {
            cancel_at_period_end: true,
            ..upgraded.clone()
        };
        let events = subscription_events(&cause(), "u1", Some(&upgraded), &ending);
        let Data::Subscription(data) = &events[0].data else { panic!() };
        assert_eq!(data.changed, ["cancellation"]);
    }

    #[test]
    fn purchases_complete_once_and_refund_once() {
        let bought = SubscriptionRecord {
            interval: Some(Interval::OneTime),
            ..record("active", "lifetime")
        };
        assert_eq!(kinds(&subscription_events(&cause(), "u1", None, &bought)), ["purchase.completed"]);
        let refunded = SubscriptionRecord {
            status: SubscriptionStatus::Refunded,
            ..bought.clone()
        };
        assert_eq!(
            kinds(&subscription_events(&cause(), "u1", Some(&bought), &refunded)),
            ["purchase.refunded"]
        );
        assert!(subscription_events(&cause(), "u1", Some(&refunded), &refunded).is_empty());
    }

    #[test]
    fn thresholds_are_reached_at_80_and_100_percent() {
        assert!(thresholds_reached(79, 100).is_empty());
        assert_eq!(thresholds_reached(80, 100), [80]);
        assert_eq!(thresholds_reached(5, 5), [80, 100]);
        assert_eq!(thresholds_reached(4, 5), [80]);
        assert!(thresholds_reached(3, 0).is_empty());
    }

    #[test]
    fn entitlements_change_only_when_the_set_moves() {
        let check = AccessCheck {
            id: "c1".into(),
            user_id: "u1".into(),
            customer_id: "cus_1".into(),
            version: 3,
            occurred_at: 4,
            stripe_event_id: None,
        };
        let a: BTreeSet<String> = ["x".to_owned()].into();
        let b: BTreeSet<String> = ["x".to_owned(), "y".to_owned()].into();
        assert!(entitlements_changed(&check, None, "active", &a, &a).is_none());
        let event = entitlements_changed(&check, Some("pro".into()), "active", &a, &b).unwrap();
        let Data::Entitlements(data) = &event.data else { panic!() };
        assert_eq!(data.added.iter().collect::<Vec<_>>(), ["y"]);
        assert!(data.removed.is_empty());
        for kind in DetailType::ALL {
            assert_eq!(DetailType::parse(kind.as_str()), Some(kind));
        }
    }
}
