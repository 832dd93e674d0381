//! An organization's seats: list, assign, release ([`crate::domain::seats`] has the model).
//!
//! The quantity is that of the organization's granting subscription, read strongly
//! consistently before each decision; the decision itself is the slot transaction's conditions,
//! so two admins cannot hand out one slot twice. Each change carries its domain events in the
//! same transaction: `seat.assigned` / `seat.released`, and `entitlements.changed` for the
//! member when their effective set in the organization moves.

use serde::Serialize;

use crate::adapters::store::{SeatTaken, Store, StoreError};
use crate::domain::access::{Access, AccessPolicy, decide};
use crate::domain::billable;
use crate::domain::clock::Clock;
use crate::domain::events::{AccessCheck, DetailType, DomainEvent, SeatChange, entitlements_changed, seat_event};
use crate::domain::plans::Catalog;
use crate::domain::records::{OutboxRecord, UserItems};
use crate::domain::seats::{SeatRecord, SlotRecord, decide_member, free_slot, seat_quantity};
use crate::domain::version::Version;

/// Attempts at a slot another admin takes at the same moment.
const ATTEMPTS: usize = 5;
/// Longest member id accepted (as for a token's `sub`).
pub const MAX_MEMBER_ID_LEN: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum SeatsError {
    /// The member id is not a usable user id.
    #[error("not a usable user id")]
    InvalidMember,
    /// Every seat the quantity pays for is held.
    #[error("every seat is taken ({quantity} of {quantity}); free one or buy more")]
    NoSeatAvailable { quantity: u64 },
    /// Other admins kept changing the seats; nothing was written.
    #[error("the seats changed concurrently; try again")]
    Contended,
    #[error("the seats are unavailable")]
    Store(#[from] StoreError),
}

/// `GET /org/seats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatList {
    pub quantity: u64,
    pub assigned: Vec<Assigned>,
    pub available: u64,
}

/// One held seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assigned {
    pub user_id: String,
    pub assigned_at: i64,
    pub slot: u32,
    /// Whether the quantity still covers this seat (a lowered quantity leaves the highest
    /// slots uncovered: they grant nothing until moved or freed).
    pub active: bool,
}

/// Borrowed pieces of the process state; cheap to build per request.
pub struct Seats<'a> {
    store: &'a Store,
    catalog: &'a Catalog,
    clock: &'a dyn Clock,
    policy: AccessPolicy,
}

impl<'a> Seats<'a> {
    pub fn new(store: &'a Store, catalog: &'a Catalog, clock: &'a dyn Clock, policy: AccessPolicy) -> Self {
        Self {
            store,
            catalog,
            clock,
            policy,
        }
    }

    /// The organization's items, access and paid seats ([`seat_quantity`]), strongly consistent.
    async fn organization(&self, org_id: &str) -> Result<(UserItems, Access, u64), StoreError> {
        let items = self.store.user_items_consistent(&billable::org(org_id)).await?;
        let now = self.clock.now();
        let access = decide(self.catalog, &items, now, &self.policy);
        let quantity = seat_quantity(self.catalog, &items, now, &self.policy);
        Ok((items, access, quantity))
    }

    /// The quantity, the held seats and how many more may be assigned.
    pub async fn list(&self, org_id: &str) -> Result<SeatList, SeatsError> {
        let (_, _, quantity) = self.organization(org_id).await?;
        let slots = self.store.slots(org_id).await?;
        let assigned: Vec<Assigned> = slots.iter().map(|s| view(s, quantity)).collect();
        let covered = assigned.iter().filter(|a| a.active).count() as u64;
        Ok(SeatList {
            quantity,
            available: quantity.saturating_sub(covered),
            assigned,
        })
    }

    /// Assigns a seat to `member` (idempotent: a member who holds one gets it back, `false`).
    pub async fn assign(&self, org_id: &str, admin: &str, member: &str) -> Result<(Assigned, bool), SeatsError> {
        check_member(member)?;
        for _ in 0..ATTEMPTS {
            let (org_items, access, quantity) = self.organization(org_id).await?;
            let slots = self.store.slots(org_id).await?;
            let free = free_slot(&slots, quantity);
            if let Some(held) = slots.iter().find(|s| s.user_id == member) {
                // A seat left above a lowered quantity moves down when a slot is free.
                match free.filter(|n| u64::from(held.slot) > quantity && *n < held.slot) {
                    Some(lower) if !matches!(self.store.move_slot(org_id, held, lower).await, Ok(true)) => continue,
                    Some(lower) => {
                        let moved = SlotRecord {
                            slot: lower,
                            ..held.clone()
                        };
                        return Ok((view(&moved, quantity), false));
                    }
                    None => return Ok((view(held, quantity), false)),
                }
            }
            let slot_number = free.ok_or(SeatsError::NoSeatAvailable { quantity })?;
            let slot = SlotRecord::new(org_id, slot_number, member, self.clock.now(), admin);
            let outbox = self
                .events(
                    DetailType::SeatAssigned,
                    org_id,
                    admin,
                    &slot,
                    (&org_items, &access, quantity),
                    |personal| {
                        personal.seats.push(slot.seat(org_id));
                    },
                )
                .await?;
            match self.store.take_slot(org_id, &slot, &outbox).await {
                // Another admin's transaction on the same items: read again.
                Err(StoreError::Conflict) => continue,
                Err(err) => return Err(err.into()),
                Ok(SeatTaken::Taken) => {
                    tracing::info!(org = org_id, member, admin, slot = slot_number, "seat assigned");
                    return Ok((view(&slot, quantity), true));
                }
                // Read again: the member's seat or another free slot is there now.
                Ok(SeatTaken::AlreadySeated | SeatTaken::SlotHeld) => continue,
            }
        }
        Err(SeatsError::Contended)
    }

    /// Frees `member`'s seat (idempotent: `false` when they held none).
    pub async fn release(&self, org_id: &str, admin: &str, member: &str) -> Result<bool, SeatsError> {
        check_member(member)?;
        for _ in 0..ATTEMPTS {
            let Some(seat) = self.store.seat(member, org_id).await? else {
                return Ok(false);
            };
            let (org_items, access, quantity) = self.organization(org_id).await?;
            let slot = slot_of(&seat, member, org_id);
            let outbox = self
                .events(
                    DetailType::SeatReleased,
                    org_id,
                    admin,
                    &slot,
                    (&org_items, &access, quantity),
                    |personal| {
                        personal.seats.retain(|s| s.org_id != org_id);
                    },
                )
                .await?;
            match self.store.free_slot(&seat, member, &outbox).await {
                Ok(true) => {
                    tracing::info!(org = org_id, member, admin, slot = seat.slot, "seat released");
                    return Ok(true);
                }
                Ok(false) | Err(StoreError::Conflict) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(SeatsError::Contended)
    }

    /// The change's domain events: the seat event, and `entitlements.changed` for the member
    /// when `change` (applied to their items) moves their effective set in the organization.
    async fn events(
        &self,
        kind: DetailType,
        org_id: &str,
        admin: &str,
        slot: &SlotRecord,
        (org_items, access, quantity): (&UserItems, &Access, u64),
        change: impl FnOnce(&mut UserItems),
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let now = self.clock.now();
        let (mut personal, _) = self.store.member_items(&slot.user_id, org_id).await?;
        let before = decide_member(self.catalog, &personal, org_items, org_id, now, &self.policy);
        change(&mut personal);
        let after = decide_member(self.catalog, &personal, org_items, org_id, now, &self.policy);
        let headline = org_items
            .subscriptions
            .iter()
            .filter(|s| Some(&s.subscription_id) == access.usage_basis.as_ref())
            .map(|s| s.subscription_id.as_str())
            .next();
        let customer = org_items.customer.as_ref().map(|c| c.customer_id.as_str()).unwrap_or_default();
        // Microseconds in the version's low bits: two changes of one second keep their order,
        // and their events their own ids.
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_micros()));
        let version = Version::of_payload(now).get() | micros;
        let change = SeatChange {
            org_id,
            member: &slot.user_id,
            by: admin,
            slot: slot.slot,
            quantity,
            customer_id: customer,
            subscription_id: headline,
            plan: access.plan.as_deref(),
            status: Some(access.status.as_str()),
            at: now,
            version,
        };
        let mut events: Vec<DomainEvent> = vec![seat_event(kind, &change)];
        let check = AccessCheck {
            id: format!("{}/member", events[0].common.id),
            user_id: slot.user_id.clone(),
            customer_id: customer.to_owned(),
            version,
            occurred_at: now,
            stripe_event_id: None,
        };
        if let Some(mut moved) = entitlements_changed(&check, after.plan.clone(), after.status.as_str(), &before.features, &after.features)
        {
            moved.common.org_id = Some(org_id.to_owned());
            events.push(moved);
        }
        Ok(events.iter().enumerate().map(|(seq, e)| e.outbox(seq, now)).collect())
    }
}

fn check_member(member: &str) -> Result<(), SeatsError> {
    if !billable::is_valid_user_id(member) || member.len() > MAX_MEMBER_ID_LEN || member.chars().any(char::is_control) {
        return Err(SeatsError::InvalidMember);
    }
    Ok(())
}

fn view(slot: &SlotRecord, quantity: u64) -> Assigned {
    Assigned {
        user_id: slot.user_id.clone(),
        assigned_at: slot.assigned_at,
        slot: slot.slot,
        active: u64::from(slot.slot) <= quantity,
    }
}

fn slot_of(seat: &SeatRecord, member: &str, org_id: &str) -> SlotRecord {
    let mut slot = SlotRecord::new(
        org_id,
        seat.slot,
        member,
        seat.assigned_at,
        seat.assigned_by.as_deref().unwrap_or_default(),
    );
    slot.assigned_by = seat.assigned_by.clone();
    slot
}
