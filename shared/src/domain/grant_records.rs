//! The grant item ([`crate::domain::grants`] has the rules): plain data, so that
//! [`crate::domain::records::UserItems`] can hold a user's grants without the records depending
//! on the grant rules.

use serde::{Deserialize, Serialize};

/// Sort key prefix of grants: `GRANT#<feature>`.
pub const GRANT_PREFIX: &str = "GRANT#";
/// Grants are kept this long after they end (for support's lookups), then DynamoDB deletes them.
pub const KEEP_ENDED_SECS: i64 = 30 * 86_400;

/// The sort key of the grant of `feature`.
pub fn grant_key(feature: &str) -> String {
    format!("{GRANT_PREFIX}{feature}")
}

/// `USER#<sub>` / `GRANT#<feature>`: a feature given by support until `until` (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub pk: String,
    pub sk: String,
    pub feature: String,
    pub until: i64,
    pub reason: String,
    /// The IAM caller who granted it (its ARN).
    pub granted_by: String,
    pub granted_at: i64,
    /// TTL: `until` + [`KEEP_ENDED_SECS`].
    pub expires_at: i64,
}

impl GrantRecord {
    pub fn new(partition: &str, feature: &str, until: i64, reason: &str, by: &str, now: i64) -> Self {
        Self {
            pk: partition.to_owned(),
            sk: grant_key(feature),
            feature: feature.to_owned(),
            until,
            reason: reason.to_owned(),
            granted_by: by.to_owned(),
            granted_at: now,
            expires_at: until.saturating_add(KEEP_ENDED_SECS),
        }
    }

    /// Whether it grants at `now` (half-open: no longer at `until`).
    pub fn active(&self, now: i64) -> bool {
        self.granted_at <= now && now < self.until
    }
}
