//! Organizations in the audit: some customers are organizations (their admin buys and manages
//! through tokens that act for them, [`crate::client::admin_of`]), whose members hold seats.
//!
//! - Operations: an admin assigns or frees a member's seat; a member tries to assign one
//!   (must be refused: an anomaly otherwise).
//! - **I6 seats.** In the organization's context a member may use a feature only when the free
//!   plan has it, or a subscription Stripe shows as paying has it and the plan is open or the
//!   member holds a seat whose slot is within that subscription's quantity. No more seats count
//!   than Stripe's quantity pays for. In their own context a member sees none of the
//!   organization's billing: no subscription, nothing beyond the free plan.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::actions::Actor;
use crate::client::{Client, Result};
use crate::invariants::grants;
use crate::model::{Observation, Rules};
use crate::rng::Rng;

/// Members simulated per organization.
pub const MEMBERS: usize = 4;

/// The members of organization `org`.
pub fn members(org: &str) -> Vec<String> {
    (0..MEMBERS).map(|i| format!("{org}-m{i}")).collect()
}

impl Actor {
    /// A seat operation of an organization.
    pub async fn seat_op(&mut self, client: &Client, rng: &mut Rng, at: i64) -> Result<()> {
        let Some(org) = billing::domain::billable::Billable::of(&self.user).org_id().map(str::to_owned) else {
            return Ok(());
        };
        let member = rng.pick(&members(&org)).clone();
        let path = format!("/org/seats/{member}");
        match rng.below(100) {
            0..50 => {
                let (status, answer) = client.api(Method::PUT, &path, &self.user, None, None).await?;
                self.history.note(at, format!("PUT {path} → {status} {answer}"));
            }
            50..85 => {
                let (status, _) = client.api(Method::DELETE, &path, &self.user, None, None).await?;
                self.history.note(at, format!("DELETE {path} → {status}"));
            }
            _ => {
                let (status, _) = client.member_api(Method::PUT, &path, &member, Some((&org, "org:member"))).await?;
                self.history.note(at, format!("PUT {path} by the member → {status}"));
                if status != 403 {
                    self.history
                        .anomalies
                        .push(format!("a member assigning a seat got {status}, not 403"));
                }
            }
        }
        Ok(())
    }
}

/// I6 for organization `org`, whose billing `o` observed.
pub async fn check(client: &Client, rules: &Rules, o: &Observation, org: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let (status, listed) = client.api(Method::GET, "/org/seats", &o.user, None, None).await?;
    if status != 200 {
        return Ok(vec![format!("GET /org/seats answered {status} {listed}")]);
    }
    let slots: Vec<(String, u64)> = listed["assigned"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some((a["user_id"].as_str()?.to_owned(), a["slot"].as_u64()?)))
        .collect();
    let reported = listed["quantity"].as_u64().unwrap_or(0);
    // A one-time purchase (quantity 1 in the audit's catalog) counts as one seat.
    let purchased = u64::from(o.purchases.iter().any(|p| !p.refunded && !p.disputed));
    let paid_for = o
        .subscriptions
        .iter()
        .filter(|s| s.live())
        .map(|s| s.quantity)
        .max()
        .unwrap_or(0)
        .max(purchased);
    let counted = slots.iter().filter(|(_, slot)| *slot <= reported).count() as u64;
    if counted > paid_for {
        out.push(format!("{counted} seats count, but Stripe's quantity is {paid_for}"));
    }
    for member in members(org) {
        let slot = slots.iter().find(|(m, _)| *m == member).map(|(_, s)| *s);
        let in_org = allowed(client, &member, Some(org)).await?;
        let own = allowed(client, &member, None).await?;
        let (status, listed) = client.member_api(Method::GET, "/subscription", &member, None).await?;
        let own_subscriptions = if status == 200 {
            listed["subscriptions"].as_array().map(Vec::len)
        } else {
            None
        };
        out.extend(judge_member(
            rules,
            o,
            &Member {
                name: &member,
                slot,
                in_org,
                own,
                own_subscriptions,
            },
        ));
    }
    Ok(out)
}

/// What the audit saw of one member.
pub struct Member<'a> {
    pub name: &'a str,
    /// The slot of their seat, per `GET /org/seats`.
    pub slot: Option<u64>,
    /// Allowed in the organization's context.
    pub in_org: BTreeSet<String>,
    /// Allowed in their own context.
    pub own: BTreeSet<String>,
    /// Subscriptions their own `GET /subscription` lists (`None`: it failed).
    pub own_subscriptions: Option<usize>,
}

/// I6 for one member of the organization `o` observed. Pure.
pub fn judge_member(rules: &Rules, o: &Observation, m: &Member<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut justified: BTreeSet<&str> = rules.free_features.iter().map(String::as_str).collect();
    for sub in o.subscriptions.iter().filter(|s| grants(rules, o, s)) {
        let Some(plan) = sub.plan.as_deref() else { continue };
        let seated = rules.open_plans.contains(plan) || m.slot.is_some_and(|s| s <= sub.quantity);
        if seated && let Some(features) = rules.plan_features.get(plan) {
            justified.extend(features.iter().map(String::as_str));
        }
    }
    for purchase in o.purchases.iter().filter(|p| !p.refunded && !p.disputed) {
        let seated = rules.open_plans.contains(&purchase.plan) || m.slot.is_some_and(|s| s <= 1);
        if seated && let Some(features) = rules.plan_features.get(&purchase.plan) {
            justified.extend(features.iter().map(String::as_str));
        }
    }
    for feature in m.in_org.iter().filter(|f| !justified.contains(f.as_str())) {
        out.push(format!(
            "{} may use `{feature}` in the organization (seat slot {:?}), but no paid seat or open plan gives it",
            m.name, m.slot
        ));
    }
    for feature in m.own.iter().filter(|f| !rules.free_features.contains(*f)) {
        out.push(format!(
            "{} may use `{feature}` in their own context: the organization's billing leaked into it",
            m.name
        ));
    }
    if m.own_subscriptions != Some(0) {
        out.push(format!(
            "{}'s own GET /subscription lists {:?} subscriptions",
            m.name, m.own_subscriptions
        ));
    }
    out
}

/// The features `GET /entitlements` allows `member`, in `org` or in their own context.
async fn allowed(client: &Client, member: &str, org: Option<&str>) -> Result<BTreeSet<String>> {
    let (status, access) = client
        .member_api(Method::GET, "/entitlements", member, org.map(|o| (o, "org:member")))
        .await?;
    if status != 200 {
        return Err(crate::client::CallError(format!(
            "GET /entitlements for {member}: {status} {access}"
        )));
    }
    Ok(access["features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StripeSub;

    fn rules() -> Rules {
        let mut rules = Rules {
            grace_secs: 7 * 86_400,
            ..Rules::default()
        };
        rules.free_features.insert("projects".into());
        rules
            .plan_features
            .insert("team".into(), ["projects", "exports"].map(String::from).into());
        rules.plan_features.insert("site".into(), ["wiki"].map(String::from).into());
        rules.open_plans.insert("site".into());
        rules
    }

    fn org(plan: &str, quantity: u64, status: &str) -> Observation {
        Observation {
            user: "org:o".into(),
            at: 1_000,
            subscriptions: vec![StripeSub {
                id: "sub_1".into(),
                status: status.into(),
                plan: Some(plan.into()),
                quantity,
                period_end: 2_000,
                ..StripeSub::default()
            }],
            ..Observation::default()
        }
    }

    fn member(slot: Option<u64>, in_org: &[&str], own: &[&str]) -> Member<'static> {
        Member {
            name: "o-m0",
            slot,
            in_org: in_org.iter().map(|f| f.to_string()).collect(),
            own: own.iter().map(|f| f.to_string()).collect(),
            own_subscriptions: Some(0),
        }
    }

    #[test]
    fn each_known_seat_leak_is_reported() {
        let rules = rules();
        // Fine: a seat within the quantity, the free plan at home.
        assert!(judge_member(&rules, &org("team", 2, "active"), &member(Some(2), &["exports"], &["projects"])).is_empty());
        // No seat, a seat past the quantity, a canceled subscription: the plan's feature leaks.
        for (o, slot) in [
            (org("team", 2, "active"), None),
            (org("team", 2, "active"), Some(3)),
            (org("team", 2, "canceled"), Some(1)),
        ] {
            let found = judge_member(&rules, &o, &member(slot, &["exports"], &[]));
            assert_eq!(found.len(), 1, "{slot:?}: {found:?}");
        }
        // An open plan serves every member; its features at home are a leak.
        assert!(judge_member(&rules, &org("site", 1, "active"), &member(None, &["wiki"], &[])).is_empty());
        assert_eq!(
            judge_member(&rules, &org("site", 1, "active"), &member(None, &[], &["wiki"])).len(),
            1
        );
        let mut listed = member(Some(1), &[], &[]);
        listed.own_subscriptions = Some(1);
        assert_eq!(judge_member(&rules, &org("team", 2, "active"), &listed).len(), 1);
    }
}
