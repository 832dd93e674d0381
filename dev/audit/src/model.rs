//! What the audit knows of one customer: the state it observed (Stripe's, the table's, the
//! access the API answers) and the history it made itself (records, changes, periods).
//! Plain data: [`crate::invariants`] judges it without I/O.

use std::collections::{BTreeMap, BTreeSet};

use billing::domain::plans::Catalog;

/// The money rules the checker holds the service to, from the catalog.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Features of each plan (subscriptions and one-time purchases).
    pub plan_features: BTreeMap<String, BTreeSet<String>>,
    /// The free plan's features: always allowed.
    pub free_features: BTreeSet<String>,
    /// The most metered units a counter may bill per period, by feature.
    pub ceilings: BTreeMap<String, u64>,
    /// How long a `past_due` subscription keeps its access.
    pub grace_secs: i64,
    /// The documented sync lag allowed for (the audit checks after deliveries settle).
    pub lag_secs: i64,
    /// Plans whose features every member of an organization gets (`"seats": "open"`).
    pub open_plans: BTreeSet<String>,
}

impl Rules {
    pub fn from_catalog(catalog: &Catalog, grace_secs: i64) -> Self {
        let mut rules = Rules {
            grace_secs,
            lag_secs: 3600,
            ..Rules::default()
        };
        for plan in catalog.plans() {
            let features: BTreeSet<String> = plan.features.iter().cloned().collect();
            if plan.free {
                rules.free_features = features.clone();
            }
            rules.plan_features.insert(plan.id.clone(), features);
            if plan.seats == billing::domain::plans::SeatMode::Open {
                rules.open_plans.insert(plan.id.clone());
            }
            for (feature, rule) in &plan.usage {
                if let Some(ceiling) = rule.ceiling {
                    let slot = rules.ceilings.entry(feature.clone()).or_insert(ceiling);
                    *slot = (*slot).max(ceiling);
                }
            }
        }
        rules
    }
}

/// A subscription as Stripe has it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeSub {
    pub id: String,
    pub status: String,
    /// The catalog plan of its licensed price (`None` for a custom amount).
    pub plan: Option<String>,
    pub price: Option<String>,
    pub quantity: u64,
    pub period_start: i64,
    pub period_end: i64,
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<i64>,
    /// Since when it is `past_due` (its first failed invoice).
    pub past_due_since: Option<i64>,
    /// It has a metered item (usage billed through a meter).
    pub metered: bool,
    /// Stripe's `pause_collection`, while set.
    pub pause: Option<billing::domain::pause::PauseCollection>,
    /// Its latest invoice (the one that opened the current period, or a later change's).
    pub latest_invoice: Option<String>,
    /// How many discounts it carries.
    pub discounts: usize,
}

impl StripeSub {
    /// Not ended: `canceled` and `incomplete_expired` are.
    pub fn live(&self) -> bool {
        !matches!(self.status.as_str(), "canceled" | "incomplete_expired")
    }
}

/// A one-time plan purchase as Stripe has it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purchase {
    pub id: String,
    pub plan: String,
    /// Refunded in full, or a dispute lost.
    pub refunded: bool,
    /// A dispute open.
    pub disputed: bool,
}

/// An invoice item no invoice has billed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingItem {
    pub id: String,
    pub subscription: Option<String>,
    pub amount: i64,
}

/// An invoice and the prices its lines bill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    pub prices: Vec<String>,
    /// `draft`, `open`, `paid`, `void`, `uncollectible`.
    pub status: String,
    pub created: i64,
    /// Before discounts, and the discounts taken off it.
    pub subtotal: i64,
    pub discounted: i64,
    /// What a discount can take from: the sum of its lines that charge (a credit line, such as
    /// a cancel's proration, takes nothing off, and would make `subtotal` negative).
    pub charged: i64,
    /// How many discounts applied to it.
    pub discounts: usize,
}

/// A support grant the audit made: `feature` from `from` until `until` (cut short when removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantSpan {
    pub feature: String,
    pub from: i64,
    pub until: i64,
}

/// A subscription (or purchase) record of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSub {
    pub id: String,
    pub status: String,
    pub price: Option<String>,
    pub quantity: u64,
    pub period_end: Option<i64>,
    pub cancel_at_period_end: bool,
}

/// A usage counter of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCounter {
    pub feature: String,
    pub period_start: i64,
    pub period_end: i64,
    pub used: u64,
    pub limited: u64,
    pub metered: u64,
    pub reported: u64,
    pub customer: Option<String>,
}

/// One look at a customer, taken once deliveries settled.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub user: String,
    /// The shared clock's time.
    pub at: i64,
    pub customer: Option<String>,
    /// When the table linked the customer.
    pub customer_since: Option<i64>,
    pub subscriptions: Vec<StripeSub>,
    pub purchases: Vec<Purchase>,
    pub pending: Vec<PendingItem>,
    pub invoices: Vec<Invoice>,
    /// Units Stripe's meter holds for the customer (every event, all time).
    pub metered_in_stripe: i64,
    pub table_subscriptions: Vec<TableSub>,
    pub counters: Vec<TableCounter>,
    /// Features `GET /entitlements` answers as allowed.
    pub allowed: BTreeSet<String>,
}

impl Observation {
    /// Metered units the table counted for this customer.
    pub fn metered_in_table(&self) -> u64 {
        self.counters
            .iter()
            .filter(|c| c.customer.is_some() && c.customer == self.customer)
            .map(|c| c.metered)
            .sum()
    }

    /// Whether a live subscription of the customer bills metered usage.
    pub fn billing_usage(&self) -> bool {
        self.subscriptions.iter().any(|s| s.live() && s.metered)
    }
}

/// A trusted usage record the audit made, and the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub at: i64,
    pub feature: String,
    pub quantity: u64,
    pub allowed: bool,
    pub limit: Option<u64>,
    pub period_end: Option<i64>,
    /// Answered 503 without a key: the units may or may not have been counted (an answer lost
    /// in transit; the documented price of recording without a key).
    pub ambiguous: bool,
}

/// A change made now that the audit judged an upgrade (more per day in the subscription's
/// currency), and what Stripe charged for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upgrade {
    pub at: i64,
    pub subscription: String,
    /// The subscription was trialing (Stripe prorates nothing in a trial).
    pub trialing: bool,
    /// Positive amounts Stripe added for it: proration items and invoice lines.
    pub charged: i64,
}

/// A point in time of a customer's metered units, and whether anything bills them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeteredPoint {
    pub at: i64,
    pub units: u64,
    pub billing: bool,
}

/// What the audit did with one customer, and what it saw over time.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub user: String,
    /// Every price a subscription or purchase of the customer held.
    pub held_prices: BTreeSet<String>,
    /// Every billing period Stripe showed: (subscription, start, end).
    pub periods: BTreeSet<(String, i64, i64)>,
    pub records: Vec<Record>,
    pub upgrades: Vec<Upgrade>,
    pub metered: Vec<MeteredPoint>,
    /// What the audit saw go wrong while it acted (a retried record answered differently).
    pub anomalies: Vec<String>,
    /// Support grants made for the customer.
    pub grants: Vec<GrantSpan>,
    /// The domain events published for the customer so far, `(detail-type, detail)` in arrival
    /// order.
    pub published: Vec<(String, serde_json::Value)>,
    /// An organization's: the events published for its members (`seat.*`, their
    /// `entitlements.changed`).
    pub member_events: Vec<(String, serde_json::Value)>,
    /// What happened, for the report of a violation.
    pub log: Vec<String>,
}

impl History {
    pub fn new(user: &str) -> Self {
        Self {
            user: user.to_owned(),
            ..Self::default()
        }
    }

    pub fn note(&mut self, at: i64, line: impl Into<String>) {
        self.log.push(format!("[{}] {}", day_of(at), line.into()));
    }

    /// What an observation adds to the history: prices held, periods shown, metered units.
    pub fn learn(&mut self, observation: &Observation) {
        for sub in &observation.subscriptions {
            self.held_prices.extend(sub.price.iter().cloned());
            if sub.period_end > sub.period_start {
                self.periods.insert((sub.id.clone(), sub.period_start, sub.period_end));
            }
        }
        self.metered.push(MeteredPoint {
            at: observation.at,
            units: observation.metered_in_table(),
            billing: observation.billing_usage(),
        });
    }
}

/// `2026-12-06` for a unix time.
pub fn day_of(at: i64) -> String {
    let (year, month, day) = billing::domain::usage::civil_from_days(at.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}
