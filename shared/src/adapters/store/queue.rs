//! The usage reporter's queue: the sparse index [`REPORT_INDEX`] holds the counters with
//! metered units not reported yet (`pending#<shard>`), the batches sealed but not sent
//! (`sealed`), and the batches parked for review (`parked`).
//!
//! - [`Store::pending_counters`] and [`Store::sealed_batches`] page through the whole queue (up
//!   to [`QUEUE_READ_CAP`] keys a run), read every item consistently by its key (BatchGetItem,
//!   100 at a time) and hand them over oldest first: batches by sealing time, counters by period.
//!   An item that keeps failing cannot hide the rest behind it.
//! - [`Store::seal_batch`] moves a counter's `reported` and writes the batch in one transaction;
//!   the batch's identifier never changes.
//! - [`Store::note_refusal`] counts Stripe's refusals of a batch; [`Store::park_batch`] takes a
//!   batch out of the queue for review (kept, never sent again by itself);
//!   [`Store::requeue_batch`] puts it back.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use serde::de::DeserializeOwned;

use super::{Store, StoreError, backend, from_item, key, text, to_item};
use crate::domain::records::{REPORT_INDEX, UsageBatch, UsageCounter, keys};

/// Keys read from one index value per run, at most: a queue longer than this is worked through
/// over several runs (what leaves the queue makes room for the rest).
pub const QUEUE_READ_CAP: usize = 10_000;

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl Store {
    /// The keys under one value of the reporter's index, every page up to `cap` keys.
    async fn queue_keys(&self, value: &str, cap: usize) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(REPORT_INDEX)
                .key_condition_expression("#report = :value")
                .expression_attribute_names("#report", keys::REPORT)
                .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend("query"))?;
            out.extend(
                page.items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|item| Some((text(item, keys::PK)?, text(item, keys::SK)?))),
            );
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() && out.len() < cap => start = Some(key),
                _ => break,
            }
        }
        out.truncate(cap);
        Ok(out)
    }

    /// The items under `keys`, read consistently (the index may lag behind the table), 100 at a
    /// time; items gone meanwhile are left out.
    async fn queue_items<T: DeserializeOwned>(&self, wanted: &[(String, String)]) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(100) {
            for item in self.get_many(chunk).await?.into_iter().flatten() {
                if item.contains_key(keys::REPORT) {
                    out.push(from_item(item)?);
                }
            }
        }
        Ok(out)
    }

    /// Counters waiting to be reported, oldest period first.
    pub async fn pending_counters(&self, cap: usize) -> Result<Vec<UsageCounter>, StoreError> {
        let mut wanted = Vec::new();
        for shard in 0..keys::REPORT_SHARDS {
            wanted.extend(self.queue_keys(&format!("{}#{shard}", keys::REPORT_PENDING), cap).await?);
        }
        let mut counters: Vec<UsageCounter> = self.queue_items(&wanted).await?;
        counters.sort_by(|a, b| (a.period_end, &a.pk, &a.sk).cmp(&(b.period_end, &b.pk, &b.sk)));
        Ok(counters)
    }

    /// Batches sealed but not sent, oldest first.
    pub async fn sealed_batches(&self, cap: usize) -> Result<Vec<UsageBatch>, StoreError> {
        self.batches_under(keys::REPORT_SEALED, cap).await
    }

    /// Batches parked for review, oldest first.
    pub async fn parked_batches(&self, cap: usize) -> Result<Vec<UsageBatch>, StoreError> {
        self.batches_under(keys::REPORT_PARKED, cap).await
    }

    async fn batches_under(&self, value: &str, cap: usize) -> Result<Vec<UsageBatch>, StoreError> {
        let wanted = self.queue_keys(value, cap).await?;
        let mut batches: Vec<UsageBatch> = self.queue_items(&wanted).await?;
        batches.retain(|b| b.report.as_deref() == Some(value));
        batches.sort_by(|a, b| (a.created_at, &a.identifier).cmp(&(b.created_at, &b.identifier)));
        Ok(batches)
    }

    /// Counts one more refusal of `batch` by Stripe; the count after it.
    pub async fn note_refusal(&self, batch: &UsageBatch) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&batch.pk, &batch.sk)))
            .update_expression("ADD #refusals :one")
            .condition_expression("#report = :sealed")
            .expression_attribute_names("#refusals", "refusals")
            .expression_attribute_names("#report", keys::REPORT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":sealed", AttributeValue::S(keys::REPORT_SEALED.into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(out) => Ok(out
                .attributes
                .and_then(|a| a.get("refusals").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()))
                .unwrap_or(1)),
            // Settled meanwhile by another run.
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => Ok(0),
            Err(err) => Err(backend("update_item")(err)),
        }
    }

    /// Takes `batch` out of the queue for review (`reason` says why): kept without expiry,
    /// listed under `parked`, never sent again unless [`Store::requeue_batch`] puts it back.
    pub async fn park_batch(&self, batch: &UsageBatch, reason: &str, now: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&batch.pk, &batch.sk)))
            .update_expression("SET #state = :parked, #report = :parked, #reason = :reason, #at = :now REMOVE #exp")
            .condition_expression("#report = :sealed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#report", keys::REPORT)
            .expression_attribute_names("#reason", "parked_reason")
            .expression_attribute_names("#at", "parked_at")
            .expression_attribute_names("#exp", keys::TTL)
            .expression_attribute_values(":parked", AttributeValue::S(keys::REPORT_PARKED.into()))
            .expression_attribute_values(":sealed", AttributeValue::S(keys::REPORT_SEALED.into()))
            .expression_attribute_values(":reason", AttributeValue::S(reason.to_owned()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await
            .map_err(backend("update_item"))?;
        Ok(())
    }

    /// Puts a parked batch back in the queue, its refusals forgotten (an operator's decision
    /// after review: Stripe does not have it, send it again). Its sealing time stays; its sends
    /// count from `now` (`requeued_at`), so the 24-hour check applies again a day later.
    /// `false` when no parked batch has this identifier.
    pub async fn requeue_batch(&self, identifier: &str, now: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&keys::batch(identifier), keys::SK_BATCH)))
            .update_expression("SET #state = :sealed, #report = :sealed, #requeued = :now REMOVE #refusals, #reason, #at")
            .condition_expression("#report = :parked")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#report", keys::REPORT)
            .expression_attribute_names("#requeued", "requeued_at")
            .expression_attribute_names("#refusals", "refusals")
            .expression_attribute_names("#reason", "parked_reason")
            .expression_attribute_names("#at", "parked_at")
            .expression_attribute_values(":parked", AttributeValue::S(keys::REPORT_PARKED.into()))
            .expression_attribute_values(":sealed", AttributeValue::S(keys::REPORT_SEALED.into()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
            Err(err) => Err(backend("update_item")(err)),
        }
    }

    /// Seals `batch`: the counter's `reported` moves from `batch.from` to `batch.to` and the batch
    /// is written, in ONE transaction. `false` (nothing written) when another run sealed first.
    pub async fn seal_batch(&self, batch: &UsageBatch) -> Result<bool, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(batch)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .build()
            .map_err(backend("transact_write_items"))?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&batch.counter_pk, &batch.counter_sk)))
            // A counter sealed before `settled` was kept counts what it reported as settled.
            .update_expression("SET #reported = :to, #settled = if_not_exists(#settled, :from)")
            .condition_expression("#reported = :from AND #metered >= :to")
            .expression_attribute_names("#reported", "reported")
            .expression_attribute_names("#settled", "settled")
            .expression_attribute_names("#metered", "metered")
            .expression_attribute_values(":from", n(batch.from))
            .expression_attribute_values(":to", n(batch.to))
            .build()
            .map_err(backend("transact_write_items"))?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(update).build(),
        ];
        match self.transact(items).await {
            Ok(done) => Ok(done.is_none()),
            // A record on the counter meanwhile: the next run seals it.
            Err(StoreError::Conflict) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// A batch leaves the queue: `sent` (or `rejected` for good), kept a week for the record;
    /// in the same transaction its units count as settled on its counter. A batch another run
    /// settled first is left as it is (its units are not counted twice).
    pub async fn settle_batch(&self, batch: &UsageBatch, state: &str, now: i64) -> Result<(), StoreError> {
        let settle = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&batch.pk, &batch.sk)))
            .update_expression("SET #state = :state, #exp = :exp REMOVE #report")
            .condition_expression("#report = :sealed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#exp", keys::TTL)
            .expression_attribute_names("#report", keys::REPORT)
            .expression_attribute_values(":state", AttributeValue::S(state.to_owned()))
            .expression_attribute_values(":exp", AttributeValue::N((now + 7 * 86_400).to_string()))
            .expression_attribute_values(":sealed", AttributeValue::S(keys::REPORT_SEALED.into()))
            .build()
            .map_err(backend("transact_write_items"))?;
        let counter = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&batch.counter_pk, &batch.counter_sk)))
            .update_expression("SET #settled = if_not_exists(#settled, :zero) + :units")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#settled", "settled")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":units", n(batch.value()))
            .build()
            .map_err(backend("transact_write_items"))?;
        let items = vec![
            TransactWriteItem::builder().update(settle.clone()).build(),
            TransactWriteItem::builder().update(counter).build(),
        ];
        match self.transact(items).await? {
            None => Ok(()),
            // Settled by another run meanwhile.
            Some(failed) if failed.contains(&0) => Ok(()),
            // The counter is gone (expired): the batch leaves the queue alone.
            Some(_) => {
                self.transact(vec![TransactWriteItem::builder().update(settle).build()]).await?;
                Ok(())
            }
        }
    }

    /// A counter whose metered units are all reported leaves the queue (only while that still
    /// holds: a metered unit counted meanwhile sets the index key again, and keeps it there).
    pub async fn retire_counter(&self, counter: &UsageCounter) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&counter.pk, &counter.sk)))
            .update_expression("REMOVE #report")
            .condition_expression("#metered = #reported")
            .expression_attribute_names("#report", keys::REPORT)
            .expression_attribute_names("#metered", "metered")
            .expression_attribute_names("#reported", "reported")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => Ok(()),
            Err(err) => Err(backend("update_item")(err)),
        }
    }

    /// One batch, by identifier.
    pub async fn usage_batch(&self, identifier: &str) -> Result<Option<UsageBatch>, StoreError> {
        self.get_as(&keys::batch(identifier), keys::SK_BATCH).await
    }
}
