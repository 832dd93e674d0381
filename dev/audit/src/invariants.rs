//! The money invariants, judged on what the audit observed and did ([`crate::model`]). Pure: the
//! unit tests below feed it crafted histories of each known leak and check that it reports
//! them.
//!
//! - **I1 paid access.** A feature is allowed only while Stripe shows something that gives it:
//!   a subscription `trialing` or `active` (not past its scheduled end, its collection not
//!   paused, and the invoice that opened its current period not voided, uncollectible or left
//!   a draft), or `past_due` within the grace period; a one-time purchase not refunded or
//!   disputed; the free plan; or a support grant the audit made, until it ends.
//! - **I2 money.** No positive invoice item is left unbilled on a subscription that ended (or
//!   a customer with nothing live); no invoice bills a price the customer did not hold; every
//!   upgrade made now outside a trial is charged; no subscription or invoice carries more than
//!   one discount, and no invoice is discounted by more than the largest code the audit offers
//!   (codes never stack); an invalid code is never accepted.
//! - **I3 usage.** The units the table counted while metered equal the units in Stripe's meter
//!   (each counted once); no unit is metered while nothing bills it; no counter bills past its
//!   ceiling; every counted unit was recorded by a trusted caller; units counted under a limit
//!   never pass it within one paid time: periods that overlap (a restart before the end) are one
//!   window, however many periods it took.
//! - **I4 convergence.** Once deliveries settle, and after reconcile, the table's subscriptions
//!   and purchases equal Stripe's.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{History, Observation, Rules};

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub user: String,
    pub detail: String,
}

/// What a check may rely on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// The usage reporter ran after the last record, and nothing it sent failed.
    pub reported: bool,
    /// Every delivery landed (or reconcile repaired what was dropped).
    pub converged: bool,
}

/// Every violation `observation` and `history` show.
pub fn check(rules: &Rules, observation: &Observation, history: &History, settled: Settled) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut violation = |invariant: &'static str, detail: String| {
        out.push(Violation {
            invariant,
            user: observation.user.clone(),
            detail,
        })
    };
    if settled.converged {
        for detail in paid_access(rules, observation, history) {
            violation("I1 paid access", detail);
        }
    }
    for detail in money(observation, history) {
        violation("I2 money", detail);
    }
    for detail in usage(rules, observation, history, settled) {
        violation("I3 usage", detail);
    }
    if settled.converged {
        for detail in convergence(observation) {
            violation("I4 convergence", detail);
        }
    }
    out
}

/// Whether Stripe's `sub` pays for its plan at the observation's time.
pub fn grants(rules: &Rules, o: &Observation, sub: &crate::model::StripeSub) -> bool {
    let ended = (sub.cancel_at_period_end && o.at >= sub.period_end) || sub.cancel_at.is_some_and(|at| o.at >= at);
    // Paused collection: Stripe renews without collecting; the period it opened was not paid.
    let paused = sub.pause.as_ref().is_some_and(|p| p.resumes_at.is_none_or(|at| o.at < at));
    let unpaid = sub.latest_invoice.as_ref().is_some_and(|id| {
        o.invoices
            .iter()
            .any(|i| &i.id == id && i.created >= sub.period_start && matches!(i.status.as_str(), "void" | "uncollectible" | "draft"))
    });
    if paused || unpaid {
        return false;
    }
    match sub.status.as_str() {
        "active" | "trialing" => !ended,
        "past_due" => {
            !ended
                && sub
                    .past_due_since
                    .is_some_and(|since| o.at < since + rules.grace_secs + rules.lag_secs)
        }
        _ => false,
    }
}

/// I1: every allowed feature, and what justifies it.
pub fn paid_access(rules: &Rules, o: &Observation, h: &History) -> Vec<String> {
    let mut justified: BTreeSet<&str> = rules.free_features.iter().map(String::as_str).collect();
    justified.extend(
        h.grants
            .iter()
            .filter(|g| g.from <= o.at && o.at < g.until)
            .map(|g| g.feature.as_str()),
    );
    for sub in &o.subscriptions {
        if grants(rules, o, sub)
            && let Some(features) = sub.plan.as_ref().and_then(|p| rules.plan_features.get(p))
        {
            justified.extend(features.iter().map(String::as_str));
        }
    }
    for purchase in o.purchases.iter().filter(|p| !p.refunded && !p.disputed) {
        if let Some(features) = rules.plan_features.get(&purchase.plan) {
            justified.extend(features.iter().map(String::as_str));
        }
    }
    o.allowed
        .iter()
        .filter(|f| !justified.contains(f.as_str()))
        .map(|f| {
            let standing: Vec<String> = o
                .subscriptions
                .iter()
                .map(|s| format!("{} {} {:?}", s.id, s.status, s.plan))
                .collect();
            format!("`{f}` is allowed, but nothing in Stripe pays for it (subscriptions: {standing:?})")
        })
        .collect()
}

/// The largest percentage off of the codes the audit offers ([`crate::retention`]).
pub const MAX_PERCENT_OFF: i64 = crate::retention::MAX_PERCENT_OFF;

/// I2.
pub fn money(o: &Observation, h: &History) -> Vec<String> {
    let mut out = Vec::new();
    // What is left pending per subscription (a downgrade's credit and charge come as a pair: the
    // sum is what the customer owes).
    let live: BTreeSet<&str> = o.subscriptions.iter().filter(|s| s.live()).map(|s| s.id.as_str()).collect();
    let mut owed: BTreeMap<Option<&str>, (i64, Vec<&str>)> = BTreeMap::new();
    for item in &o.pending {
        let slot = owed.entry(item.subscription.as_deref()).or_default();
        slot.0 += item.amount;
        slot.1.push(item.id.as_str());
    }
    for (subscription, (amount, items)) in owed {
        let orphaned = match subscription {
            Some(sub) => !live.contains(sub),
            None => live.is_empty(),
        };
        if orphaned && amount > 0 {
            out.push(format!(
                "{amount} minor units of invoice items {items:?} of {subscription:?} are left unbilled: nothing live will ever invoice them"
            ));
        }
    }
    for invoice in &o.invoices {
        for price in invoice.prices.iter().filter(|p| !h.held_prices.contains(*p)) {
            out.push(format!("invoice {} bills price {price}, which the customer never held", invoice.id));
        }
    }
    for sub in o.subscriptions.iter().filter(|s| s.discounts > 1) {
        out.push(format!(
            "subscription {} carries {} discounts: codes stacked",
            sub.id, sub.discounts
        ));
    }
    for invoice in &o.invoices {
        if invoice.discounts > 1 {
            out.push(format!(
                "invoice {} applies {} discounts: codes stacked",
                invoice.id, invoice.discounts
            ));
        }
        // Against the lines that charge: a final invoice may hold a proration credit beside
        // the discounted usage, and its negative subtotal says nothing of the discount.
        if invoice.discounted > 0 && invoice.discounted * 100 > invoice.charged.max(0) * MAX_PERCENT_OFF + 100 {
            out.push(format!(
                "invoice {} takes {} off {} charged: more than any one code gives ({MAX_PERCENT_OFF} %)",
                invoice.id, invoice.discounted, invoice.charged
            ));
        }
    }
    for upgrade in h.upgrades.iter().filter(|u| !u.trialing && u.charged <= 0) {
        out.push(format!(
            "the upgrade of {} made now was not charged (nothing invoiced nor pending for it)",
            upgrade.subscription
        ));
    }
    out
}

/// I3.
pub fn usage(rules: &Rules, o: &Observation, h: &History, settled: Settled) -> Vec<String> {
    let mut out = Vec::new();
    if settled.reported && o.customer.is_some() {
        let (table, stripe) = (o.metered_in_table(), o.metered_in_stripe);
        if i64::try_from(table).unwrap_or(i64::MAX) != stripe {
            out.push(format!(
                "the table counted {table} metered units, Stripe's meter holds {stripe}: {}",
                if (table as i64) > stripe {
                    "units never billed"
                } else {
                    "units billed twice"
                }
            ));
        }
    }
    for pair in h.metered.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        if after.units > before.units && !before.billing && !after.billing {
            out.push(format!(
                "{} metered units counted between {} and {} while no subscription billed them",
                after.units - before.units,
                crate::model::day_of(before.at),
                crate::model::day_of(after.at)
            ));
        }
    }
    for counter in &o.counters {
        if let Some(ceiling) = rules.ceilings.get(&counter.feature)
            && counter.metered > *ceiling
        {
            out.push(format!(
                "{} metered units of `{}` in the period ending {}: past the ceiling of {ceiling}",
                counter.metered, counter.feature, counter.period_end
            ));
        }
    }
    let mut counted: BTreeMap<&str, u64> = BTreeMap::new();
    for counter in &o.counters {
        *counted.entry(counter.feature.as_str()).or_default() += counter.used;
    }
    let mut recorded: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for record in &h.records {
        let slot = recorded.entry(record.feature.as_str()).or_default();
        if record.allowed {
            slot.0 += record.quantity;
        } else if record.ambiguous {
            slot.1 += record.quantity;
        }
    }
    for (feature, units) in &counted {
        let (trusted, maybe) = recorded.get(feature).copied().unwrap_or((0, 0));
        if *units < trusted || *units > trusted + maybe {
            out.push(format!(
                "the table counts {units} units of `{feature}`, trusted callers recorded {trusted} (and {maybe} whose answer was lost)"
            ));
        }
    }
    out.extend(quota_windows(h));
    out.extend(h.anomalies.iter().cloned());
    out
}

/// The quota part of I3: units accepted under a limit never pass it within one paid time. At
/// the moment of each accepted record, every billing period Stripe showed that contains that
/// moment is paid time already paid for; the units accepted in all of them together stay
/// within the record's limit. (A renewal starts where the last period ended: the old period no
/// longer contains the moment. A restart before the end does: the spent count goes on.)
fn quota_windows(h: &History) -> Vec<String> {
    let periods: Vec<(i64, i64)> = h.periods.iter().map(|(_, s, e)| (*s, *e)).collect();
    // Units accepted so far per (feature, period end).
    let mut spent: BTreeMap<(String, i64), u64> = BTreeMap::new();
    let mut out = Vec::new();
    for record in h.records.iter().filter(|r| r.allowed) {
        let (Some(limit), Some(end)) = (record.limit, record.period_end) else {
            continue;
        };
        *spent.entry((record.feature.clone(), end)).or_default() += record.quantity;
        let subscription_period = periods.iter().any(|(_, e)| *e == end);
        let ends: BTreeSet<i64> = if subscription_period {
            periods
                .iter()
                .filter(|(s, e)| *s <= record.at && record.at < *e)
                .map(|(_, e)| *e)
                .chain(std::iter::once(end))
                .collect()
        } else {
            // A calendar month (the free plan): a window of its own.
            std::iter::once(end).collect()
        };
        let total: u64 = ends
            .iter()
            .map(|e| spent.get(&(record.feature.clone(), *e)).copied().unwrap_or(0))
            .sum();
        if total > limit {
            out.push(format!(
                "{total} units of `{}` accepted within one paid time (periods ending {ends:?}), past the limit of {limit}",
                record.feature
            ));
        }
    }
    out
}

/// I4.
pub fn convergence(o: &Observation) -> Vec<String> {
    let mut out = Vec::new();
    for sub in &o.subscriptions {
        let Some(row) = o.table_subscriptions.iter().find(|t| t.id == sub.id) else {
            out.push(format!("subscription {} ({}) is not in the table", sub.id, sub.status));
            continue;
        };
        let stripe = (
            sub.status.as_str(),
            sub.price.as_deref(),
            sub.quantity,
            Some(sub.period_end),
            sub.cancel_at_period_end,
        );
        let table = (
            row.status.as_str(),
            row.price.as_deref(),
            row.quantity,
            row.period_end,
            row.cancel_at_period_end,
        );
        if stripe != table {
            out.push(format!(
                "subscription {}: Stripe has {stripe:?}, the table {table:?} (status, price, quantity, period end, cancel at period end)",
                sub.id
            ));
        }
    }
    for row in &o.table_subscriptions {
        let purchase = o.purchases.iter().find(|p| p.id == row.id);
        if let Some(purchase) = purchase {
            // Money that went back is for good; a dispute of it changes nothing more.
            let want = if purchase.refunded {
                "refunded"
            } else if purchase.disputed {
                "disputed"
            } else {
                "active"
            };
            if row.status != want {
                out.push(format!("purchase {}: Stripe says {want}, the table {}", row.id, row.status));
            }
        } else if !o.subscriptions.iter().any(|s| s.id == row.id) {
            out.push(format!("the table has {} ({}), which Stripe does not", row.id, row.status));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Invoice, MeteredPoint, PendingItem, Record, StripeSub, TableCounter, TableSub, Upgrade};

    const DAY: i64 = 86_400;

    fn rules() -> Rules {
        Rules::from_catalog(&billing::domain::plans::Catalog::embedded().unwrap(), 7 * DAY)
    }

    fn sub(id: &str, status: &str, plan: &str) -> StripeSub {
        StripeSub {
            id: id.into(),
            status: status.into(),
            plan: Some(plan.into()),
            price: Some(format!("price_{plan}")),
            quantity: 1,
            period_start: 0,
            period_end: 30 * DAY,
            ..StripeSub::default()
        }
    }

    fn observed(subscriptions: Vec<StripeSub>) -> Observation {
        Observation {
            user: "u1".into(),
            at: 10 * DAY,
            customer: Some("cus_1".into()),
            table_subscriptions: subscriptions
                .iter()
                .map(|s| TableSub {
                    id: s.id.clone(),
                    status: s.status.clone(),
                    price: s.price.clone(),
                    quantity: s.quantity,
                    period_end: Some(s.period_end),
                    cancel_at_period_end: s.cancel_at_period_end,
                })
                .collect(),
            subscriptions,
            allowed: ["projects".to_owned()].into(),
            ..Observation::default()
        }
    }

    fn history(records: Vec<Record>) -> History {
        History {
            user: "u1".into(),
            records,
            ..History::default()
        }
    }

    fn record(at: i64, quantity: u64, limit: Option<u64>, period_end: i64) -> Record {
        Record {
            at,
            feature: "api_calls".into(),
            quantity,
            allowed: true,
            limit,
            period_end: Some(period_end),
            ambiguous: false,
        }
    }

    fn counter(used: u64, limited: u64, metered: u64) -> TableCounter {
        TableCounter {
            feature: "api_calls".into(),
            period_start: 0,
            period_end: 30 * DAY,
            used,
            limited,
            metered,
            reported: metered,
            customer: Some("cus_1".into()),
        }
    }

    const ALL: Settled = Settled {
        reported: true,
        converged: true,
    };

    #[test]
    fn a_consistent_customer_breaks_nothing() {
        let mut o = observed(vec![sub("sub_1", "active", "starter")]);
        o.allowed.insert("exports".into());
        let mut h = history(vec![record(DAY, 10, Some(1000), 30 * DAY)]);
        h.learn(&o);
        o.counters = vec![counter(10, 10, 0)];
        assert_eq!(check(&rules(), &o, &h, ALL), Vec::new());
    }

    #[test]
    fn access_without_payment_is_reported() {
        let mut o = observed(vec![sub("sub_1", "canceled", "pro")]);
        o.allowed.insert("api_access".into());
        let found = paid_access(&rules(), &o, &History::default());
        assert_eq!(found.len(), 1, "{found:?}");
        // Past due beyond the grace period grants nothing either.
        let mut late = sub("sub_1", "past_due", "pro");
        late.past_due_since = Some(0);
        let mut o = observed(vec![late]);
        o.at = 20 * DAY;
        o.allowed.insert("api_access".into());
        assert_eq!(paid_access(&rules(), &o, &History::default()).len(), 1);
    }

    /// 1a: an upgrade's proration left pending on a subscription canceled now.
    #[test]
    fn an_uncollected_upgrade_after_a_cancel_now_is_reported() {
        let mut o = observed(vec![sub("sub_1", "canceled", "starter")]);
        o.pending = vec![
            PendingItem {
                id: "ii_credit".into(),
                subscription: Some("sub_1".into()),
                amount: -600,
            },
            PendingItem {
                id: "ii_charge".into(),
                subscription: Some("sub_1".into()),
                amount: 3480,
            },
        ];
        let found = money(&o, &History::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("2880 minor units"),
            "the credit and the charge net out: {found:?}"
        );
        // While the subscription lives, its next invoice bills it: no violation.
        o.subscriptions[0].status = "active".into();
        assert!(money(&o, &History::default()).is_empty());
    }

    /// 1b: month → year → month restarts the period twice; the quota is spent again.
    #[test]
    fn a_quota_granted_again_by_a_period_restart_is_reported() {
        let mut h = history(vec![
            record(DAY, 1000, Some(1000), 30 * DAY),
            record(2 * DAY, 1, Some(1000), 367 * DAY),
            record(3 * DAY, 500, Some(1000), 33 * DAY),
        ]);
        h.periods = [
            ("sub_1".to_owned(), 0, 30 * DAY),
            ("sub_1".to_owned(), 2 * DAY, 367 * DAY),
            ("sub_1".to_owned(), 3 * DAY, 33 * DAY),
        ]
        .into();
        let found = quota_windows(&h);
        assert_eq!(found.len(), 2, "{found:?}");
        // A renewal is a new paid period: the same count there is fine.
        let mut renewed = history(vec![
            record(DAY, 1000, Some(1000), 30 * DAY),
            record(31 * DAY, 1000, Some(1000), 60 * DAY),
        ]);
        renewed.periods = [("sub_1".to_owned(), 0, 30 * DAY), ("sub_1".to_owned(), 30 * DAY, 60 * DAY)].into();
        assert!(quota_windows(&renewed).is_empty());
        // A subscription begun after another ended is new paid time too.
        let mut later = history(vec![
            record(DAY, 900, Some(1000), 30 * DAY),
            record(40 * DAY, 900, Some(1000), 400 * DAY),
        ]);
        later.periods = [("sub_1".to_owned(), 0, 30 * DAY), ("sub_2".to_owned(), 35 * DAY, 400 * DAY)].into();
        assert!(quota_windows(&later).is_empty());
    }

    /// 1c: a user recorded their own usage: units counted that no trusted caller recorded.
    #[test]
    fn units_no_trusted_caller_recorded_are_reported() {
        let mut o = observed(vec![sub("sub_1", "active", "pro")]);
        o.counters = vec![counter(1_000_000, 0, 1_000_000)];
        o.metered_in_stripe = 1_000_000;
        let found = usage(&rules(), &o, &history(vec![]), ALL);
        assert!(found.iter().any(|f| f.contains("trusted callers recorded 0")), "{found:?}");
        // A lost answer may have counted: within what those records asked, it is no violation.
        let mut lost = record(DAY, 1_000_000, None, 30 * DAY);
        (lost.allowed, lost.ambiguous) = (false, true);
        assert!(
            !usage(&rules(), &o, &history(vec![lost]), ALL)
                .iter()
                .any(|f| f.contains("trusted callers"))
        );
    }

    /// 1d: metered units past the ceiling.
    #[test]
    fn metered_units_past_the_ceiling_are_reported() {
        let mut o = observed(vec![sub("sub_1", "active", "pro")]);
        let units = billing::domain::plans::DEFAULT_METERED_CEILING + 1;
        o.counters = vec![counter(units, 0, units)];
        o.metered_in_stripe = units as i64;
        let h = history(vec![record(DAY, units, None, 30 * DAY)]);
        let found = usage(&rules(), &o, &h, ALL);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("ceiling"));
    }

    /// 1e: the reporter's queue stuck: units counted never reach Stripe (or reach it twice).
    #[test]
    fn metered_units_missing_from_stripe_or_there_twice_are_reported() {
        let mut o = observed(vec![sub("sub_1", "active", "pro")]);
        o.counters = vec![counter(500, 0, 500)];
        o.metered_in_stripe = 250;
        let h = history(vec![record(DAY, 500, None, 30 * DAY)]);
        assert!(usage(&rules(), &o, &h, ALL)[0].contains("never billed"));
        o.metered_in_stripe = 1000;
        assert!(usage(&rules(), &o, &h, ALL)[0].contains("billed twice"));
        let unsettled = Settled {
            reported: false,
            converged: true,
        };
        assert!(usage(&rules(), &o, &h, unsettled).is_empty(), "only judged after a reporter run");
    }

    /// 1f: metered units counted after the cancel now, which no invoice bills.
    #[test]
    fn units_metered_after_the_subscription_ended_are_reported() {
        let h = History {
            metered: vec![
                MeteredPoint {
                    at: DAY,
                    units: 30,
                    billing: true,
                },
                MeteredPoint {
                    at: 2 * DAY,
                    units: 30,
                    billing: false,
                },
                MeteredPoint {
                    at: 3 * DAY,
                    units: 45,
                    billing: false,
                },
            ],
            ..History::default()
        };
        let o = observed(vec![]);
        let found = usage(&rules(), &o, &h, Settled::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("15 metered units"));
    }

    /// 1g: an upgrade judged a downgrade in the wrong currency, made without proration.
    #[test]
    fn an_uncharged_upgrade_is_reported() {
        let mut h = History {
            upgrades: vec![Upgrade {
                at: DAY,
                subscription: "sub_eur".into(),
                trialing: false,
                charged: 0,
            }],
            ..History::default()
        };
        let found = money(&observed(vec![]), &h);
        assert_eq!(found.len(), 1, "{found:?}");
        h.upgrades[0].trialing = true;
        assert!(money(&observed(vec![]), &h).is_empty(), "a trial prorates nothing");
    }

    #[test]
    fn an_invoice_for_a_price_never_held_is_reported() {
        let mut o = observed(vec![sub("sub_1", "active", "starter")]);
        o.invoices = vec![Invoice {
            id: "in_1".into(),
            prices: vec!["price_starter".into(), "price_pro".into()],
            ..Invoice::default()
        }];
        let mut h = History::default();
        h.learn(&o);
        let found = money(&o, &h);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("price_pro"));
    }

    #[test]
    fn a_table_behind_stripe_is_reported() {
        let mut o = observed(vec![sub("sub_1", "canceled", "starter")]);
        o.table_subscriptions[0].status = "active".into();
        let found = convergence(&o);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            !check(&rules(), &o, &History::default(), Settled::default())
                .iter()
                .any(|v| v.invariant == "I4 convergence"),
            "not judged before deliveries settle"
        );
    }

    #[test]
    fn a_grant_justifies_its_feature_only_until_it_ends() {
        let mut o = observed(vec![]);
        o.allowed.insert("api_access".into());
        let mut h = History::default();
        assert_eq!(paid_access(&rules(), &o, &h).len(), 1, "no grant: a leak");
        h.grants.push(crate::model::GrantSpan {
            feature: "api_access".into(),
            from: 0,
            until: 11 * DAY,
        });
        assert!(paid_access(&rules(), &o, &h).is_empty(), "granted until day 11");
        o.at = 11 * DAY;
        assert_eq!(paid_access(&rules(), &o, &h).len(), 1, "a grant that did not end by itself");
    }

    #[test]
    fn a_paused_subscription_or_a_period_it_never_paid_justifies_nothing() {
        let mut paused = sub("sub_1", "active", "pro");
        paused.pause = Some(billing::domain::pause::PauseCollection {
            behavior: "void".into(),
            resumes_at: Some(20 * DAY),
        });
        let mut o = observed(vec![paused.clone()]);
        o.allowed.insert("api_access".into());
        assert_eq!(paid_access(&rules(), &o, &History::default()).len(), 1, "paused: a leak");
        // The pause lifted by itself, but the period it renewed was voided.
        let mut lifted = paused;
        lifted.pause = None;
        lifted.latest_invoice = Some("in_void".into());
        let mut o = observed(vec![lifted]);
        o.allowed.insert("api_access".into());
        o.invoices = vec![Invoice {
            id: "in_void".into(),
            status: "void".into(),
            created: 0,
            ..Invoice::default()
        }];
        assert_eq!(paid_access(&rules(), &o, &History::default()).len(), 1, "an unpaid period: a leak");
        o.invoices[0].status = "paid".into();
        assert!(paid_access(&rules(), &o, &History::default()).is_empty());
    }

    #[test]
    fn stacked_codes_and_an_invoice_discounted_past_any_code_are_reported() {
        let mut stacked = sub("sub_1", "active", "pro");
        stacked.discounts = 2;
        let mut o = observed(vec![stacked]);
        o.invoices = vec![Invoice {
            id: "in_1".into(),
            subtotal: 10_000,
            charged: 10_000,
            discounted: 7_000,
            discounts: 2,
            ..Invoice::default()
        }];
        let h = History::default();
        let found = money(&o, &h);
        assert_eq!(found.len(), 3, "{found:?}");
        o.subscriptions[0].discounts = 1;
        o.invoices[0].discounts = 1;
        o.invoices[0].discounted = 5_000;
        assert!(money(&o, &h).is_empty(), "one code, at most 50 %");
        // A cancel's final invoice: 10 % off 102 of usage beside a proration credit of -1934.
        o.invoices[0] = Invoice {
            id: "in_2".into(),
            subtotal: -1_832,
            charged: 102,
            discounted: 10,
            discounts: 1,
            ..Invoice::default()
        };
        assert!(money(&o, &h).is_empty(), "measured against what the invoice charges");
        o.invoices[0].discounted = 80;
        assert_eq!(money(&o, &h).len(), 1, "80 off 102 charged is past any code");
    }
}
