//! Seats: an organization's subscription quantity, assigned to members.
//!
//! A seat is a numbered **slot** (1 … quantity). Assigning one writes two items in one
//! transaction, each only if absent: the slot (`SEATS#<org>` / `SLOT#<n>`, which member holds
//! it) and the member's seat (`USER#<sub>` / `SEAT#<org>`, which slot they hold). Two admins
//! taking the last free slot write the same slot item: one condition fails, so exactly one wins.
//!
//! A member's seat counts for each of the organization's subscriptions whose quantity covers its
//! slot number ([`serving`], [`decide_member`]): should a quantity drop below the seats held (a
//! change made in Stripe's Dashboard, say), the highest slots stop getting that subscription's
//! plan at once, without a write; two subscriptions serve the slots their own quantities cover.
//! The member's seat lives in the member's own partition so that a decision reads the member's
//! partition and the organization's, and nothing else.

use std::collections::BTreeSet;

use crate::domain::access::{Access, AccessPolicy, catalog_plan, decide};
use crate::domain::plans::{Catalog, SeatMode};
use crate::domain::records::{UserItems, keys};
pub use crate::domain::seat_records::{SeatRecord, SlotRecord};

impl SlotRecord {
    pub fn new(org_id: &str, slot: u32, user_id: &str, now: i64, by: &str) -> Self {
        Self {
            pk: keys::seats(org_id),
            sk: keys::slot(slot),
            slot,
            user_id: user_id.into(),
            assigned_at: now,
            assigned_by: Some(by.into()),
        }
    }

    /// The member's side of this slot.
    pub fn seat(&self, org_id: &str) -> SeatRecord {
        SeatRecord {
            pk: keys::user(&self.user_id),
            sk: keys::seat(org_id),
            org_id: org_id.into(),
            slot: self.slot,
            assigned_at: self.assigned_at,
            assigned_by: self.assigned_by.clone(),
        }
    }
}

/// The lowest slot in `1..=quantity` nobody holds.
pub fn free_slot(taken: &[SlotRecord], quantity: u64) -> Option<u32> {
    let taken: BTreeSet<u32> = taken.iter().map(|s| s.slot).collect();
    (1..=u32::try_from(quantity).unwrap_or(u32::MAX)).find(|n| !taken.contains(n))
}

/// Moves that bring every held slot within `quantity`: `(from, to)` pairs, the highest slots
/// into the lowest free ones. `None` when more seats are held than `quantity`.
pub fn compaction(taken: &[SlotRecord], quantity: u64) -> Option<Vec<(u32, u32)>> {
    if taken.len() as u64 > quantity {
        return None;
    }
    let held: BTreeSet<u32> = taken.iter().map(|s| s.slot).collect();
    let mut free = (1..=u32::try_from(quantity).unwrap_or(u32::MAX)).filter(|n| !held.contains(n));
    let mut moves = Vec::new();
    for high in held.iter().rev().filter(|n| u64::from(**n) > quantity) {
        moves.push((*high, free.next()?));
    }
    Some(moves)
}

/// The slot `personal` holds in organization `org_id`, if any.
pub fn slot_in(personal: &UserItems, org_id: &str) -> Option<u32> {
    personal.seats.iter().find(|s| s.org_id == org_id).map(|s| s.slot)
}

/// The organization's items as they serve a member holding `slot`: each subscription counts
/// on its own, when its plan is open or its quantity covers the slot. When one is left out,
/// the Stripe Entitlements summary (a union over every subscription of the customer) is left
/// out too, and the kept subscriptions' catalog features stand instead.
pub fn serving(catalog: &Catalog, org: &UserItems, slot: Option<u32>) -> UserItems {
    let mut view = org.clone();
    view.subscriptions.retain(|sub| {
        let open = catalog_plan(catalog, sub).is_some_and(|p| p.seats == SeatMode::Open);
        open || slot.is_some_and(|n| u64::from(n) <= sub.quantity)
    });
    if view.subscriptions.len() != org.subscriptions.len() {
        view.entitlements = None;
    }
    view
}

/// The seats the organization pays for: the largest quantity among its subscriptions of
/// assigned-seat plans that grant access now (0 without one; an open plan's quantity sets its
/// price, not seats). Slots are numbered up to it; each subscription serves the
/// slots its own quantity covers ([`serving`]).
pub fn seat_quantity(catalog: &Catalog, org: &UserItems, now: i64, policy: &AccessPolicy) -> u64 {
    org.subscriptions
        .iter()
        .filter(|sub| catalog_plan(catalog, sub).is_none_or(|p| p.seats == SeatMode::Assigned))
        .filter(|sub| {
            let alone = UserItems {
                subscriptions: vec![(*sub).clone()],
                ..UserItems::default()
            };
            decide(catalog, &alone, now, policy).subscribed()
        })
        .map(|sub| sub.quantity)
        .max()
        .unwrap_or(0)
}

/// A member's access in organization `org_id`: their personal access, joined by what the
/// organization's subscriptions give a holder of their seat ([`serving`]: open plans, and the
/// subscriptions whose quantity covers their slot). Features, the highest value per limit; the
/// headline (plan, status, periods) and the usage allowances (pooled per organization) are the
/// organization's. What the organization has but the member's seat does not give is denied
/// with `no_seat`.
pub fn decide_member(catalog: &Catalog, personal: &UserItems, org: &UserItems, org_id: &str, now: i64, policy: &AccessPolicy) -> Access {
    let mine = decide(catalog, personal, now, policy);
    let whole = decide(catalog, org, now, policy);
    if !whole.subscribed() {
        return mine;
    }
    let mut theirs = decide(catalog, &serving(catalog, org, slot_in(personal, org_id)), now, policy);
    // Never more than the organization itself has (the catalog's features stand in for a set-aside
    // Stripe summary, which may grant less).
    theirs.features.retain(|f| whole.features.contains(f));
    let mut access = if theirs.subscribed() {
        let mut access = theirs;
        access.features.extend(mine.features);
        for (name, value) in mine.limits {
            let slot = access.limits.entry(name).or_insert(value);
            *slot = (*slot).max(value);
        }
        access
    } else {
        mine
    };
    access.unseated = whole.features.difference(&access.features).cloned().collect();
    access
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::Reason;
    use crate::domain::records::SubscriptionRecord;

    const NOW: i64 = 1_800_000_000;
    const CATALOG: &str = r#"{"plans": [
        {"id": "free", "name": "Free", "free": true, "features": ["projects"]},
        {"id": "team", "name": "Team", "max_quantity": 50,
         "prices": {"month": {"price": "price_team", "amount": 1000, "currency": "usd"}},
         "features": ["projects", "reports"], "limits": {"reports": {"value": 10, "per_seat": true}, "projects": 3},
         "usage": {"api_calls": {"limit": 100, "per_seat": true}}},
        {"id": "site", "name": "Site", "max_quantity": 50, "seats": "open",
         "prices": {"month": {"price": "price_site", "amount": 1000, "currency": "usd"}},
         "features": ["wiki"]},
        {"id": "solo", "name": "Solo", "seats": "assigned",
         "prices": {"month": {"price": "price_solo", "amount": 500, "currency": "usd"}},
         "features": ["exports"]}
    ]}"#;

    fn items(billable: &str, plan: &str, quantity: u64) -> UserItems {
        let record: SubscriptionRecord = serde_json::from_value(serde_json::json!({
            "pk": keys::user(billable), "sk": keys::subscription("sub_1"), "subscription_id": format!("sub_{billable}"),
            "customer_id": "cus_1", "status": "active", "plan": plan, "quantity": quantity,
            "current_period_start": NOW - 86_400, "current_period_end": NOW + 86_400,
            "cancel_at_period_end": false, "version": 1, "updated_at": NOW
        }))
        .expect("record");
        UserItems {
            subscriptions: vec![record],
            ..UserItems::default()
        }
    }

    fn seat(org: &str, user: &str, slot: u32) -> SeatRecord {
        SlotRecord::new(org, slot, user, NOW, "admin").seat(org)
    }

    #[test]
    fn a_seat_joins_the_organizations_plan_and_per_seat_limits_scale() {
        let catalog = Catalog::from_json("t", CATALOG).expect("catalog");
        let org = items("org:acme", "team", 3);
        let mut member = items("u1", "solo", 1);
        let policy = AccessPolicy::default();
        let unseated = decide_member(&catalog, &member, &org, "acme", NOW, &policy);
        assert!(unseated.check("exports").allowed, "personal access stays");
        assert_eq!(unseated.check("reports").reason, Reason::NoSeat);
        member.seats.push(seat("acme", "u1", 2));
        let seated = decide_member(&catalog, &member, &org, "acme", NOW, &policy);
        assert!(seated.check("reports").allowed && seated.check("exports").allowed);
        assert_eq!(seated.limits.get("reports"), Some(&30), "10 per seat × 3 seats");
        assert_eq!(seated.limits.get("projects"), Some(&3), "not per seat");
        assert_eq!(seated.usage.get("api_calls").and_then(|a| a.limit), Some(300));
        assert_eq!(seated.plan.as_deref(), Some("team"));
    }

    #[test]
    fn a_seat_past_the_quantity_does_not_count_nor_does_another_organizations() {
        let catalog = Catalog::from_json("t", CATALOG).expect("catalog");
        let org = items("org:acme", "team", 2);
        let mut member = UserItems::default();
        member.seats.push(seat("acme", "u1", 3));
        member.seats.push(seat("other", "u1", 1));
        let access = decide_member(&catalog, &member, &org, "acme", NOW, &AccessPolicy::default());
        assert_eq!(access.check("reports").reason, Reason::NoSeat);
        assert!(access.check("projects").allowed, "the free plan still applies");
    }

    #[test]
    fn each_subscription_serves_only_the_slots_its_quantity_covers() {
        let catalog = Catalog::from_json("t", CATALOG).expect("catalog");
        // Five seats of one plan and one of another: slot 2 gets the first plan only.
        let mut org = items("org:acme", "team", 5);
        org.subscriptions.extend(items("org:acme2", "solo", 1).subscriptions);
        org.subscriptions[1].plan = Some("solo".into());
        let mut member = UserItems::default();
        member.seats.push(seat("acme", "u2", 2));
        let access = decide_member(&catalog, &member, &org, "acme", NOW, &AccessPolicy::default());
        assert!(access.check("reports").allowed);
        assert_eq!(
            access.check("exports").reason,
            Reason::NoSeat,
            "the one-seat plan serves slot 1 only"
        );
        let mut first = UserItems::default();
        first.seats.push(seat("acme", "u1", 1));
        assert!(
            decide_member(&catalog, &first, &org, "acme", NOW, &AccessPolicy::default())
                .check("exports")
                .allowed
        );
        assert_eq!(seat_quantity(&catalog, &org, NOW, &AccessPolicy::default()), 5);
        // An open plan's quantity prices it; it numbers no seats.
        let mut site = items("org:acme3", "site", 50).subscriptions;
        site[0].plan = Some("site".into());
        org.subscriptions.extend(site);
        assert_eq!(seat_quantity(&catalog, &org, NOW, &AccessPolicy::default()), 5);
    }

    #[test]
    fn a_member_never_gets_more_than_the_organization_has() {
        let catalog = Catalog::from_json("t", CATALOG).expect("catalog");
        let mut org = items("org:acme", "team", 5);
        org.subscriptions.extend(items("org:acme2", "solo", 1).subscriptions);
        org.subscriptions[1].plan = Some("solo".into());
        // Stripe's summary grants less than the catalog lists.
        org.entitlements = Some(
            serde_json::from_value(serde_json::json!({
                "pk": keys::user("org:acme"), "sk": keys::SK_ENTITLEMENTS, "customer_id": "cus_1",
                "features": ["projects", "exports"], "version": 1, "updated_at": NOW
            }))
            .expect("entitlements"),
        );
        let mut member = UserItems::default();
        member.seats.push(seat("acme", "u2", 2));
        let access = decide_member(&catalog, &member, &org, "acme", NOW, &AccessPolicy::default());
        assert!(access.check("projects").allowed);
        assert!(!access.check("reports").allowed, "the catalog lists it, Stripe does not grant it");
        assert!(!access.check("exports").allowed, "the one-seat plan serves slot 1 only");
    }

    #[test]
    fn an_open_plan_serves_every_member() {
        let catalog = Catalog::from_json("t", CATALOG).expect("catalog");
        let org = items("org:acme", "site", 5);
        let access = decide_member(&catalog, &UserItems::default(), &org, "acme", NOW, &AccessPolicy::default());
        assert!(access.check("wiki").allowed);
    }

    #[test]
    fn slots_fill_from_the_lowest_and_compact_downwards() {
        let taken = [SlotRecord::new("o", 1, "a", NOW, "x"), SlotRecord::new("o", 4, "b", NOW, "x")];
        assert_eq!(free_slot(&taken, 4), Some(2));
        assert_eq!(free_slot(&taken[..1], 1), None);
        assert_eq!(compaction(&taken, 2), Some(vec![(4, 2)]));
        assert_eq!(compaction(&taken, 4), Some(vec![]));
        assert_eq!(compaction(&taken, 1), None);
    }
}
