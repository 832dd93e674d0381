//! The effective access rules of the entitlement check: what a user may use, decided by ONE pure
//! function, [`decide`], from the plans catalog, the items stored under the user's partition and
//! the current time. No I/O, no clock, no panics: the caller reads [`UserItems`] (one Query) and
//! passes `now`.
//!
//! # Per subscription
//!
//! Every [`SubscriptionRecord`] is judged on its own first. `status` is Stripe's status
//! ([`SubscriptionStatus`], read from its string exactly: Stripe sends lowercase). Time windows
//! are half-open: a window that ends at `t` still grants at `t - 1` and no longer grants at `t`.
//!
//! | stored status | condition | grants | status reported | reason |
//! |---|---|---|---|---|
//! | `active` | | yes | `active` | `active` |
//! | `trialing` | | yes | `trialing` | `trialing` |
//! | `past_due` | `now < past_due_since + grace` | yes | `grace_past_due` | `grace_past_due` |
//! | `past_due` | `now >= past_due_since + grace` | no | `past_due` | `past_due_grace_expired` |
//! | `past_due` | `past_due_since` missing | no | `past_due` | `past_due_grace_expired` |
//! | `active`, `trialing`, `past_due` | `cancel_at_period_end` and `now >= current_period_end` | no | `canceled` | `period_ended` |
//! | `active`, `trialing`, `past_due` | `cancel_at` set and `now >= cancel_at` | no | `canceled` | `period_ended` |
//! | `canceled` | | no | `canceled` | `canceled` |
//! | `unpaid` | | no | `unpaid` | `unpaid` |
//! | `incomplete` | | no | `incomplete` | `incomplete` |
//! | `incomplete_expired` | | no | `incomplete_expired` | `incomplete` |
//! | `paused` | | no | `paused` | `paused` |
//! | `refunded` (a one-time purchase refunded, or charged back) | | no | `refunded` | `refunded` |
//! | `disputed` (a one-time purchase with an open dispute) | | no | `disputed` | `disputed` |
//! | anything else | | no | `unknown` | `unknown_status` |
//!
//! - `grace` is [`AccessPolicy::past_due_grace`] (default 7 days).
//! - **`past_due` without `past_due_since` gets no grace.** The grace cannot be anchored on
//!   `current_period_end`: Stripe advances the period when it creates the renewal invoice, so a
//!   `past_due` subscription's `current_period_end` is the end of the period that was *not* paid,
//!   and "period end + grace" would hand out a whole unpaid period plus the grace. `updated_at`
//!   is no anchor either (every later sync moves it). The webhook sync records
//!   `past_due_since` when it first sees `past_due`; a record without it is denied (fail closed).
//! - `cancel_at_period_end` keeps access until `current_period_end`, even when the stored status
//!   still says `active` afterwards (the `customer.subscription.deleted` webhook may be late).
//!   Without a `current_period_end` the end is unknown and the status decides.
//! - A subscription that renews (`cancel_at_period_end` false) keeps access past a stale
//!   `current_period_end`: Stripe's status is the authority, and a late renewal webhook must not
//!   lock out a paying user. Likewise a `trialing` record past its `trial_end`.
//!
//! # Combining
//!
//! | situation | features | limits | plan / status (the "headline") | [`Access::reason`] |
//! |---|---|---|---|---|
//! | some subscription grants, Stripe entitlements stored, no live subscription withheld | the entitlements summary's lookup keys | catalog plans of the granting subscriptions | best granting subscription | its reason |
//! | some subscription grants, no entitlements stored | union of the catalog plans of the granting subscriptions | same | best granting subscription | its reason |
//! | subscriptions, none grants | the free plan's (none without one) | the free plan's | most recent subscription | its deny reason |
//! | no subscription | the free plan's (none without one) | the free plan's | free plan id (or none) / `none` | `free_plan` (`no_subscription` without one) |
//!
//! - Several granting subscriptions combine: union of features, the highest value per limit name.
//!   The subscription quantity does not scale limits.
//! - A subscription Stripe keeps live (`active`, `trialing`, `past_due`) that grants nothing
//!   here (collection paused, an unpaid period, a grace run out, a period ended) still has its
//!   features in Stripe's summary: with one, the summary is set aside for the granting plans'
//!   catalog features.
//! - A stored entitlements summary never grants on its own: when no subscription grants (all
//!   canceled, say) it is ignored, so a stale summary cannot keep access alive.
//! - One-time purchases (records with interval `one_time`) always contribute their catalog
//!   plan's features: Stripe Entitlements cover subscriptions only, so a summary must not hide
//!   what was bought once.
//! - The free plan applies only when no subscription grants; paid plans are expected to include
//!   what the free plan offers.
//! - A subscription's catalog plan is its `plan` id, else the plan whose price id is its
//!   `price_id`. A plan unknown to the catalog contributes no features or limits (its reported
//!   `plan` is still the stored id).
//! - Best granting subscription: `active` > `trialing` > `grace_past_due`, then the latest
//!   `current_period_end` (missing counts as earliest), then the highest subscription id.
//! - Most recent subscription: the latest `updated_at`, then the latest `current_period_end`, then
//!   the highest subscription id.
//! - `current_period_end`, `cancel_at_period_end` and `trial_end` are the headline subscription's.
//!
//! # One feature ([`Access::check`])
//!
//! | feature in [`Access::features`] | something grants | allowed | reason |
//! |---|---|---|---|
//! | yes | a subscription | yes | the headline's: `active`, `trialing` or `grace_past_due` |
//! | yes | the free plan | yes | `free_plan` |
//! | no | a subscription | no | `not_in_plan` |
//! | no | nothing, user has subscriptions | no | the most recent subscription's deny reason (`canceled`, `period_ended`, `past_due_grace_expired`, `unpaid`, `incomplete`, `paused`, `refunded`, `disputed`, `unknown_status`) |
//! | no | nothing, no subscription | no | `no_subscription` |
//!
//! The reason of an allowed feature is the headline's even when another granting subscription
//! supplied it (with Stripe entitlements the source of a feature is not known). `limit` is the
//! limit named like the feature, and only on an allowed feature: a denied feature has no quota.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::domain::plans::{Catalog, Plan};
use crate::domain::records::{SubscriptionRecord, UserItems};
use crate::domain::status::SubscriptionStatus;
use crate::domain::usage::{Allowance, Allowances, Metering, Period, calendar_month, carried, combine};

/// The default grace period of a `past_due` subscription.
pub const DEFAULT_PAST_DUE_GRACE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Tunable parts of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessPolicy {
    /// How long a `past_due` subscription keeps granting after `past_due_since`.
    pub past_due_grace: Duration,
    /// What a user whose subscription is paused gets (`PAUSED_ACCESS`).
    pub paused_access: PausedAccess,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self {
            past_due_grace: DEFAULT_PAST_DUE_GRACE,
            paused_access: PausedAccess::FreePlan,
        }
    }
}

/// Access while a subscription is paused (and nothing else grants): `PAUSED_ACCESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausedAccess {
    /// The free plan, as with no subscription (the default).
    FreePlan,
    /// Nothing at all.
    Nothing,
    /// A plan of the catalog without prices (checked when the configuration loads).
    Plan(&'static str),
}

/// The headline status of a user's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessStatus {
    /// No subscription at all.
    None,
    Active,
    Trialing,
    /// `past_due`, within the grace period.
    GracePastDue,
    /// `past_due`, grace expired (or its start unknown).
    PastDue,
    /// `canceled`, or ended at the period end with `cancel_at_period_end`.
    Canceled,
    Unpaid,
    Incomplete,
    IncompleteExpired,
    Paused,
    /// A one-time purchase whose money went back (refund, lost dispute).
    Refunded,
    /// A one-time purchase with an open dispute.
    Disputed,
    /// A status string these rules do not know.
    Unknown,
}

impl AccessStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessStatus::None => "none",
            AccessStatus::Active => "active",
            AccessStatus::Trialing => "trialing",
            AccessStatus::GracePastDue => "grace_past_due",
            AccessStatus::PastDue => "past_due",
            AccessStatus::Canceled => "canceled",
            AccessStatus::Unpaid => "unpaid",
            AccessStatus::Incomplete => "incomplete",
            AccessStatus::IncompleteExpired => "incomplete_expired",
            AccessStatus::Paused => "paused",
            AccessStatus::Refunded => "refunded",
            AccessStatus::Disputed => "disputed",
            AccessStatus::Unknown => "unknown",
        }
    }
}

impl fmt::Display for AccessStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a feature is allowed or denied: a stable code for clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Allowed by an `active` subscription.
    Active,
    /// Allowed by a `trialing` subscription.
    Trialing,
    /// Allowed by a `past_due` subscription within its grace period.
    GracePastDue,
    /// Allowed by the catalog's free plan.
    FreePlan,
    /// Denied: the subscription is canceled.
    Canceled,
    /// Denied: `past_due` past its grace period (or with an unknown grace start).
    PastDueGraceExpired,
    /// Denied: the subscription is `unpaid`.
    Unpaid,
    /// Denied: the first payment never completed (`incomplete`, `incomplete_expired`).
    Incomplete,
    /// Denied: the subscription is paused.
    Paused,
    /// Denied: the user has no subscription (and the free plan, if any, lacks the feature).
    NoSubscription,
    /// Denied: the user's granting subscriptions do not include the feature.
    NotInPlan,
    /// Denied: canceled at the period end, which has passed.
    PeriodEnded,
    /// Denied: a one-time purchase was refunded or charged back.
    Refunded,
    /// Denied: a one-time purchase is disputed.
    Disputed,
    /// Denied: Stripe reported a status these rules do not know.
    UnknownStatus,
    /// Denied: the organization's plan has the feature, but the member holds no seat.
    NoSeat,
    /// Allowed by a support grant (`POST /admin/users/{user_id}/grants`) only.
    Grant,
}

impl Reason {
    pub const ALL: [Reason; 17] = [
        Reason::Active,
        Reason::Trialing,
        Reason::GracePastDue,
        Reason::FreePlan,
        Reason::Canceled,
        Reason::PastDueGraceExpired,
        Reason::Unpaid,
        Reason::Incomplete,
        Reason::Paused,
        Reason::NoSubscription,
        Reason::NotInPlan,
        Reason::PeriodEnded,
        Reason::Refunded,
        Reason::Disputed,
        Reason::UnknownStatus,
        Reason::NoSeat,
        Reason::Grant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Active => "active",
            Reason::Trialing => "trialing",
            Reason::GracePastDue => "grace_past_due",
            Reason::FreePlan => "free_plan",
            Reason::Canceled => "canceled",
            Reason::PastDueGraceExpired => "past_due_grace_expired",
            Reason::Unpaid => "unpaid",
            Reason::Incomplete => "incomplete",
            Reason::Paused => "paused",
            Reason::NoSubscription => "no_subscription",
            Reason::NotInPlan => "not_in_plan",
            Reason::PeriodEnded => "period_ended",
            Reason::Refunded => "refunded",
            Reason::Disputed => "disputed",
            Reason::UnknownStatus => "unknown_status",
            Reason::NoSeat => "no_seat",
            Reason::Grant => "grant",
        }
    }

    /// Whether a subscription in this standing grants access.
    fn grants(self) -> bool {
        matches!(self, Reason::Active | Reason::Trialing | Reason::GracePastDue)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's effective access at one instant. Built by [`decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// The headline plan id (see the module docs).
    pub plan: Option<String>,
    pub status: AccessStatus,
    /// Feature lookup keys the user may use.
    pub features: BTreeSet<String>,
    pub limits: BTreeMap<String, u64>,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<i64>,
    /// Features an organization's plan has that this member lacks a seat for (denied `no_seat`).
    #[serde(skip)]
    pub unseated: BTreeSet<String>,
    /// Features only a support grant allows ([`crate::domain::grants`]).
    #[serde(skip)]
    pub granted: BTreeSet<String>,
    /// What the access rests on: a granting reason, `free_plan`, or why nothing grants.
    #[serde(skip)]
    basis: Reason,
    /// The usage counters the user may count, and the period they count in
    /// ([`crate::domain::usage`]).
    #[serde(skip)]
    pub usage: Allowances,
    #[serde(skip)]
    pub usage_period: Period,
    /// The subscription whose billing period `usage_period` is (`None`: the calendar month).
    #[serde(skip)]
    pub usage_basis: Option<String>,
}

/// The answer for one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FeatureDecision {
    pub allowed: bool,
    pub reason: Reason,
    /// The limit named like the feature, when the feature is allowed and has one.
    pub limit: Option<u64>,
}

impl Access {
    /// What the access rests on: `active`, `trialing` or `grace_past_due` when a subscription
    /// grants; `free_plan` when only the free plan applies to a user without subscriptions;
    /// `no_subscription` without subscriptions and without a free plan; otherwise the most
    /// recent subscription's deny reason.
    pub fn reason(&self) -> Reason {
        self.basis
    }

    /// Whether a subscription grants (as opposed to the free plan or nothing).
    pub fn subscribed(&self) -> bool {
        self.basis.grants()
    }

    /// May the user use `feature`? See the module docs for the reasons.
    pub fn check(&self, feature: &str) -> FeatureDecision {
        if self.features.contains(feature) {
            let reason = match self.basis {
                _ if self.granted.contains(feature) => Reason::Grant,
                basis if basis.grants() => basis,
                _ => Reason::FreePlan,
            };
            return FeatureDecision {
                allowed: true,
                reason,
                limit: self.limits.get(feature).copied(),
            };
        }
        let reason = match self.basis {
            _ if self.unseated.contains(feature) => Reason::NoSeat,
            Reason::Active | Reason::Trialing | Reason::GracePastDue => Reason::NotInPlan,
            Reason::FreePlan | Reason::NoSubscription => Reason::NoSubscription,
            other => other,
        };
        FeatureDecision {
            allowed: false,
            reason,
            limit: None,
        }
    }
}

/// How one subscription stands at `now`: the status to report and the reason, which grants iff
/// it is `active`, `trialing` or `grace_past_due`.
fn standing(sub: &SubscriptionRecord, now: i64, policy: &AccessPolicy) -> (AccessStatus, Reason) {
    use SubscriptionStatus as S;
    // A scheduled end (`cancel_at`, e.g. set in the Dashboard) ends access like a period end.
    let period_over =
        (sub.cancel_at_period_end && sub.current_period_end.is_some_and(|end| now >= end)) || sub.cancel_at.is_some_and(|at| now >= at);
    let grace = i64::try_from(policy.past_due_grace.as_secs()).unwrap_or(i64::MAX);
    match sub.status {
        S::Active | S::Trialing | S::PastDue if period_over => (AccessStatus::Canceled, Reason::PeriodEnded),
        S::Active | S::Trialing | S::PastDue if crate::domain::pause::withheld(sub, now) => (AccessStatus::Paused, Reason::Paused),
        S::Active => (AccessStatus::Active, Reason::Active),
        S::Trialing => (AccessStatus::Trialing, Reason::Trialing),
        S::PastDue => match sub.past_due_since {
            Some(since) if now < since.saturating_add(grace) => (AccessStatus::GracePastDue, Reason::GracePastDue),
            _ => (AccessStatus::PastDue, Reason::PastDueGraceExpired),
        },
        S::Canceled => (AccessStatus::Canceled, Reason::Canceled),
        S::Unpaid => (AccessStatus::Unpaid, Reason::Unpaid),
        S::Incomplete => (AccessStatus::Incomplete, Reason::Incomplete),
        S::IncompleteExpired => (AccessStatus::IncompleteExpired, Reason::Incomplete),
        S::Paused => (AccessStatus::Paused, Reason::Paused),
        S::Refunded => (AccessStatus::Refunded, Reason::Refunded),
        S::Disputed => (AccessStatus::Disputed, Reason::Disputed),
        S::Other(_) => (AccessStatus::Unknown, Reason::UnknownStatus),
    }
}

/// Preference among granting reasons: higher is better.
fn grant_rank(reason: Reason) -> u8 {
    match reason {
        Reason::Active => 3,
        Reason::Trialing => 2,
        Reason::GracePastDue => 1,
        _ => 0,
    }
}

/// The catalog plan of a subscription: by plan id, else by Stripe price id.
pub(crate) fn catalog_plan<'c>(catalog: &'c Catalog, sub: &SubscriptionRecord) -> Option<&'c Plan> {
    sub.plan.as_deref().and_then(|id| catalog.get(id)).or_else(|| {
        sub.price_id
            .as_deref()
            .and_then(|price| catalog.find_price(Some(price), None))
            .map(|(plan, _)| plan)
    })
}

struct Judged<'a> {
    sub: &'a SubscriptionRecord,
    plan: Option<&'a Plan>,
    status: AccessStatus,
    reason: Reason,
}

/// Whether `sub` pays a custom-amount entry of the catalog rather than a plan.
pub fn is_custom_amount(catalog: &Catalog, sub: &SubscriptionRecord) -> bool {
    sub.plan.as_deref().is_some_and(|id| catalog.custom_amount(id).is_some())
}

/// The effective access of a user at `now`. The rules are in the module docs; support grants
/// are merged last ([`crate::domain::grants`]).
pub fn decide(catalog: &Catalog, items: &UserItems, now: i64, policy: &AccessPolicy) -> Access {
    let mut access = decide_paid(catalog, items, now, policy);
    access.granted = crate::domain::grants::merge(
        catalog,
        &items.grants,
        now,
        &mut access.features,
        &mut access.limits,
        &mut access.usage,
    );
    access
}

fn decide_paid(catalog: &Catalog, items: &UserItems, now: i64, policy: &AccessPolicy) -> Access {
    let judged: Vec<Judged<'_>> = items
        .subscriptions
        .iter()
        // Custom amounts (donations, top-ups) pay for nothing: they neither grant, nor hide the
        // free plan, nor set the headline or the usage period.
        .filter(|sub| !is_custom_amount(catalog, sub))
        .map(|sub| {
            let (status, reason) = standing(sub, now, policy);
            Judged {
                sub,
                plan: catalog_plan(catalog, sub),
                status,
                reason,
            }
        })
        .collect();
    let granting: Vec<&Judged<'_>> = judged.iter().filter(|j| j.reason.grants()).collect();

    let best = granting
        .iter()
        .copied()
        .max_by_key(|j| (grant_rank(j.reason), j.sub.current_period_end, j.sub.subscription_id.as_str()));
    if let Some(best) = best {
        // Stripe Entitlements come from subscriptions only: one-time purchases always bring
        // their catalog plan's features, whatever the stored summary says.
        let (once, recurring): (Vec<&Judged<'_>>, Vec<&Judged<'_>>) = granting
            .iter()
            .copied()
            .partition(|j| j.sub.interval == Some(crate::domain::plans::Interval::OneTime));
        let catalog_features = |js: &[&Judged<'_>]| {
            js.iter()
                .filter_map(|j| j.plan)
                .flat_map(|p| p.features.iter().cloned())
                .collect::<BTreeSet<String>>()
        };
        let mut features = catalog_features(&once);
        // Stripe's summary lists the features of every subscription Stripe keeps live: one
        // that is live there but grants nothing here (paused, an unpaid period, a grace run
        // out, a period ended) would widen it. Then the granting plans' own features decide.
        let withheld_live = judged.iter().any(|j| {
            !j.reason.grants()
                && matches!(
                    j.sub.status,
                    SubscriptionStatus::Active | SubscriptionStatus::Trialing | SubscriptionStatus::PastDue
                )
        });
        let summary = items.entitlements.as_ref().filter(|_| !withheld_live);
        if !recurring.is_empty() {
            match summary {
                Some(entitlements) => features.extend(entitlements.features.iter().cloned()),
                None => features.extend(catalog_features(&recurring)),
            }
        }
        let mut limits: BTreeMap<String, u64> = BTreeMap::new();
        for j in &granting {
            for (name, value) in j.plan.into_iter().flat_map(|p| p.limits.iter()) {
                let value = per_seat(j, j.plan.is_some_and(|p| p.per_seat.contains(name)), *value);
                let slot = limits.entry(name.clone()).or_insert(value);
                *slot = (*slot).max(value);
            }
        }
        let mut usage: BTreeMap<String, Option<Allowance>> = BTreeMap::new();
        for j in &granting {
            let recurring = j.sub.interval != Some(crate::domain::plans::Interval::OneTime);
            for (feature, rule) in j.plan.into_iter().flat_map(|p| p.usage.iter()) {
                let metering = rule.meter.as_deref().filter(|_| recurring).map(|meter| Metering {
                    meter,
                    customer_id: &j.sub.customer_id,
                    subscription_id: &j.sub.subscription_id,
                    ceiling: rule.ceiling,
                });
                let limit = rule.limit.map(|l| per_seat(j, rule.per_seat, l));
                combine(usage.entry(feature.clone()).or_default(), limit, metering);
            }
        }
        let mut usage: Allowances = usage.into_iter().filter_map(|(f, a)| Some((f, a?))).collect();
        let (period, basis) = match (best.sub.interval, best.sub.current_period_end) {
            (Some(crate::domain::plans::Interval::OneTime), _) | (_, None) => (calendar_month(now), None),
            (interval, Some(end)) => {
                let length = if interval == Some(crate::domain::plans::Interval::Year) {
                    365
                } else {
                    30
                } * 86_400;
                let start = best.sub.current_period_start.filter(|s| *s < end).unwrap_or(end - length).min(now);
                let mut period = Period { start, end };
                // A renewal whose webhook is late: the next period has begun all the same.
                let length = (end - start).max(86_400);
                if now >= period.end {
                    let passed = now.saturating_sub(period.end) / length;
                    period.start = period.end.saturating_add(passed.saturating_mul(length));
                    period.end = period.start.saturating_add(length);
                }
                (period, Some(best.sub.subscription_id.clone()))
            }
        };
        if basis.is_some() {
            for (feature, allowance) in usage.iter_mut().filter(|(_, a)| a.limit.is_some()) {
                allowance.carried = carried(&items.usage, feature, period);
            }
        }
        let mut access = headline(best, features, limits);
        access.usage = usage;
        access.usage_period = period;
        access.usage_basis = basis;
        return access;
    }

    let latest = judged
        .iter()
        .max_by_key(|j| (j.sub.updated_at, j.sub.current_period_end, j.sub.subscription_id.as_str()));
    // A paused subscription (and nothing granting) gets `PAUSED_ACCESS`: the free plan by default.
    let free = match policy.paused_access {
        _ if !judged.iter().any(|j| j.reason == Reason::Paused) => catalog.free_plan(),
        PausedAccess::FreePlan => catalog.free_plan(),
        PausedAccess::Nothing => None,
        PausedAccess::Plan(id) => catalog.get(id).or(catalog.free_plan()),
    };
    let features = free.map(|p| p.features.clone()).unwrap_or_default();
    let limits = free.map(|p| p.limits.clone()).unwrap_or_default();
    let usage: Allowances = free
        .map(|p| {
            p.usage
                .iter()
                .map(|(f, rule)| {
                    let allowance = Allowance {
                        limit: rule.limit,
                        ..Allowance::default()
                    };
                    (f.clone(), allowance)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut access = match latest {
        Some(latest) => headline(latest, features, limits),
        None => Access {
            plan: free.map(|p| p.id.clone()),
            status: AccessStatus::None,
            features,
            limits,
            current_period_end: None,
            cancel_at_period_end: false,
            trial_end: None,
            unseated: BTreeSet::new(),
            granted: BTreeSet::new(),
            basis: if free.is_some() { Reason::FreePlan } else { Reason::NoSubscription },
            usage: Allowances::new(),
            usage_period: calendar_month(now),
            usage_basis: None,
        },
    };
    // The free plan's counters only, on the calendar month.
    access.usage = usage.into_iter().filter(|(_, a)| a.limit.is_some()).collect();
    access.usage_period = calendar_month(now);
    access
}

/// A limit of subscription `j`: times its quantity when it is per seat.
fn per_seat(j: &Judged<'_>, seated: bool, value: u64) -> u64 {
    if seated {
        value.saturating_mul(j.sub.quantity.max(1))
    } else {
        value
    }
}

fn headline(j: &Judged<'_>, features: BTreeSet<String>, limits: BTreeMap<String, u64>) -> Access {
    Access {
        plan: j.sub.plan.clone().or_else(|| j.plan.map(|p| p.id.clone())),
        status: j.status,
        features,
        limits,
        current_period_end: j.sub.current_period_end,
        cancel_at_period_end: j.sub.cancel_at_period_end,
        trial_end: j.sub.trial_end,
        unseated: BTreeSet::new(),
        granted: BTreeSet::new(),
        basis: j.reason,
        usage: Allowances::new(),
        usage_period: Period { start: 0, end: 0 },
        usage_basis: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::{EntitlementsRecord, keys};

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;
    const GRACE: i64 = 7 * DAY;

    /// A catalog without a free plan; its plan is found by Stripe price id.
    const NO_FREE_CATALOG: &str = r#"{"plans": [
        {"id": "team", "name": "Team",
         "prices": {"month": {"price": "price_team_m", "amount": 1000, "currency": "usd"}},
         "features": ["reports", "exports"], "limits": {"reports": 5, "seats": 10}}
    ]}"#;

    fn sub(id: &str, status: &str, plan: &str) -> SubscriptionRecord {
        SubscriptionRecord {
            pk: keys::user("u1"),
            sk: keys::subscription(id),
            subscription_id: id.into(),
            customer_id: "cus_1".into(),
            status: status.into(),
            plan: Some(plan.into()),
            price_id: None,
            interval: None,
            quantity: 1,
            current_period_end: Some(NOW + 20 * DAY),
            cancel_at_period_end: false,
            current_period_start: None,
            cancel_at: None,
            trial_end: None,
            past_due_since: None,
            pause: None,
            paused_since: None,
            uncollected_period: None,
            version: crate::domain::version::Version::of_payload(1),
            updated_at: NOW - DAY,
        }
    }

    /// Small setters for the table.
    trait With: Sized {
        fn edit(self, f: impl FnOnce(&mut SubscriptionRecord)) -> Self;
        fn period_end(self, end: Option<i64>) -> Self {
            self.edit(|s| s.current_period_end = end)
        }
        fn cancel_at_end(self) -> Self {
            self.edit(|s| s.cancel_at_period_end = true)
        }
        fn past_due_since(self, since: i64) -> Self {
            self.edit(|s| s.past_due_since = Some(since))
        }
        fn updated(self, at: i64) -> Self {
            self.edit(|s| s.updated_at = at)
        }
        fn trial_end(self, at: i64) -> Self {
            self.edit(|s| s.trial_end = Some(at))
        }
        fn by_price(self, price: &str) -> Self {
            self.edit(|s| {
                s.plan = None;
                s.price_id = Some(price.into());
            })
        }
    }

    impl With for SubscriptionRecord {
        fn edit(mut self, f: impl FnOnce(&mut SubscriptionRecord)) -> Self {
            f(&mut self);
            self
        }
    }

    #[derive(Clone, Copy)]
    enum Cat {
        Default,
        NoFree,
    }

    struct Case {
        name: &'static str,
        catalog: Cat,
        subs: Vec<SubscriptionRecord>,
        entitlements: Option<Vec<&'static str>>,
        now: i64,
        feature: &'static str,
        allowed: bool,
        reason: Reason,
        limit: Option<u64>,
        /// Headline plan and status.
        plan: Option<&'static str>,
        status: AccessStatus,
    }

    fn items(subs: Vec<SubscriptionRecord>, entitlements: Option<Vec<&str>>) -> UserItems {
        UserItems {
            customer: None,
            subscriptions: subs,
            entitlements: entitlements.map(|features| EntitlementsRecord {
                pk: keys::user("u1"),
                sk: keys::SK_ENTITLEMENTS.into(),
                customer_id: "cus_1".into(),
                features: features.into_iter().map(Into::into).collect(),
                version: crate::domain::version::Version::of_payload(1),
                updated_at: NOW - DAY,
            }),
            schedules: vec![],
            usage: vec![],
            grants: vec![],
            access: None,
            seats: vec![],
        }
    }

    #[rustfmt::skip]
    fn cases() -> Vec<Case> {
        use AccessStatus as S;
        use Cat::{Default as D, NoFree};
        let c = |name, catalog, subs, entitlements, now, feature, (allowed, reason, limit), (plan, status)| Case {
            name, catalog, subs, entitlements, now, feature, allowed, reason, limit, plan, status,
        };
        let yes = |reason, limit| (true, reason, limit);
        let no = |reason| (false, reason, None);
        vec![
            // No subscription: the free plan.
            c("no subscription, free feature", D, vec![], None, NOW, "projects", yes(Reason::FreePlan, Some(1)), (Some("free"), S::None)),
            c("no subscription, paid feature", D, vec![], None, NOW, "api_access", no(Reason::NoSubscription), (Some("free"), S::None)),
            c("no subscription, limit-only name", D, vec![], None, NOW, "seats", no(Reason::NoSubscription), (Some("free"), S::None)),
            c("no subscription, no free plan", NoFree, vec![], None, NOW, "reports", no(Reason::NoSubscription), (None, S::None)),
            c("no subscription, entitlements stored: ignored", D, vec![], Some(vec!["api_access"]), NOW, "api_access", no(Reason::NoSubscription), (Some("free"), S::None)),

            // Granting statuses.
            c("active, feature in plan, limit", D, vec![sub("sub_1", "active", "pro")], None, NOW, "projects", yes(Reason::Active, Some(100)), (Some("pro"), S::Active)),
            c("active, feature without limit", D, vec![sub("sub_1", "active", "pro")], None, NOW, "api_access", yes(Reason::Active, None), (Some("pro"), S::Active)),
            c("active, feature not in plan", D, vec![sub("sub_1", "active", "starter")], None, NOW, "api_access", no(Reason::NotInPlan), (Some("starter"), S::Active)),
            c("active, limit-only name is no feature", D, vec![sub("sub_1", "active", "pro")], None, NOW, "seats", no(Reason::NotInPlan), (Some("pro"), S::Active)),
            c("active, unknown feature", D, vec![sub("sub_1", "active", "pro")], None, NOW, "teleport", no(Reason::NotInPlan), (Some("pro"), S::Active)),
            c("active past a stale period end (renewal webhook late)", D, vec![sub("sub_1", "active", "pro").period_end(Some(NOW - DAY))], None, NOW, "api_access", yes(Reason::Active, None), (Some("pro"), S::Active)),
            c("trialing", D, vec![sub("sub_1", "trialing", "starter").trial_end(NOW + DAY)], None, NOW, "exports", yes(Reason::Trialing, None), (Some("starter"), S::Trialing)),
            c("trialing, feature not in plan", D, vec![sub("sub_1", "trialing", "starter")], None, NOW, "api_access", no(Reason::NotInPlan), (Some("starter"), S::Trialing)),
            c("plan unknown to the catalog grants nothing from it", D, vec![sub("sub_1", "active", "legacy")], None, NOW, "projects", no(Reason::NotInPlan), (Some("legacy"), S::Active)),
            c("plan found by price id", NoFree, vec![sub("sub_1", "active", "x").by_price("price_team_m")], None, NOW, "reports", yes(Reason::Active, Some(5)), (Some("team"), S::Active)),

            // past_due and its grace.
            c("past_due, start of grace", D, vec![sub("sub_1", "past_due", "pro").past_due_since(NOW)], None, NOW, "api_access", yes(Reason::GracePastDue, None), (Some("pro"), S::GracePastDue)),
            c("past_due, last second of grace", D, vec![sub("sub_1", "past_due", "pro").past_due_since(NOW - GRACE + 1)], None, NOW, "projects", yes(Reason::GracePastDue, Some(100)), (Some("pro"), S::GracePastDue)),
            c("past_due, grace exactly at its end", D, vec![sub("sub_1", "past_due", "pro").past_due_since(NOW - GRACE)], None, NOW, "api_access", no(Reason::PastDueGraceExpired), (Some("pro"), S::PastDue)),
            c("past_due, grace over: free plan applies", D, vec![sub("sub_1", "past_due", "pro").past_due_since(NOW - GRACE)], None, NOW, "projects", yes(Reason::FreePlan, Some(1)), (Some("pro"), S::PastDue)),
            c("past_due without past_due_since: no grace", D, vec![sub("sub_1", "past_due", "pro").period_end(Some(NOW + 30 * DAY))], None, NOW, "api_access", no(Reason::PastDueGraceExpired), (Some("pro"), S::PastDue)),

            // cancel_at_period_end.
            c("cancel at period end, before the end", D, vec![sub("sub_1", "active", "pro").cancel_at_end().period_end(Some(NOW + 1))], None, NOW, "api_access", yes(Reason::Active, None), (Some("pro"), S::Active)),
            c("cancel at period end, period ends exactly now", D, vec![sub("sub_1", "active", "pro").cancel_at_end().period_end(Some(NOW))], None, NOW, "api_access", no(Reason::PeriodEnded), (Some("pro"), S::Canceled)),
            c("cancel at period end, ended: free plan applies", D, vec![sub("sub_1", "active", "pro").cancel_at_end().period_end(Some(NOW - DAY))], None, NOW, "projects", yes(Reason::FreePlan, Some(1)), (Some("pro"), S::Canceled)),
            c("cancel at period end, trial ended", D, vec![sub("sub_1", "trialing", "starter").cancel_at_end().period_end(Some(NOW))], None, NOW, "exports", no(Reason::PeriodEnded), (Some("starter"), S::Canceled)),
            c("cancel at period end beats past_due grace", D, vec![sub("sub_1", "past_due", "pro").past_due_since(NOW - DAY).cancel_at_end().period_end(Some(NOW))], None, NOW, "api_access", no(Reason::PeriodEnded), (Some("pro"), S::Canceled)),
            c("cancel at period end without a period end: status decides", D, vec![sub("sub_1", "active", "pro").cancel_at_end().period_end(None)], None, NOW, "api_access", yes(Reason::Active, None), (Some("pro"), S::Active)),
            c("cancel_at in the future", D, vec![sub("sub_1", "active", "pro").edit(|s| s.cancel_at = Some(NOW + 1))], None, NOW, "api_access", yes(Reason::Active, None), (Some("pro"), S::Active)),
            c("cancel_at reached, webhook late", D, vec![sub("sub_1", "active", "pro").edit(|s| s.cancel_at = Some(NOW))], None, NOW, "api_access", no(Reason::PeriodEnded), (Some("pro"), S::Canceled)),

            // Denying statuses.
            c("canceled", D, vec![sub("sub_1", "canceled", "pro")], None, NOW, "api_access", no(Reason::Canceled), (Some("pro"), S::Canceled)),
            c("canceled, free feature", D, vec![sub("sub_1", "canceled", "pro")], None, NOW, "projects", yes(Reason::FreePlan, Some(1)), (Some("pro"), S::Canceled)),
            c("canceled, no free plan", NoFree, vec![sub("sub_1", "canceled", "team")], None, NOW, "reports", no(Reason::Canceled), (Some("team"), S::Canceled)),
            c("unpaid", D, vec![sub("sub_1", "unpaid", "pro")], None, NOW, "api_access", no(Reason::Unpaid), (Some("pro"), S::Unpaid)),
            c("incomplete", D, vec![sub("sub_1", "incomplete", "pro")], None, NOW, "api_access", no(Reason::Incomplete), (Some("pro"), S::Incomplete)),
            c("incomplete_expired", D, vec![sub("sub_1", "incomplete_expired", "pro")], None, NOW, "api_access", no(Reason::Incomplete), (Some("pro"), S::IncompleteExpired)),
            c("paused", D, vec![sub("sub_1", "paused", "pro")], None, NOW, "api_access", no(Reason::Paused), (Some("pro"), S::Paused)),
            c("unknown status", D, vec![sub("sub_1", "suspended", "pro")], None, NOW, "api_access", no(Reason::UnknownStatus), (Some("pro"), S::Unknown)),
            c("status is matched exactly", D, vec![sub("sub_1", "ACTIVE", "pro")], None, NOW, "api_access", no(Reason::UnknownStatus), (Some("pro"), S::Unknown)),

            // Several subscriptions.
            c("union of features", D, vec![sub("sub_1", "active", "starter"), sub("sub_2", "trialing", "pro")], None, NOW, "api_access", yes(Reason::Active, None), (Some("starter"), S::Active)),
            c("highest limit wins", D, vec![sub("sub_1", "active", "starter"), sub("sub_2", "trialing", "pro")], None, NOW, "projects", yes(Reason::Active, Some(100)), (Some("starter"), S::Active)),
            c("trialing beats grace_past_due", D, vec![sub("sub_1", "past_due", "pro").past_due_since(NOW), sub("sub_2", "trialing", "starter")], None, NOW, "api_access", yes(Reason::Trialing, None), (Some("starter"), S::Trialing)),
            c("tie: latest period end is the headline", D, vec![sub("sub_1", "active", "starter").period_end(Some(NOW + 40 * DAY)), sub("sub_2", "active", "pro").period_end(Some(NOW + 10 * DAY))], None, NOW, "projects", yes(Reason::Active, Some(100)), (Some("starter"), S::Active)),
            c("a denying subscription adds nothing", D, vec![sub("sub_1", "canceled", "pro").updated(NOW), sub("sub_2", "active", "starter")], None, NOW, "api_access", no(Reason::NotInPlan), (Some("starter"), S::Active)),
            c("none grants: the most recent reports", D, vec![sub("sub_1", "canceled", "pro").updated(NOW - 2 * DAY), sub("sub_2", "unpaid", "starter").updated(NOW - DAY)], None, NOW, "api_access", no(Reason::Unpaid), (Some("starter"), S::Unpaid)),
            c("none grants: period end breaks an update tie", D, vec![sub("sub_1", "canceled", "pro").period_end(Some(NOW - DAY)), sub("sub_2", "paused", "starter").period_end(Some(NOW - 2 * DAY))], None, NOW, "api_access", no(Reason::Canceled), (Some("pro"), S::Canceled)),

            // Stripe entitlements.
            c("entitlements replace catalog features", D, vec![sub("sub_1", "active", "starter")], Some(vec!["api_access"]), NOW, "api_access", yes(Reason::Active, None), (Some("starter"), S::Active)),
            c("entitlements replace: catalog feature absent", D, vec![sub("sub_1", "active", "starter")], Some(vec!["api_access"]), NOW, "exports", no(Reason::NotInPlan), (Some("starter"), S::Active)),
            c("entitlements: limits still from the catalog", D, vec![sub("sub_1", "active", "starter")], Some(vec!["projects"]), NOW, "projects", yes(Reason::Active, Some(10)), (Some("starter"), S::Active)),
            c("entitlements, empty summary", D, vec![sub("sub_1", "active", "pro")], Some(vec![]), NOW, "api_access", no(Reason::NotInPlan), (Some("pro"), S::Active)),
            c("stale entitlements, all canceled: deny", D, vec![sub("sub_1", "canceled", "pro")], Some(vec!["api_access"]), NOW, "api_access", no(Reason::Canceled), (Some("pro"), S::Canceled)),
            c("stale entitlements, all canceled: free plan only", D, vec![sub("sub_1", "canceled", "pro")], Some(vec!["api_access"]), NOW, "projects", yes(Reason::FreePlan, Some(1)), (Some("pro"), S::Canceled)),
            c("stale entitlements, grace over: deny", D, vec![sub("sub_1", "past_due", "pro").past_due_since(NOW - GRACE)], Some(vec!["api_access"]), NOW, "api_access", no(Reason::PastDueGraceExpired), (Some("pro"), S::PastDue)),
        ]
    }

    #[test]
    fn rules_table() {
        let default = Catalog::embedded().expect("embedded catalog");
        let no_free = Catalog::from_json("test", NO_FREE_CATALOG).expect("test catalog");
        assert!(no_free.free_plan().is_none());
        let policy = AccessPolicy::default();
        let mut failures = Vec::new();
        for case in cases() {
            let catalog = match case.catalog {
                Cat::Default => &default,
                Cat::NoFree => &no_free,
            };
            let access = decide(catalog, &items(case.subs, case.entitlements), case.now, &policy);
            let got = access.check(case.feature);
            let want = FeatureDecision {
                allowed: case.allowed,
                reason: case.reason,
                limit: case.limit,
            };
            let headline = (access.plan.as_deref(), access.status);
            if got != want || headline != (case.plan, case.status) {
                failures.push(format!(
                    "{}: got {got:?} headline {headline:?}, want {want:?} headline {:?}",
                    case.name,
                    (case.plan, case.status)
                ));
            }
        }
        assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn combined_access_carries_the_headline_subscription() {
        let catalog = Catalog::embedded().expect("embedded catalog");
        let subs = vec![
            sub("sub_1", "trialing", "starter").trial_end(NOW + 3 * DAY),
            sub("sub_2", "active", "pro").cancel_at_end().period_end(Some(NOW + 5 * DAY)),
        ];
        let access = decide(&catalog, &items(subs, None), NOW, &AccessPolicy::default());
        assert_eq!(access.plan.as_deref(), Some("pro"));
        assert_eq!(access.reason(), Reason::Active);
        assert!(access.subscribed());
        assert_eq!(
            (access.current_period_end, access.cancel_at_period_end, access.trial_end),
            (Some(NOW + 5 * DAY), true, None)
        );
        let features: Vec<&str> = access.features.iter().map(String::as_str).collect();
        assert_eq!(features, ["api_access", "exports", "priority_support", "projects"]);
        assert_eq!(access.limits.get("seats"), Some(&100));
    }

    #[test]
    fn free_plan_basis() {
        let catalog = Catalog::embedded().expect("embedded catalog");
        let access = decide(&catalog, &UserItems::default(), NOW, &AccessPolicy::default());
        assert_eq!((access.reason(), access.subscribed()), (Reason::FreePlan, false));
        let no_free = Catalog::from_json("test", NO_FREE_CATALOG).expect("test catalog");
        let access = decide(&no_free, &UserItems::default(), NOW, &AccessPolicy::default());
        assert_eq!(access.reason(), Reason::NoSubscription);
        assert!(access.features.is_empty() && access.limits.is_empty());
    }

    #[test]
    fn usage_counts_in_the_granting_plans_period_else_the_calendar_month() {
        let catalog = Catalog::embedded().expect("embedded catalog");
        let free = decide(&catalog, &UserItems::default(), NOW, &AccessPolicy::default());
        assert_eq!(free.usage["api_calls"].limit, Some(100));
        assert!(!free.usage["api_calls"].metered());
        assert_eq!(free.usage_period, crate::domain::usage::calendar_month(NOW));

        let subs = vec![
            sub("sub_1", "active", "starter").period_end(Some(NOW + 9 * DAY)),
            sub("sub_2", "active", "pro").period_end(Some(NOW + 20 * DAY)),
        ];
        let access = decide(&catalog, &items(subs, None), NOW, &AccessPolicy::default());
        let calls = &access.usage["api_calls"];
        assert_eq!(
            (calls.limit, calls.meter.as_deref(), calls.customer_id.as_deref()),
            (None, Some("api_calls"), Some("cus_1")),
            "pro meters without a limit"
        );
        assert_eq!(access.usage_period.end, NOW + 20 * DAY, "the headline subscription's period");

        // The renewal webhook is late: the next period has begun all the same.
        let late = vec![
            sub("sub_1", "active", "starter")
                .period_end(Some(NOW - DAY))
                .edit(|s| s.current_period_start = Some(NOW - 31 * DAY)),
        ];
        let access = decide(&catalog, &items(late, None), NOW, &AccessPolicy::default());
        assert_eq!((access.usage_period.start, access.usage_period.end), (NOW - DAY, NOW + 29 * DAY));

        let ended = vec![sub("sub_1", "canceled", "pro")];
        let access = decide(&catalog, &items(ended, None), NOW, &AccessPolicy::default());
        assert_eq!(access.usage["api_calls"].limit, Some(100), "back to the free plan's quota");
    }

    #[test]
    fn policy_sets_the_grace() {
        assert_eq!(AccessPolicy::default().past_due_grace, Duration::from_secs(7 * 24 * 3600));
        let catalog = Catalog::embedded().expect("embedded catalog");
        let subs = vec![sub("sub_1", "past_due", "pro").past_due_since(NOW - 2 * DAY)];
        let items = items(subs, None);
        let one_day = AccessPolicy {
            past_due_grace: Duration::from_secs(DAY as u64),
            ..AccessPolicy::default()
        };
        assert_eq!(
            decide(&catalog, &items, NOW, &one_day).check("api_access").reason,
            Reason::PastDueGraceExpired
        );
        assert_eq!(
            decide(&catalog, &items, NOW, &AccessPolicy::default()).check("api_access").reason,
            Reason::GracePastDue
        );
        let forever = AccessPolicy {
            past_due_grace: Duration::MAX,
            ..AccessPolicy::default()
        };
        assert!(
            decide(&catalog, &items, i64::MAX - 1, &forever).check("api_access").allowed,
            "no overflow"
        );
    }

    #[test]
    fn codes_are_stable_snake_case() {
        for reason in Reason::ALL {
            assert_eq!(serde_json::to_value(reason).expect("serialize"), reason.as_str());
            assert_eq!(reason.to_string(), reason.as_str());
        }
        for status in [
            AccessStatus::None,
            AccessStatus::Active,
            AccessStatus::Trialing,
            AccessStatus::GracePastDue,
            AccessStatus::PastDue,
            AccessStatus::Canceled,
            AccessStatus::Unpaid,
            AccessStatus::Incomplete,
            AccessStatus::IncompleteExpired,
            AccessStatus::Paused,
            AccessStatus::Unknown,
        ] {
            assert_eq!(serde_json::to_value(status).expect("serialize"), status.as_str());
        }
    }

    #[test]
    fn serialized_shape() {
        let catalog = Catalog::embedded().expect("embedded catalog");
        let subs = vec![sub("sub_1", "past_due", "starter").past_due_since(NOW)];
        let access = decide(&catalog, &items(subs, None), NOW, &AccessPolicy::default());
        let json = serde_json::to_value(&access).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({
                "plan": "starter",
                "status": "grace_past_due",
                "features": ["exports", "projects"],
                "limits": {"projects": 10, "seats": 5},
                "current_period_end": NOW + 20 * DAY,
                "cancel_at_period_end": false,
                "trial_end": null,
            })
        );
        let decision = serde_json::to_value(access.check("projects")).expect("serialize");
        assert_eq!(
            decision,
            serde_json::json!({"allowed": true, "reason": "grace_past_due", "limit": 10})
        );
    }

    #[test]
    fn one_time_purchases_keep_their_features_beside_a_stripe_summary() {
        let catalog = Catalog::embedded().unwrap();
        let lifetime = sub("cs_1", "active", "lifetime").edit(|s| {
            s.interval = Some(crate::domain::plans::Interval::OneTime);
            s.current_period_end = None;
        });
        let pro = sub("sub_1", "active", "pro");
        // A summary that lists only the subscription's features (Stripe's behaviour).
        let both = decide(
            &catalog,
            &items(vec![lifetime.clone(), pro], Some(vec!["api_access"])),
            NOW,
            &AccessPolicy::default(),
        );
        assert!(both.check("api_access").allowed);
        assert!(both.check("exports").allowed, "from the one-time purchase");
        // A canceled subscription left an empty summary behind: the purchase still counts.
        let canceled = sub("sub_2", "canceled", "pro");
        let alone = decide(
            &catalog,
            &items(vec![lifetime, canceled], Some(vec![])),
            NOW,
            &AccessPolicy::default(),
        );
        assert!(alone.check("exports").allowed);
        assert!(!alone.check("api_access").allowed);
    }

    #[test]
    fn paused_collection_and_a_period_begun_while_paused_grant_only_paused_access() {
        let catalog = Catalog::embedded().unwrap();
        let pause = crate::domain::pause::PauseCollection {
            behavior: "void".into(),
            resumes_at: Some(NOW + 10 * DAY),
        };
        let paused = sub("sub_1", "active", "pro").edit(|s| s.pause = Some(pause.clone()));
        let policy = AccessPolicy::default();
        let access = decide(&catalog, &items(vec![paused.clone()], None), NOW, &policy);
        assert_eq!(access.status, AccessStatus::Paused);
        assert_eq!(access.check("api_access").reason, Reason::Paused);
        assert!(access.check("projects").allowed, "the free plan (PAUSED_ACCESS default)");
        let nothing = AccessPolicy {
            paused_access: PausedAccess::Nothing,
            ..policy
        };
        assert!(
            !decide(&catalog, &items(vec![paused.clone()], None), NOW, &nothing)
                .check("projects")
                .allowed
        );
        let starter = AccessPolicy {
            paused_access: PausedAccess::Plan("starter"),
            ..policy
        };
        let as_starter = decide(&catalog, &items(vec![paused.clone()], None), NOW, &starter);
        assert!(as_starter.check("exports").allowed && !as_starter.check("api_access").allowed);
        // `resumes_at` passed: collection resumed, the (paid) period grants again.
        assert!(
            decide(&catalog, &items(vec![paused], None), NOW + 10 * DAY, &policy)
                .check("api_access")
                .allowed
        );
        // The pause lifted, but the current period began while paused: nothing paid for it.
        let unpaid = sub("sub_1", "active", "pro").edit(|s| {
            s.current_period_start = Some(NOW - DAY);
            s.uncollected_period = Some(NOW - DAY);
        });
        assert_eq!(
            decide(&catalog, &items(vec![unpaid.clone()], None), NOW, &policy)
                .check("api_access")
                .reason,
            Reason::Paused
        );
        // The next period (a paid renewal, or the resume's new period) grants.
        let renewed = unpaid.edit(|s| s.current_period_start = Some(NOW));
        assert!(
            decide(&catalog, &items(vec![renewed], None), NOW, &policy)
                .check("api_access")
                .allowed
        );
    }

    #[test]
    fn grants_add_a_feature_until_they_end_and_never_lower_what_a_plan_gives() {
        let catalog = Catalog::embedded().unwrap();
        let grant =
            crate::domain::grants::GrantRecord::new("USER#u1", "api_access", NOW + DAY, "ticket", "arn:aws:iam::1:user/s", NOW - DAY);
        let mut free = items(vec![], None);
        free.grants.push(grant.clone());
        let access = decide(&catalog, &free, NOW, &AccessPolicy::default());
        assert_eq!(access.check("api_access").reason, Reason::Grant);
        assert!(
            !decide(&catalog, &free, NOW + DAY, &AccessPolicy::default())
                .check("api_access")
                .allowed
        );
        // A plan that has it already keeps its own reason and limit.
        let mut pro = items(vec![sub("sub_1", "active", "pro")], None);
        pro.grants.push(grant);
        let projects = crate::domain::grants::GrantRecord::new("USER#u1", "projects", NOW + DAY, "t", "arn:aws:iam::1:user/s", NOW - DAY);
        pro.grants.push(projects);
        let access = decide(&catalog, &pro, NOW, &AccessPolicy::default());
        assert_eq!(access.check("api_access").reason, Reason::Active);
        assert_eq!(access.check("projects").limit, Some(100));
    }
}
