//! Support grants ([`crate::domain::grants`]) and the audit rows support reads back. A grant
//! and its audit row (and its domain events) are one transaction.

use aws_sdk_dynamodb::types::AttributeValue;

use super::*;
use crate::domain::grants::{GrantRecord, grant_key};

/// How many audit rows support's lookup shows.
pub const AUDIT_ROWS: usize = 50;

impl Store {
    /// Writes `grant` (replacing an earlier grant of the same feature) with its audit row and
    /// domain events, in one transaction.
    pub async fn put_grant(&self, grant: &GrantRecord, audit: &AuditRecord, outbox: &[OutboxRecord]) -> Result<(), StoreError> {
        let mut items = vec![self.put(grant, Condition::None)?, self.put(audit, Condition::None)?];
        for record in outbox {
            items.push(self.put(record, Condition::None)?);
        }
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::Conflict),
        }
    }

    /// Removes the grant of `feature` from `user_id` with its audit row and domain events, in
    /// one transaction. `false`: there was none.
    pub async fn delete_grant(
        &self,
        user_id: &str,
        feature: &str,
        audit: &AuditRecord,
        outbox: &[OutboxRecord],
    ) -> Result<bool, StoreError> {
        let mut items = vec![
            self.delete(
                &keys::user(user_id),
                &grant_key(feature),
                Condition::Equal("feature", feature.to_owned()),
            )?,
            self.put(audit, Condition::None)?,
        ];
        for record in outbox {
            items.push(self.put(record, Condition::None)?);
        }
        Ok(self.transact(items).await?.is_none())
    }

    /// The newest [`AUDIT_ROWS`] audit rows of a billable, newest first.
    pub async fn audit_rows(&self, user_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", AttributeValue::S(keys::audit(user_id)))
            .scan_index_forward(false)
            .limit(i32::try_from(AUDIT_ROWS).unwrap_or(50))
            .send()
            .await
            .map_err(backend("query"))?;
        page.items.unwrap_or_default().into_iter().map(from_item).collect()
    }
}
