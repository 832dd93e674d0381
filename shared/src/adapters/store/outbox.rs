//! The domain-event outbox: items written by [`Store::commit_with_outbox`] in the transaction of
//! the change that made them, read and removed by the publisher.
//!
//! - [`Store::outbox`]: the pending items, in key order (customer, then version).
//! - [`Store::outbox_published`]: removes published items (BatchWriteItem, 25 a request).
//! - [`Store::outbox_refused`]: counts a failed publish of an item.
//! - [`Store::park_outbox`]: moves an item EventBridge kept refusing to `OUTBOX#PARKED`.
//! - [`Store::save_access`]: the effective feature set last published for a user.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, ReturnValue, WriteRequest};

use super::{Condition, Item, Store, StoreError, backend, from_item, key, to_item};
use crate::domain::records::{AccessSnapshot, OutboxRecord, keys};

/// Items read by one [`Store::outbox`] call at most.
pub const OUTBOX_READ_CAP: usize = 1_000;

impl Store {
    /// Outbox items of `partition` (`OUTBOX`, or `OUTBOX#PARKED`) in key order, at most `cap`
    /// (strongly consistent: an item committed a moment ago is seen).
    pub async fn outbox_under(&self, partition: &str, cap: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        self.partition(partition, true, Some(cap))
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// The pending outbox, oldest version first per customer, at most `cap` items.
    pub async fn outbox(&self, cap: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        self.outbox_under(keys::OUTBOX, cap).await
    }

    /// Removes published items.
    pub async fn outbox_published(&self, published: &[&OutboxRecord]) -> Result<(), StoreError> {
        for chunk in published.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|r| {
                    DeleteRequest::builder()
                        .set_key(Some(key(&r.pk, &r.sk)))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(backend("batch_write_item"))
                })
                .collect::<Result<_, _>>()?;
            for attempt in 0..6 {
                if requests.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(backend("batch_write_item"))?;
                requests = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(backend("batch_write_item")(std::io::Error::other(
                    "unprocessed deletes after retries",
                )));
            }
        }
        Ok(())
    }

    /// Counts one more failed publish of `record`; the count after it (`None`: the item is gone,
    /// published by another run).
    pub async fn outbox_refused(&self, record: &OutboxRecord) -> Result<Option<u32>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&record.pk, &record.sk)))
            .update_expression("ADD #attempts :one")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.attributes.as_ref().and_then(|a| a.get("attempts")?.as_n().ok()?.parse().ok())),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => Ok(None),
            Err(err) => Err(backend("update_item")(err)),
        }
    }

    /// Moves `record` out of the outbox into `OUTBOX#PARKED` (one transaction), with why.
    pub async fn park_outbox(&self, record: &OutboxRecord, reason: &str, now: i64) -> Result<(), StoreError> {
        let mut parked: Item = to_item(record)?;
        parked.insert(keys::PK.into(), AttributeValue::S(keys::OUTBOX_PARKED.into()));
        parked.insert("parked_reason".into(), AttributeValue::S(reason.to_owned()));
        parked.insert("parked_at".into(), AttributeValue::N(now.to_string()));
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(parked))
            .build()
            .map_err(backend("transact_write_items"))?;
        let items = vec![
            aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build(),
            self.delete(&record.pk, &record.sk, Condition::None)?,
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::Conflict),
        }
    }

    /// Puts a parked item back in the outbox with its attempts forgotten (an operator's decision
    /// after review). `false` when no parked item has this id.
    pub async fn requeue_outbox(&self, id: &str) -> Result<bool, StoreError> {
        let parked = self.outbox_under(keys::OUTBOX_PARKED, OUTBOX_READ_CAP).await?;
        let Some(record) = parked.into_iter().find(|r| r.id == id) else {
            return Ok(false);
        };
        let back = OutboxRecord {
            pk: keys::OUTBOX.into(),
            attempts: 0,
            ..record.clone()
        };
        let items = vec![
            self.put(&back, Condition::None)?,
            self.delete(&record.pk, &record.sk, Condition::None)?,
        ];
        match self.transact(items).await? {
            None => Ok(true),
            Some(_) => Err(StoreError::Conflict),
        }
    }

    /// Whether the email of domain event `id` was sent.
    pub async fn email_sent(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.get(&keys::notified(id), keys::SK_NOTIFIED).await?.is_some())
    }

    /// Marks the email of domain event `id` as sent (kept 30 days).
    pub async fn mark_email_sent(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let item = Item::from([
            (keys::PK.to_owned(), AttributeValue::S(keys::notified(id))),
            (keys::SK.to_owned(), AttributeValue::S(keys::SK_NOTIFIED.into())),
            (keys::TTL.to_owned(), AttributeValue::N((now + 30 * 86_400).to_string())),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(backend("put_item"))?;
        Ok(())
    }

    /// A user's link to their Stripe customer (its email).
    pub async fn customer_link(&self, user_id: &str) -> Result<Option<crate::domain::records::CustomerLink>, StoreError> {
        self.get_as(&keys::user(user_id), keys::SK_CUSTOMER).await
    }

    /// Moves the deferred access checks due at `until` (their sort key starts with the time they
    /// wait for) into the outbox, each in one transaction. The number moved.
    pub async fn release_due_checks(&self, until: i64) -> Result<usize, StoreError> {
        let bound = format!("{:020}", until.max(0));
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk <= :bound")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", AttributeValue::S(keys::OUTBOX_LATER.into()))
            .expression_attribute_values(":bound", AttributeValue::S(format!("{bound}~")))
            .consistent_read(true)
            .limit(100)
            .send()
            .await
            .map_err(backend("query"))?;
        let mut moved = 0;
        for item in page.items.unwrap_or_default() {
            let later: OutboxRecord = from_item(item)?;
            let Some(due) = later.sk.split('#').next().and_then(|d| d.parse::<i64>().ok()) else {
                continue;
            };
            if due > until {
                continue;
            }
            let version = serde_json::from_str::<crate::domain::events::AccessCheck>(&later.detail).map_or(0, |c| c.version);
            let now_due = OutboxRecord::new(
                &later.kind,
                &later.id,
                &later.order_key,
                version,
                0,
                later.detail.clone(),
                later.created,
            );
            let items = vec![
                self.put(&now_due, Condition::None)?,
                self.delete(&later.pk, &later.sk, Condition::None)?,
            ];
            if self.transact(items).await?.is_none() {
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// Stores the effective feature set last published for a user (one publisher runs at a
    /// time: its reserved concurrency is 1).
    pub async fn save_access(&self, snapshot: &AccessSnapshot) -> Result<(), StoreError> {
        let item = self.put(snapshot, Condition::None)?;
        match self.transact(vec![item]).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::Conflict),
        }
    }
}
