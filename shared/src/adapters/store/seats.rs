//! Seats: an organization's slots and its members' seats ([`crate::domain::seats`]). Taking,
//! freeing and moving a slot are each one transaction whose conditions decide.

use super::*;
use crate::domain::seats::{SeatRecord, SlotRecord};

/// The outcome of [`Store::take_slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatTaken {
    /// Both items were written.
    Taken,
    /// Someone holds the slot now: read again and choose another.
    SlotHeld,
    /// The member holds a seat in the organization already.
    AlreadySeated,
}

impl Store {
    /// Every held slot of organization `org_id`, by number (a strongly consistent Query).
    pub async fn slots(&self, org_id: &str) -> Result<Vec<SlotRecord>, StoreError> {
        self.partition(&keys::seats(org_id), true, None)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// The seat `user_id` holds in `org_id` (strongly consistent).
    pub async fn seat(&self, user_id: &str, org_id: &str) -> Result<Option<SeatRecord>, StoreError> {
        self.get_as(&keys::user(user_id), &keys::seat(org_id)).await
    }

    /// Takes `slot` for its member: the slot and the member's seat, each only if absent, with
    /// the change's domain events, in one transaction.
    pub async fn take_slot(&self, org_id: &str, slot: &SlotRecord, outbox: &[OutboxRecord]) -> Result<SeatTaken, StoreError> {
        let mut items = vec![self.put(slot, Condition::Absent)?, self.put(&slot.seat(org_id), Condition::Absent)?];
        for record in outbox {
            items.push(self.put(record, Condition::None)?);
        }
        match self.transact(items).await? {
            None => Ok(SeatTaken::Taken),
            Some(failed) if failed.contains(&1) => Ok(SeatTaken::AlreadySeated),
            Some(_) => Ok(SeatTaken::SlotHeld),
        }
    }

    /// Frees `seat`: its slot (while the member still holds it) and the seat (while it still
    /// names that slot), with the change's domain events. `false`: it changed meanwhile.
    pub async fn free_slot(&self, seat: &SeatRecord, user_id: &str, outbox: &[OutboxRecord]) -> Result<bool, StoreError> {
        let mut items = vec![
            self.delete(
                &keys::seats(&seat.org_id),
                &keys::slot(seat.slot),
                Condition::Equal("user_id", user_id.to_owned()),
            )?,
            self.delete(&seat.pk, &seat.sk, Condition::EqualNumber("slot", i64::from(seat.slot)))?,
        ];
        for record in outbox {
            items.push(self.put(record, Condition::None)?);
        }
        Ok(self.transact(items).await?.is_none())
    }

    /// Moves a held slot to the free slot `to` (the member's seat follows). `false`: something
    /// changed meanwhile.
    pub async fn move_slot(&self, org_id: &str, held: &SlotRecord, to: u32) -> Result<bool, StoreError> {
        let moved = SlotRecord {
            sk: keys::slot(to),
            slot: to,
            ..held.clone()
        };
        let items = vec![
            self.delete(&held.pk, &held.sk, Condition::Equal("user_id", held.user_id.clone()))?,
            self.put(&moved, Condition::Absent)?,
            self.put(&moved.seat(org_id), Condition::EqualNumber("slot", i64::from(held.slot)))?,
        ];
        Ok(self.transact(items).await?.is_none())
    }
}
