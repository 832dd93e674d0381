//! The simulation: N customers through D days. Each day the webhooks' chaos is drawn, each
//! customer acts (0 to 2 operations), the clock moves a day (renewals, trial ends, dunning),
//! the usage reporter runs, and reconcile on days that dropped webhooks (and weekly). Then
//! every customer is observed once deliveries settled, and the invariants are judged.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use billing::domain::plans::Catalog;
use futures_util::StreamExt;
use serde_json::json;

use crate::actions::Actor;
use crate::client::{Client, Result};
use crate::invariants::{Settled, Violation, check};
use crate::model::Rules;
use crate::observe::{Prices, observe};
use crate::rng::Rng;

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub users: usize,
    pub days: u32,
    pub seed: u64,
}

/// What a run found.
pub struct Report {
    pub operations: u64,
    /// Each violation once (its first sighting), with the customer's history up to then.
    pub violations: Vec<(Violation, Vec<String>)>,
    /// Every customer's history.
    pub histories: Vec<(String, Vec<String>)>,
    pub elapsed: Duration,
}

/// The webhooks' chaos of one day, and whether events may be lost (then reconcile runs).
fn chaos(rng: &mut Rng) -> (serde_json::Value, bool) {
    match rng.below(100) {
        0..55 => (
            json!({"duplicates": false, "shuffle": false, "delay_ms": 0, "drop_percent": 0}),
            false,
        ),
        55..75 => (
            json!({"duplicates": true, "shuffle": true, "delay_ms": 0, "drop_percent": 0}),
            false,
        ),
        75..85 => (
            json!({"duplicates": false, "shuffle": true, "delay_ms": 15, "drop_percent": 0}),
            false,
        ),
        _ => (
            json!({"duplicates": true, "shuffle": false, "delay_ms": 0, "drop_percent": 30}),
            true,
        ),
    }
}

pub async fn run(client: &Client, plan: Plan) -> Result<Report> {
    let started = Instant::now();
    // The stack's catalog (`PLANS_PATH`, which dev/audit.sh sets for every process).
    let path = std::env::var_os("PLANS_PATH").map(std::path::PathBuf::from);
    let catalog = Catalog::load(path.as_deref()).map_err(|e| crate::client::CallError(e.to_string()))?;
    let rules = Rules::from_catalog(&catalog, 7 * 86_400);
    let prices = Prices::load(client, &catalog).await?;
    crate::retention::offer_codes(client, plan.seed).await?;
    let mut rng = Rng::new(plan.seed);
    // Every third customer is an organization: its admin buys and manages, its members hold seats.
    let mut actors: Vec<Actor> = (0..plan.users)
        .map(|i| {
            let name = format!("audit-{}-{i}", plan.seed);
            Actor::new(if i % 3 == 2 { billing::domain::billable::org(&name) } else { name })
        })
        .collect();
    let mut report = Report {
        operations: 0,
        violations: Vec::new(),
        histories: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let feed = crate::events::Feed::attach(&client.endpoints().dynamodb).await?;
    let mut seen: BTreeSet<(String, &'static str, String)> = BTreeSet::new();
    let mut missed = 0;
    for day in 1..=plan.days {
        let (chaos, drops) = chaos(&mut rng);
        client.control("/config", &json!({"chaos": chaos})).await?;
        let at = client.now().await?;
        for actor in &mut actors {
            let operations = match rng.below(10) {
                0..4 => 0,
                4..8 => 1,
                _ => 2,
            };
            for _ in 0..operations {
                actor.act(client, &prices, &mut rng, at).await?;
            }
        }
        client.settle().await?;
        // The day's metered units reach Stripe before the clock moves (as the reporter's
        // schedule sends them within a minute), then whatever the day's end left.
        let before = client.invoke("usage-reporter", &json!({})).await?;
        report.operations += 1;
        let (status, answer) = client.control("/clock/advance", &json!({"days": 1})).await?;
        if status != 200 {
            return Err(crate::client::CallError(format!("clock advance: {status} {answer}")));
        }
        report.operations += 1;
        // Deliveries that ran out of retries are missed webhooks too: reconcile repairs them.
        let undelivered = client.settle().await?;
        let drops = drops || undelivered > missed;
        missed = undelivered;
        let reporter = client.invoke("usage-reporter", &json!({})).await?;
        report.operations += 1;
        let reconciled = drops || day % 7 == 0 || day == plan.days;
        if reconciled {
            client
                .control(
                    "/config",
                    &json!({"chaos": {"duplicates": false, "shuffle": false, "delay_ms": 0, "drop_percent": 0}}),
                )
                .await?;
            client.invoke("reconcile", &json!({})).await?;
            report.operations += 1;
            client.settle().await?;
        }
        // The table's stream wakes the publisher in AWS; here it runs once deliveries settled.
        let publish = client.invoke("events-publisher", &json!({})).await?;
        report.operations += 1;
        let mut drain_violation = crate::events::drained(&publish);
        for (kind, detail) in feed.take().await? {
            let own = actors.iter().position(|a| detail["user_id"].as_str() == Some(a.user.as_str()));
            // A member's event (`seat.*`, their `entitlements.changed`) belongs to the organization.
            let org = detail["org_id"]
                .as_str()
                .map(billing::domain::billable::org)
                .and_then(|org| actors.iter().position(|a| a.user == org));
            match (own, org) {
                (Some(i), _) => actors[i].history.published.push((kind, detail)),
                (None, Some(i)) if kind.starts_with("seat.") || kind == "entitlements.changed" => {
                    actors[i].history.member_events.push((kind, detail))
                }
                _ => drain_violation = Some(format!("{kind} for a user nobody simulates: {detail}")),
            }
        }
        let settled = Settled {
            reported: [&before, &reporter]
                .iter()
                .all(|r| r["failed"].as_u64() == Some(0) && r["parked"].as_u64() == Some(0)),
            converged: !drops || reconciled,
        };
        let late = before["late_units"].as_u64().unwrap_or(0) + reporter["late_units"].as_u64().unwrap_or(0);
        // Everyone is looked at together (a few at a time), then judged in order.
        let looks = futures_util::stream::iter(actors.iter().map(|a| observe(client, &prices, &a.user, a.customer.as_deref())))
            .buffered(4)
            .collect::<Vec<_>>()
            .await;
        for (actor, look) in actors.iter_mut().zip(looks) {
            let (observation, held) = look?;
            if actor.customer.is_none() {
                actor.customer = observation.customer.clone();
            }
            actor.history.held_prices.extend(held);
            actor.history.learn(&observation);
            let mut found = check(&rules, &observation, &actor.history, settled);
            if settled.converged {
                let published = crate::events::check(&rules, &observation, &actor.history.published);
                found.extend(published.into_iter().map(|detail| crate::invariants::Violation {
                    invariant: "I5 events",
                    user: actor.user.clone(),
                    detail,
                }));
            }
            if settled.converged
                && let Some(org) = billing::domain::billable::Billable::of(&actor.user).org_id()
            {
                let seats = crate::seats::check(client, &rules, &observation, org).await?;
                found.extend(seats.into_iter().map(|detail| crate::invariants::Violation {
                    invariant: "I6 seats",
                    user: actor.user.clone(),
                    detail,
                }));
            }
            if let Some(detail) = drain_violation.take() {
                found.push(crate::invariants::Violation {
                    invariant: "I5 events",
                    user: "(publisher)".into(),
                    detail,
                });
            }
            if late > 0 {
                // Not per customer: the reporter's summary is the run's.
                found.push(crate::invariants::Violation {
                    invariant: "I3 usage",
                    user: "(reporter)".into(),
                    detail: format!("{late} metered units reached Stripe after their period's invoice (never billed)"),
                });
            }
            for violation in found {
                // Once per kind of finding per customer: the same one with other figures on a
                // later day is the same finding.
                let kind: String = violation.detail.chars().filter(|c| !c.is_ascii_digit()).collect();
                let key = (violation.user.clone(), violation.invariant, kind);
                if seen.insert(key) {
                    let mut log = actor.history.log.clone();
                    log.push(format!("checked on day {day} ({})", crate::model::day_of(observation.at)));
                    report.violations.push((violation, log));
                }
            }
        }
        if day % 10 == 0 || day == plan.days {
            eprintln!(
                "audit: day {day}/{}: {} operations, {} violations, {:.0} s",
                plan.days,
                report.operations + actors.iter().map(|a| a.operations).sum::<u64>(),
                report.violations.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    report.operations += actors.iter().map(|a| a.operations).sum::<u64>();
    report.histories = actors.into_iter().map(|a| (a.user, a.history.log)).collect();
    report.elapsed = started.elapsed();
    Ok(report)
}
