//! Support grants ([`crate::domain::grants`]) and the audit rows support reads back (a grant
//! and its audit row and access checks are one transaction), and the promotion codes a
//! customer redeemed ([`crate::domain::discounts::Redemption`]).

use aws_sdk_dynamodb::types::AttributeValue;

use super::*;
use crate::domain::grants::GrantRecord;

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

    /// Removes `grant` (as read) with its audit row and access check, in one transaction.
    /// `false`: it changed or went meanwhile.
    pub async fn delete_grant(&self, grant: &GrantRecord, audit: &AuditRecord, outbox: &[OutboxRecord]) -> Result<bool, StoreError> {
        // Only the grant that was read: a grant made again meanwhile stays.
        let mut items = vec![
            self.delete(&grant.pk, &grant.sk, Condition::EqualNumber("granted_at", grant.granted_at))?,
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

    /// Records that a customer redeems `redemption`'s code, only if they never did. `false`:
    /// they did.
    pub async fn claim_redemption(&self, redemption: &crate::domain::discounts::Redemption) -> Result<bool, StoreError> {
        Ok(self.transact(vec![self.put(redemption, Condition::Absent)?]).await?.is_none())
    }

    /// Forgets a redemption whose code Stripe did not apply.
    pub async fn release_redemption(&self, redemption: &crate::domain::discounts::Redemption) -> Result<(), StoreError> {
        self.transact(vec![self.delete(&redemption.pk, &redemption.sk, Condition::None)?])
            .await?;
        Ok(())
    }
}
