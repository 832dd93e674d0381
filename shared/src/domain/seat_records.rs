//! The seat items ([`crate::domain::seats`] has the rules and the constructors): plain data,
//! so that [`crate::domain::records::UserItems`] can hold a member's seats without the records
//! depending on the seat rules.

use serde::{Deserialize, Serialize};

/// `USER#<sub>` / `SEAT#<org>`: the slot a member holds in an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatRecord {
    pub pk: String,
    pub sk: String,
    pub org_id: String,
    pub slot: u32,
    pub assigned_at: i64,
    /// The admin who assigned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_by: Option<String>,
}

/// `SEATS#<org>` / `SLOT#<n>`: who holds slot `n`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub pk: String,
    pub sk: String,
    pub slot: u32,
    pub user_id: String,
    pub assigned_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_by: Option<String>,
}
