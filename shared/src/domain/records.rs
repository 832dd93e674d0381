//! What the table stores: key names and prefixes, and the typed records of the single-table
//! design. Plain serde types; the DynamoDB adapter (`adapters::store`) reads and writes them.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `USER#<sub>` | `CUSTOMER` | [`CustomerLink`]: the user's Stripe customer |
//! | `USER#<sub>` | `SUB#<sub_…>` | [`SubscriptionRecord`] (versioned) |
//! | `USER#<sub>` | `ENTITLEMENTS` | [`EntitlementsRecord`] (versioned) |
//! | `USER#<sub>` | `SCHEDULE#<sub_…>` | [`ScheduleRecord`]: a subscription's pending change (versioned) |
//! | `CUSTOMER#<cus_…>` | `USER` | [`CustomerOwner`]: reverse mapping |
//! | `EVENT#<evt_…>` | `EVENT` | [`EventRecord`]: dedupe marker of a Stripe event (TTL) |
//! | `AUDIT#<sub>` | `<created>#<evt_…>` | [`AuditRecord`] (TTL) |
//! | `REQUEST#<hash>` | `REQUEST` | [`RequestClaim`]: a client's `Idempotency-Key` and the request it was first used for (TTL) |
//! | `USER#<sub>` | `USAGE#<period end>#<feature>` | [`UsageCounter`]: units used in one period (TTL after the period) |
//! | `BATCH#<identifier>` | `BATCH` | [`UsageBatch`]: metered units sealed for one meter event (TTL once sent) |
//! | `RATE#<sub>` | `<minute>` | a user's count of Stripe-calling requests in one minute (TTL) |
//! | `FENCE#<sub_…>` | `FENCE` | [`MeteringFence`]: metered usage of a subscription closed before its cancel |
//! | `RECONCILE` | `EVENTS` | [`ReconcileState`]: how far reconcile has applied Stripe's events, and a pending sweep |
//! | `OUTBOX` | `<customer>#<version>#<seq>#<id>` | [`OutboxRecord`]: a domain event (or an access check) written with the change that made it, until published |
//! | `OUTBOX#PARKED` | as above | an [`OutboxRecord`] that EventBridge kept refusing, kept for review |
//! | `OUTBOX#LATER` | `<past_due_since>#<id>` | an access check due when a `past_due` grace period ends (the publisher adds the grace) |
//! | `NOTIFIED#<domain event id>` | `EMAIL` | the email of a domain event was sent (TTL) |
//! | `USER#<sub>` | `GRANT#<feature>` | [`crate::domain::grant_records::GrantRecord`]: a feature given by support until a time (TTL after) |
//! | `USER#<sub>` | `ACCESS` | [`AccessSnapshot`]: the effective feature set last published in `entitlements.changed` |
//!
//! The sparse index [`REPORT_INDEX`] (hash key `report`) holds only the counters with metered
//! units not reported yet (`pending`) and the batches sealed but not sent (`sealed`): what the
//! usage reporter works on.
//!
//! Everything an entitlement check needs lives under `pk=USER#<sub>`: one Query answers it.
//! Audit rows live under their own partition so that Query stays small however long a user's
//! history grows.

use serde::{Deserialize, Serialize};

use crate::domain::plans::Interval;
use crate::domain::status::SubscriptionStatus;
use crate::domain::version::Version;

/// Attribute names and key prefixes, in one place.
pub mod keys {
    /// Partition key attribute.
    pub const PK: &str = "pk";
    /// Sort key attribute.
    pub const SK: &str = "sk";
    /// TTL attribute (epoch seconds). DynamoDB deletes expired items eventually; readers
    /// filter on it too.
    pub const TTL: &str = "expires_at";
    /// Version attribute used by order guards.
    pub const VERSION: &str = "version";
    /// Customer id attribute of [`super::CustomerLink`].
    pub const CUSTOMER_ID: &str = "customer_id";
    /// User id attribute of [`super::CustomerOwner`].
    pub const USER_ID: &str = "user_id";
    /// Request fingerprint attribute of [`super::RequestClaim`].
    pub const FINGERPRINT: &str = "fingerprint";

    pub const USER_PREFIX: &str = crate::domain::billable::USER_PARTITION_PREFIX;
    pub const CUSTOMER_PREFIX: &str = "CUSTOMER#";
    pub const EVENT_PREFIX: &str = "EVENT#";
    pub const AUDIT_PREFIX: &str = "AUDIT#";
    pub const SUB_PREFIX: &str = "SUB#";
    pub const SCHEDULE_PREFIX: &str = "SCHEDULE#";
    pub const USAGE_PREFIX: &str = "USAGE#";
    pub const BATCH_PREFIX: &str = "BATCH#";
    pub const SK_BATCH: &str = "BATCH";
    /// The sparse index key: `pending` (a counter with unreported metered units) or `sealed`
    /// (a batch not sent yet); absent otherwise.
    pub const REPORT: &str = "report";
    /// Counters are spread over [`REPORT_SHARDS`] index keys `pending#<n>`, so that metered
    /// writes of many users do not all land on one index partition.
    pub const REPORT_PENDING: &str = "pending";
    pub const REPORT_SHARDS: u32 = 8;
    pub const REPORT_SEALED: &str = "sealed";
    /// Batches taken out of the queue for review (Stripe kept refusing them, or whether Stripe
    /// has them can no longer be told).
    pub const REPORT_PARKED: &str = "parked";

    /// The index key of a counter of `user_id` waiting to be reported.
    pub fn report_pending(user_id: &str) -> String {
        let shard = user_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % REPORT_SHARDS;
        format!("{REPORT_PENDING}#{shard}")
    }
    pub const REQUEST_PREFIX: &str = "REQUEST#";
    /// Per-user counters of requests that call Stripe, one item per minute.
    pub const RATE_PREFIX: &str = "RATE#";
    /// A metering fence: a subscription whose metered usage is closed (canceled now).
    pub const FENCE_PREFIX: &str = "FENCE#";
    pub const SK_FENCE: &str = "FENCE";
    pub const SK_REQUEST: &str = "REQUEST";

    pub const SK_CUSTOMER: &str = "CUSTOMER";
    pub const SK_USER: &str = "USER";
    pub const SK_ENTITLEMENTS: &str = "ENTITLEMENTS";
    pub const SK_EVENT: &str = "EVENT";
    /// The outbox of domain events: one partition, sorted by customer, then version.
    pub const OUTBOX: &str = "OUTBOX";
    /// Domain events taken out of the outbox after [`super::OUTBOX_MAX_ATTEMPTS`] refusals.
    pub const OUTBOX_PARKED: &str = "OUTBOX#PARKED";
    /// Access checks due later (the end of a `past_due` grace period), sorted by when.
    pub const OUTBOX_LATER: &str = "OUTBOX#LATER";
    /// The user's last published effective feature set.
    pub const SK_ACCESS: &str = "ACCESS";
    /// The marker of an email sent for a domain event (TTL).
    pub const NOTIFIED_PREFIX: &str = "NOTIFIED#";
    pub const SK_NOTIFIED: &str = "EMAIL";
    pub fn notified(event_id: &str) -> String {
        format!("{NOTIFIED_PREFIX}{event_id}")
    }
    /// Reconcile's checkpoint item.
    pub const RECONCILE: &str = "RECONCILE";
    pub const SK_RECONCILE_EVENTS: &str = "EVENTS";

    /// The partition of a billable: `USER#<sub>`, or `ORG#<org id>` for an organization's
    /// billable id ([`crate::domain::billable`]).
    pub fn user(user_id: &str) -> String {
        crate::domain::billable::partition(user_id)
    }
    /// An organization's seat slots: `SEATS#<org id>` / `SLOT#<n>`.
    pub const SEATS_PREFIX: &str = "SEATS#";
    pub const SLOT_PREFIX: &str = "SLOT#";
    /// A member's seat, in the member's own partition: `USER#<sub>` / `SEAT#<org id>`.
    pub const SEAT_PREFIX: &str = "SEAT#";
    pub fn seats(org_id: &str) -> String {
        format!("{SEATS_PREFIX}{org_id}")
    }
    /// Slots sort by number (zero-padded).
    pub fn slot(slot: u32) -> String {
        format!("{SLOT_PREFIX}{slot:05}")
    }
    pub fn seat(org_id: &str) -> String {
        format!("{SEAT_PREFIX}{org_id}")
    }
    pub fn customer(customer_id: &str) -> String {
        format!("{CUSTOMER_PREFIX}{customer_id}")
    }
    pub fn subscription(subscription_id: &str) -> String {
        format!("{SUB_PREFIX}{subscription_id}")
    }
    /// The sort key of a subscription's [`super::ScheduleRecord`].
    pub fn schedule(subscription_id: &str) -> String {
        format!("{SCHEDULE_PREFIX}{subscription_id}")
    }
    /// The sort key of a usage counter.
    pub fn usage(period_end: i64, feature: &str) -> String {
        format!("{USAGE_PREFIX}{period_end}#{feature}")
    }
    pub fn batch(identifier: &str) -> String {
        format!("{BATCH_PREFIX}{identifier}")
    }
    pub fn event(event_id: &str) -> String {
        format!("{EVENT_PREFIX}{event_id}")
    }
    pub fn rate(subject: &str) -> String {
        format!("{RATE_PREFIX}{subject}")
    }
    pub fn fence(subscription_id: &str) -> String {
        format!("{FENCE_PREFIX}{subscription_id}")
    }
    pub fn audit(user_id: &str) -> String {
        format!("{AUDIT_PREFIX}{user_id}")
    }
}

/// The table's key schema. `template.yaml` repeats it by hand; a test keeps the two equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSchema {
    pub hash_key: &'static str,
    pub range_key: &'static str,
    pub ttl_attribute: &'static str,
}

pub const TABLE_SCHEMA: TableSchema = TableSchema {
    hash_key: keys::PK,
    range_key: keys::SK,
    ttl_attribute: keys::TTL,
};

/// The sparse global secondary index of the usage reporter (hash key [`keys::REPORT`], all
/// attributes projected).
pub const REPORT_INDEX: &str = "report";

/// `USER#<sub>` / `CUSTOMER`: which Stripe customer belongs to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerLink {
    pub pk: String,
    pub sk: String,
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub created_at: i64,
}

impl CustomerLink {
    pub fn new(user_id: &str, customer_id: &str, email: Option<&str>, now: i64) -> Self {
        Self {
            pk: keys::user(user_id),
            sk: keys::SK_CUSTOMER.into(),
            customer_id: customer_id.into(),
            email: email.map(Into::into),
            created_at: now,
        }
    }

    /// The billable id this link belongs to (read back from its partition key).
    pub fn user_id(&self) -> String {
        crate::domain::billable::from_partition(&self.pk).unwrap_or_else(|| self.pk.clone())
    }
}

/// `CUSTOMER#<cus>` / `USER`: which user a Stripe customer belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerOwner {
    pub pk: String,
    pub sk: String,
    pub user_id: String,
}

impl CustomerOwner {
    pub fn new(customer_id: &str, user_id: &str) -> Self {
        Self {
            pk: keys::customer(customer_id),
            sk: keys::SK_USER.into(),
            user_id: user_id.into(),
        }
    }
}

/// `USER#<sub>` / `SUB#<id>`: the last known state of one Stripe subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub pk: String,
    pub sk: String,
    pub subscription_id: String,
    pub customer_id: String,
    /// Stripe's status (`active`, `trialing`, `past_due`, `canceled`, …), or this service's for
    /// a one-time purchase (`refunded`, `disputed`); stored as its string.
    pub status: SubscriptionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    pub quantity: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    /// The start of the current period (records written before it was kept lack it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_start: Option<i64>,
    /// When the subscription is set to end (`cancel_at`): the period end when
    /// `cancel_at_period_end`, or another time chosen in Stripe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_end: Option<i64>,
    /// When the subscription went `past_due` (start of the grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_due_since: Option<i64>,
    /// Stripe's `pause_collection` ([`crate::domain::pause`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<crate::domain::status::PauseCollection>,
    /// When collection was first seen paused (kept while it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_since: Option<i64>,
    /// The start of a period that began while collection was paused: it grants nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncollected_period: Option<i64>,
    /// Order guard: a write only lands when its version is higher than the stored one.
    pub version: Version,
    pub updated_at: i64,
}

/// `USER#<sub>` / `ENTITLEMENTS`: the materialized Stripe active-entitlement summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitlementsRecord {
    pub pk: String,
    pub sk: String,
    pub customer_id: String,
    /// Feature lookup keys.
    pub features: Vec<String>,
    pub version: Version,
    pub updated_at: i64,
}

impl EntitlementsRecord {
    /// The record of `features` (sorted, without duplicates).
    pub fn new(user_id: &str, customer_id: &str, mut features: Vec<String>, version: Version, now: i64) -> Self {
        features.sort();
        features.dedup();
        Self {
            pk: keys::user(user_id),
            sk: keys::SK_ENTITLEMENTS.into(),
            customer_id: customer_id.into(),
            features,
            version,
            updated_at: now,
        }
    }
}

/// `EVENT#<evt>` / `EVENT`: a processed webhook event (dedupe), kept for [`EVENT_TTL_SECS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub pk: String,
    pub sk: String,
    pub event_type: String,
    /// `applied`, `stale`, `ignored`, `unmatched`, `conflict`.
    pub outcome: String,
    pub created: i64,
    pub processed_at: i64,
    pub expires_at: i64,
}

/// `REQUEST#<hash of user and key>` / `REQUEST`: the first request a client's `Idempotency-Key`
/// was used for (its fingerprint: operation and body), kept as long as Stripe keeps keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestClaim {
    pub pk: String,
    pub sk: String,
    pub fingerprint: String,
    /// The answer given the first time, when the caller keeps one (usage records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stripe keeps idempotency keys for a day.
pub const REQUEST_TTL_SECS: i64 = 86_400;

impl RequestClaim {
    /// `id` is a hash of the user and the client's key (never the raw key).
    pub fn new(id: &str, fingerprint: &str, now: i64) -> Self {
        Self {
            pk: format!("{}{id}", keys::REQUEST_PREFIX),
            sk: keys::SK_REQUEST.into(),
            fingerprint: fingerprint.into(),
            answer: None,
            created_at: now,
            expires_at: now + REQUEST_TTL_SECS,
        }
    }
}

/// Stripe retries for up to 3 days; dedupe records outlive that.
pub const EVENT_TTL_SECS: i64 = 30 * 86_400;
/// How long audit rows are kept.
pub const AUDIT_TTL_SECS: i64 = 90 * 86_400;

impl EventRecord {
    pub fn new(event_id: &str, event_type: &str, outcome: &str, created: i64, now: i64) -> Self {
        Self {
            pk: keys::event(event_id),
            sk: keys::SK_EVENT.into(),
            event_type: event_type.into(),
            outcome: outcome.into(),
            created,
            processed_at: now,
            expires_at: now + EVENT_TTL_SECS,
        }
    }
}

/// `AUDIT#<sub>` / `<created>#<evt_…>`: what one event (or one fetch from Stripe) changed for a
/// user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub pk: String,
    pub sk: String,
    /// The Stripe event id, or `fetch:<what>` for state fetched from Stripe.
    pub event_id: String,
    pub event_type: String,
    pub outcome: String,
    pub before: String,
    pub after: String,
    pub expires_at: i64,
    /// Who acted, for support actions: the IAM caller's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

impl AuditRecord {
    /// `change` is the (before, after) summary.
    pub fn new(user_id: &str, event_id: &str, event_type: &str, created: i64, outcome: &str, change: (String, String), now: i64) -> Self {
        let (before, after) = change;
        Self {
            pk: keys::audit(user_id),
            sk: format!("{created:012}#{event_id}"),
            event_id: event_id.into(),
            event_type: event_type.into(),
            outcome: outcome.into(),
            before,
            after,
            expires_at: now + AUDIT_TTL_SECS,
            actor: None,
        }
    }
}

/// `RECONCILE` / `EVENTS`: how far the reconcile service got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileState {
    pub pk: String,
    pub sk: String,
    /// Every event created up to this second (Unix) was applied or deliberately skipped;
    /// `None` before the first run that read Stripe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<i64>,
    /// A sweep of every Stripe customer in progress: the last customer done (`""`: none yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_after: Option<String>,
    #[serde(default)]
    pub updated_at: i64,
}

impl ReconcileState {
    pub fn new() -> Self {
        Self {
            pk: keys::RECONCILE.into(),
            sk: keys::SK_RECONCILE_EVENTS.into(),
            checkpoint: None,
            sweep_after: None,
            updated_at: 0,
        }
    }
}

impl Default for ReconcileState {
    fn default() -> Self {
        Self::new()
    }
}

/// Publish attempts of an outbox item before it is parked (`OUTBOX#PARKED`) and alarmed.
pub const OUTBOX_MAX_ATTEMPTS: u32 = 10;

/// The outbox kind of an access check ([`crate::domain::events::AccessCheck`]): decided and
/// maybe published by the publisher, never published as itself.
pub const ACCESS_CHECK_KIND: &str = "access.check";

/// `OUTBOX` / `<order key>#<version>#<check><seq>#<id>`: a domain event recorded in the same
/// transaction as the change that made it, deleted once published. The sort key orders a
/// customer's events by version; of one version, events before access checks (`<check>` is 0
/// or 1), and within one change as made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub pk: String,
    pub sk: String,
    /// The domain event's `id`.
    pub id: String,
    /// Its `detail-type`, or [`ACCESS_CHECK_KIND`].
    pub kind: String,
    /// The order key ([`crate::domain::events::DomainEvent::order_key`]).
    pub order_key: String,
    /// The `detail` JSON (an access check's JSON for [`ACCESS_CHECK_KIND`]).
    pub detail: String,
    /// Publish attempts that failed so far.
    #[serde(default)]
    pub attempts: u32,
    pub created: i64,
}

impl OutboxRecord {
    /// The item of the `seq`-th event of one change.
    pub fn new(kind: &str, id: &str, order_key: &str, version: u64, seq: usize, detail: String, now: i64) -> Self {
        Self {
            pk: keys::OUTBOX.into(),
            // Of one version, access checks come after the events: an `entitlements.changed`
            // follows the subscription or purchase event that caused it.
            sk: format!("{order_key}#{version:020}#{}{seq:03}#{id}", u8::from(kind == ACCESS_CHECK_KIND)),
            id: id.into(),
            kind: kind.into(),
            order_key: order_key.into(),
            detail,
            attempts: 0,
            created: now,
        }
    }
}

impl OutboxRecord {
    /// An access check due once the grace period that started at `since` has run out.
    pub fn later(id: &str, order_key: &str, since: i64, detail: String, now: i64) -> Self {
        Self {
            pk: keys::OUTBOX_LATER.into(),
            sk: format!("{:020}#{id}", since.max(0)),
            id: id.into(),
            kind: ACCESS_CHECK_KIND.into(),
            order_key: order_key.into(),
            detail,
            attempts: 0,
            created: now,
        }
    }
}

/// `USER#<sub>` / `ACCESS`: the effective feature set last published for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSnapshot {
    pub pk: String,
    pub sk: String,
    pub features: std::collections::BTreeSet<String>,
    pub version: u64,
    pub updated_at: i64,
}

impl AccessSnapshot {
    pub fn new(user_id: &str, features: std::collections::BTreeSet<String>, version: u64, now: i64) -> Self {
        Self {
            pk: keys::user(user_id),
            sk: keys::SK_ACCESS.into(),
            features,
            version,
            updated_at: now,
        }
    }
}

/// Everything stored under one user's partition, read with one Query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserItems {
    pub customer: Option<CustomerLink>,
    pub subscriptions: Vec<SubscriptionRecord>,
    pub entitlements: Option<EntitlementsRecord>,
    pub schedules: Vec<ScheduleRecord>,
    /// Usage counters (of every period still kept).
    pub usage: Vec<UsageCounter>,
    /// The effective feature set last published (`entitlements.changed`).
    pub access: Option<AccessSnapshot>,
    /// The user's seats in organizations.
    pub seats: Vec<crate::domain::seat_records::SeatRecord>,
    /// Support grants ([`crate::domain::grants`]), ended ones included until DynamoDB deletes them.
    pub grants: Vec<crate::domain::grant_records::GrantRecord>,
}

/// `USER#<sub>` / `USAGE#<period end>#<feature>`: the units a user used of one counter in one
/// period. The check and the increment are one conditional write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCounter {
    pub pk: String,
    pub sk: String,
    pub feature: String,
    pub period_start: i64,
    pub period_end: i64,
    /// Every unit counted in the period.
    pub used: u64,
    /// Units counted under a limit (the quota's count): a plan change in the period does not
    /// charge the units of the plan before it against the quota of the plan after it.
    #[serde(default)]
    pub limited: u64,
    /// Units counted while metered (what Stripe bills): units of a plan that was not metered
    /// are never reported.
    #[serde(default)]
    pub metered: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// The Stripe meter (event name) that bills these units, when metered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The subscription whose billing period this counter counts in (`None`: the calendar
    /// month of the free plan or of one-time purchases). A restarted period carries the quota
    /// count of the overlapping subscription counters ([`crate::domain::usage::carried`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// Metered units sealed into batches for Stripe so far.
    #[serde(default)]
    pub reported: u64,
    /// Metered units of its batches that left the queue, sent (or refused by Stripe for good):
    /// `settled == reported` when no batch of the counter is on its way. `None` for a counter
    /// sealed before this was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    pub expires_at: i64,
}

impl UsageCounter {
    /// The billable this counter belongs to.
    pub fn user_id(&self) -> String {
        crate::domain::billable::from_partition(&self.pk).unwrap_or_else(|| self.pk.clone())
    }
}

/// Counters are kept this long after their period ends (the reporter's and `GET /usage`'s
/// window; Stripe accepts meter events up to 35 days old).
pub const USAGE_TTL_AFTER_PERIOD_SECS: i64 = 40 * 86_400;

/// `BATCH#<identifier>` / `BATCH`: metered units of one counter sealed for one Stripe meter event.
/// The identifier is fixed at sealing: a resend after a crash or a Stripe error carries the same
/// one, and Stripe counts it once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBatch {
    pub pk: String,
    pub sk: String,
    pub identifier: String,
    pub counter_pk: String,
    pub counter_sk: String,
    pub customer_id: String,
    pub meter: String,
    /// Units: the counter's `reported` moved from `from` to `to`.
    pub from: u64,
    pub to: u64,
    /// The meter event's timestamp: inside the counter's period.
    pub timestamp: i64,
    /// The end of the counter's period.
    #[serde(default)]
    pub period_end: i64,
    /// `sealed`, `sent`, `rejected` (Stripe refused it for good, e.g. too old) or `parked`
    /// (out of the queue for review).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// When it was sealed (its first send follows at once).
    pub created_at: i64,
    /// Runs in which Stripe refused it (a 4xx that may pass later: a meter deactivated, say).
    #[serde(default)]
    pub refusals: u32,
    /// Why it was parked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_reason: Option<String>,
    /// When an operator put it back in the queue after review (its sends count from then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeued_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl UsageBatch {
    pub fn value(&self) -> u64 {
        self.to.saturating_sub(self.from)
    }
}

/// `FENCE#<sub_…>` / `FENCE`: the metered usage of a subscription is closed until `until`
/// (the cancel-now path closes it before it reports the last units and cancels; metered records
/// for it are refused while the fence is in force).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeteringFence {
    pub pk: String,
    pub sk: String,
    pub subscription_id: String,
    pub until: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

impl MeteringFence {
    pub fn new(subscription_id: &str, until: i64, now: i64) -> Self {
        Self {
            pk: keys::fence(subscription_id),
            sk: keys::SK_FENCE.into(),
            subscription_id: subscription_id.into(),
            until,
            created_at: now,
            expires_at: until.max(now) + 86_400,
        }
    }
}

/// A change a Subscription Schedule will make to a subscription at `at` (its next phase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledChange {
    /// The catalog plan of the next phase's price, when the catalog knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    pub price_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    pub quantity: u64,
    pub at: i64,
}

/// `USER#<sub>` / `SCHEDULE#<subscription id>`: the Subscription Schedule attached to one
/// subscription, as far as it changes it later. Written from `subscription_schedule.*` events and
/// by the subscription function; versioned like a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    pub pk: String,
    pub sk: String,
    pub subscription_id: String,
    /// The schedule (`sub_sched_…`); `None` once none is attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    /// Stripe's schedule status (`not_started`, `active`, `completed`, `released`, `canceled`),
    /// or `none`.
    pub status: String,
    /// What the next phase changes, while the schedule is running and has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ScheduledChange>,
    pub version: Version,
    pub updated_at: i64,
}

impl ScheduleRecord {
    /// Whether the schedule still drives its subscription.
    pub fn is_running(&self) -> bool {
        matches!(self.status.as_str(), "active" | "not_started")
    }
}

/// Stripe statuses of a subscription that is still running (it can be changed, renews or is
/// being retried): [`SubscriptionStatus::is_live`].
pub fn is_live_status(status: &SubscriptionStatus) -> bool {
    status.is_live()
}

impl UserItems {
    /// The subscriptions that are still running (`active`, `trialing`, `past_due`).
    pub fn live_subscriptions(&self) -> impl Iterator<Item = &SubscriptionRecord> {
        self.subscriptions.iter().filter(|s| is_live_status(&s.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_links_name_their_user() {
        let link = CustomerLink::new("u1", "cus_1", None, 5);
        assert_eq!((link.pk.as_str(), link.user_id().as_str()), ("USER#u1", "u1"));
        assert_eq!(CustomerOwner::new("cus_1", "u1").pk, "CUSTOMER#cus_1");
        assert_eq!(keys::subscription("sub_1"), "SUB#sub_1");
    }

    #[test]
    fn entitlement_records_are_sorted_sets() {
        let record = EntitlementsRecord::new("u", "cus", vec!["b".into(), "a".into(), "b".into()], Version::of_payload(1), 1);
        assert_eq!(record.features, vec!["a", "b"]);
    }

    #[test]
    fn audit_rows_sort_by_time_then_event() {
        let row = AuditRecord::new("u", "evt_1", "t", 42, "applied", (String::new(), String::new()), 0);
        assert_eq!(row.sk, "000000000042#evt_1");
        assert_eq!(row.expires_at, AUDIT_TTL_SECS);
    }
}
