//! Usage counters and the usage reporter's queue.
//!
//! - [`Store::count_usage`]: the check and the increment as ONE conditional UpdateItem (the
//!   request path's only round trip): `used + quantity <= limit`, else nothing is written and the
//!   current count comes back with the refusal.
//! - [`Store::count_usage_once`]: the same, with the client's idempotency key claimed in the same
//!   transaction, so a retry counts nothing.
//! - The reporter's queue is the sparse index [`REPORT_INDEX`]: counters with metered units not
//!   reported yet, batches sealed but not sent. [`Store::seal_batch`] moves a counter's
//!   `reported` and writes the batch in one transaction; the batch's identifier never changes.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::{Item, Store, StoreError, backend, key, to_item};
use crate::domain::records::{REPORT_INDEX, RequestClaim, USAGE_TTL_AFTER_PERIOD_SECS, UsageBatch, UsageCounter, keys};
use crate::domain::usage::Period;

/// One usage record to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageWrite<'a> {
    pub user_id: &'a str,
    pub feature: &'a str,
    pub period: Period,
    pub quantity: u64,
    pub limit: Option<u64>,
    /// The Stripe meter and the customer it bills, for metered counters.
    pub meter: Option<(&'a str, &'a str)>,
}

/// The outcome of counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Counted; `used` includes the quantity.
    Yes { used: u64 },
    /// Over the limit: nothing counted; `used` is the count as it stands.
    OverLimit { used: u64 },
}

/// The outcome of counting under a client's idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedCount {
    Counted(Counted),
    /// The key was used before: the stored claim (its fingerprint and, once saved, its answer).
    Seen(RequestClaim),
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// The update of a counter for `w`, with its condition: the same parts build an UpdateItem and a
/// transaction's Update. `used` counts every unit; `limited` the units counted under a limit
/// (checked against it); `metered` the units counted while metered (billed).
fn usage_update(w: &UsageWrite<'_>) -> UpdateParts {
    let mut set = vec![
        "#used = if_not_exists(#used, :zero) + :q",
        "#reported = if_not_exists(#reported, :zero)",
        "#feature = :feature",
        "#ps = :ps",
        "#pe = :pe",
        "#exp = :exp",
    ];
    let mut parts = UpdateParts {
        pk: keys::user(w.user_id),
        sk: keys::usage(w.period.end, w.feature),
        names: vec![
            ("#used", "used"),
            ("#reported", "reported"),
            ("#metered", "metered"),
            ("#feature", "feature"),
            ("#ps", "period_start"),
            ("#pe", "period_end"),
            ("#exp", keys::TTL),
        ],
        values: vec![
            (":zero", n(0)),
            (":q", n(w.quantity)),
            (":feature", AttributeValue::S(w.feature.to_owned())),
            (":ps", AttributeValue::N(w.period.start.to_string())),
            (":pe", AttributeValue::N(w.period.end.to_string())),
            (":exp", AttributeValue::N((w.period.end + USAGE_TTL_AFTER_PERIOD_SECS).to_string())),
        ],
        expression: String::new(),
        condition: None,
    };
    if let Some(limit) = w.limit {
        set.push("#limited = if_not_exists(#limited, :zero) + :q");
        set.push("#limit = :limit");
        parts.names.extend([("#limited", "limited"), ("#limit", "limit")]);
        parts.values.push((":limit", n(limit)));
        // The check and the increment in one write: the quota's count after it stays within.
        parts.condition = Some("attribute_not_exists(#limited) OR #limited <= :max".into());
        parts.values.push((":max", n(limit - w.quantity)));
    }
    match w.meter {
        Some((meter, customer)) => {
            set.push("#metered = if_not_exists(#metered, :zero) + :q");
            set.push("#meter = :meter");
            set.push("#customer = :customer");
            set.push("#report = :pending");
            parts
                .names
                .extend([("#meter", "meter"), ("#customer", "customer_id"), ("#report", keys::REPORT)]);
            parts.values.extend([
                (":meter", AttributeValue::S(meter.to_owned())),
                (":customer", AttributeValue::S(customer.to_owned())),
                (":pending", AttributeValue::S(keys::report_pending(w.user_id))),
            ]);
        }
        None => set.push("#metered = if_not_exists(#metered, :zero)"),
    }
    parts.expression = format!("SET {}", set.join(", "));
    parts
}

/// The count a caller sees: the quota's count under a limit, else every unit.
fn count_of(item: &Item, limited: bool) -> Option<u64> {
    number(item, if limited { "limited" } else { "used" })
}

/// Attempts of a keyed record that DynamoDB cancels for a concurrent transaction on the counter.
const KEYED_ATTEMPTS: u32 = 4;

impl Store {
    /// Counts `w.quantity` if it stays within `w.limit`: ONE conditional UpdateItem.
    pub async fn count_usage(&self, w: &UsageWrite<'_>) -> Result<Counted, StoreError> {
        let limited = w.limit.is_some();
        if w.limit.is_some_and(|limit| w.quantity > limit) {
            let used = self
                .usage_counter(w.user_id, w.period.end, w.feature)
                .await?
                .map_or(0, |c| c.limited);
            return Ok(Counted::OverLimit { used });
        }
        let parts = usage_update(w);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&parts.pk, &parts.sk)))
            .update_expression(&parts.expression)
            .set_condition_expression(parts.condition.clone())
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in &parts.names {
            request = request.expression_attribute_names(*name, *value);
        }
        for (name, value) in parts.values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(out) => Ok(Counted::Yes {
                used: out.attributes.as_ref().and_then(|a| count_of(a, limited)).unwrap_or(w.quantity),
            }),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => {
                let used = match e.err() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item().and_then(|i| count_of(i, true)).unwrap_or(0),
                    _ => 0,
                };
                Ok(Counted::OverLimit { used })
            }
            Err(err) => Err(backend("update_item")(err)),
        }
    }

    /// [`Store::count_usage`] with the client's idempotency key (`request_id`: a hash of user and
    /// key) claimed in the same transaction: a repeated key counts nothing and returns the claim.
    /// An expired claim (past its day, not yet swept by TTL) is claimed anew.
    pub async fn count_usage_once(
        &self,
        w: &UsageWrite<'_>,
        request_id: &str,
        fingerprint: &str,
        now: i64,
    ) -> Result<KeyedCount, StoreError> {
        let limited = w.limit.is_some();
        let claim = RequestClaim::new(request_id, fingerprint, now);
        if w.limit.is_some_and(|limit| w.quantity > limit) {
            if let Some(seen) = self.claim_of(request_id, now).await? {
                return Ok(KeyedCount::Seen(seen));
            }
            let used = self
                .usage_counter(w.user_id, w.period.end, w.feature)
                .await?
                .map_or(0, |c| c.limited);
            return Ok(KeyedCount::Counted(Counted::OverLimit { used }));
        }
        let parts = usage_update(w);
        for _ in 0..KEYED_ATTEMPTS {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&claim)?))
                .condition_expression("attribute_not_exists(#pk) OR #exp <= :now")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#exp", keys::TTL)
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .build()
                .map_err(backend("transact_write_items"))?;
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(&parts.pk, &parts.sk)))
                .update_expression(&parts.expression)
                .set_condition_expression(parts.condition.clone())
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            for (name, value) in &parts.names {
                update = update.expression_attribute_names(*name, *value);
            }
            for (name, value) in parts.values.iter().cloned() {
                update = update.expression_attribute_values(name, value);
            }
            let items = vec![
                TransactWriteItem::builder().put(put).build(),
                TransactWriteItem::builder()
                    .update(update.build().map_err(backend("transact_write_items"))?)
                    .build(),
            ];
            let reasons = match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => {
                    let counter = self.usage_counter(w.user_id, w.period.end, w.feature).await?;
                    let used = counter.map_or(w.quantity, |c| if limited { c.limited } else { c.used });
                    return Ok(KeyedCount::Counted(Counted::Yes { used }));
                }
                Err(SdkError::ServiceError(e)) if matches!(e.err(), TransactWriteItemsError::TransactionCanceledException(_)) => {
                    match e.err() {
                        TransactWriteItemsError::TransactionCanceledException(c) => c.cancellation_reasons().to_vec(),
                        _ => Vec::new(),
                    }
                }
                Err(err) => return Err(backend("transact_write_items")(err)),
            };
            let failed = |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
            if failed(0) {
                // Claimed before (or meanwhile by a concurrent request with this key).
                return match self.claim_of(request_id, now).await? {
                    Some(seen) => Ok(KeyedCount::Seen(seen)),
                    None => Err(StoreError::Conflict),
                };
            }
            if failed(1) {
                let used = reasons.get(1).and_then(|r| r.item()).and_then(|i| count_of(i, true)).unwrap_or(0);
                return Ok(KeyedCount::Counted(Counted::OverLimit { used }));
            }
            if !reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
                return Err(StoreError::Conflict);
            }
            // A concurrent record on the same counter: try again.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Err(StoreError::Conflict)
    }

    async fn claim_of(&self, request_id: &str, now: i64) -> Result<Option<RequestClaim>, StoreError> {
        let claim: Option<RequestClaim> = self
            .get_as(&format!("{}{request_id}", keys::REQUEST_PREFIX), keys::SK_REQUEST)
            .await?;
        Ok(claim.filter(|c| c.expires_at > now))
    }

    /// Keeps the answer given to the first request of a key, for its retries.
    pub async fn save_answer(&self, request_id: &str, answer: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&format!("{}{request_id}", keys::REQUEST_PREFIX), keys::SK_REQUEST)))
            .update_expression("SET #answer = :answer")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#answer", "answer")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":answer", AttributeValue::S(answer.to_owned()))
            .send()
            .await
            .map_err(backend("update_item"))?;
        Ok(())
    }

    /// One counter (strongly consistent).
    pub async fn usage_counter(&self, user_id: &str, period_end: i64, feature: &str) -> Result<Option<UsageCounter>, StoreError> {
        self.get_as(&keys::user(user_id), &keys::usage(period_end, feature)).await
    }

    /// The keys under one value of the reporter's index (keys only: the items are read
    /// consistently by their key).
    async fn report_keys(&self, value: &str, limit: i32) -> Result<Vec<(String, String)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(REPORT_INDEX)
            .key_condition_expression("#report = :value")
            .expression_attribute_names("#report", keys::REPORT)
            .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
            .limit(limit)
            .send()
            .await
            .map_err(backend("query"))?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| Some((super::text(item, keys::PK)?, super::text(item, keys::SK)?)))
            .collect())
    }

    /// Counters waiting to be reported, at most `limit` per index shard, read consistently.
    pub async fn pending_counters(&self, limit: i32) -> Result<Vec<UsageCounter>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..keys::REPORT_SHARDS {
            for (pk, sk) in self.report_keys(&format!("{}#{shard}", keys::REPORT_PENDING), limit).await? {
                if let Some(counter) = self.get_as::<UsageCounter>(&pk, &sk).await? {
                    out.push(counter);
                }
            }
        }
        Ok(out)
    }

    /// Batches sealed but not sent, read consistently.
    pub async fn sealed_batches(&self, limit: i32) -> Result<Vec<UsageBatch>, StoreError> {
        let mut out = Vec::new();
        for (pk, sk) in self.report_keys(keys::REPORT_SEALED, limit).await? {
            if let Some(batch) = self.get_as::<UsageBatch>(&pk, &sk).await?
                && batch.report.is_some()
            {
                out.push(batch);
            }
        }
        Ok(out)
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
            .update_expression("SET #reported = :to")
            .condition_expression("#reported = :from AND #metered >= :to")
            .expression_attribute_names("#reported", "reported")
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

    /// A batch leaves the queue: `sent` (or `rejected` for good), kept a week for the record.
    pub async fn settle_batch(&self, batch: &UsageBatch, state: &str, now: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&batch.pk, &batch.sk)))
            .update_expression("SET #state = :state, #exp = :exp REMOVE #report")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#exp", keys::TTL)
            .expression_attribute_names("#report", keys::REPORT)
            .expression_attribute_values(":state", AttributeValue::S(state.to_owned()))
            .expression_attribute_values(":exp", AttributeValue::N((now + 7 * 86_400).to_string()))
            .send()
            .await
            .map_err(backend("update_item"))?;
        Ok(())
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

/// The parts of an update expression.
struct UpdateParts {
    pk: String,
    sk: String,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(&'static str, AttributeValue)>,
    expression: String,
    condition: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_expression_checks_and_counts() {
        let w = UsageWrite {
            user_id: "u1",
            feature: "api_calls",
            period: Period { start: 10, end: 20 },
            quantity: 3,
            limit: Some(10),
            meter: None,
        };
        let parts = usage_update(&w);
        assert_eq!((parts.pk.as_str(), parts.sk.as_str()), ("USER#u1", "USAGE#20#api_calls"));
        assert_eq!(
            parts.condition.as_deref(),
            Some("attribute_not_exists(#limited) OR #limited <= :max")
        );
        assert!(parts.values.iter().any(|(k, v)| *k == ":max" && v.as_n().unwrap() == "7"));
        assert!(
            !parts.expression.contains("#report = "),
            "unmetered counters stay out of the reporter's queue"
        );
        let metered = usage_update(&UsageWrite {
            limit: None,
            meter: Some(("api_calls", "cus_1")),
            ..w
        });
        assert!(metered.condition.is_none() && metered.expression.contains("#report = :pending"));
        assert!(metered.expression.contains("#metered = if_not_exists(#metered, :zero) + :q"));
        assert!(
            parts.expression.contains("#metered = if_not_exists(#metered, :zero)")
                && !parts.expression.contains("#metered = if_not_exists(#metered, :zero) + :q"),
            "only metered writes count as billed"
        );
    }
}
