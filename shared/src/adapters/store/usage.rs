//! Usage counters: the check and the increment as one write.
//!
//! - [`Store::count_usage`]: a record without a client key on a counter that is not metered is
//!   ONE conditional UpdateItem (the request path's only round trip): `limited + quantity <=
//!   limit`, else nothing is written and the current count comes back with the refusal.
//! - A metered record is ONE transaction that also checks that the subscription billing it is
//!   still open: not canceled in the table, and no metering fence in force
//!   ([`Store::close_metering`]: the cancel-now path closes metering before it reports the
//!   last units and cancels, so nothing is counted that no invoice will bill). The count is then
//!   read back (a transaction returns no values).
//! - With the client's idempotency key, the key is claimed in the same transaction, so a retry
//!   counts nothing.
//! - A counter's first write starts its quota count at the allowance's carried count (a
//!   restarted period keeps what was spent; [`crate::domain::usage::carried`]). Metered counters
//!   refuse records past their ceiling the same way as quotas.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::{Item, Store, StoreError, backend, key, to_item};
use crate::domain::records::{MeteringFence, RequestClaim, USAGE_TTL_AFTER_PERIOD_SECS, UsageCounter, keys};
use crate::domain::usage::{Metering, Period};

/// One usage record to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageWrite<'a> {
    pub user_id: &'a str,
    pub feature: &'a str,
    pub period: Period,
    pub quantity: u64,
    pub limit: Option<u64>,
    /// The quota count a new counter starts from.
    pub carried: u64,
    /// The subscription whose billing period this is (`None`: a calendar month).
    pub basis: Option<&'a str>,
    /// Metered counters: how the units are billed.
    pub metering: Option<Metering<'a>>,
    /// The time of the record (a metering fence in force at it refuses the record).
    pub now: i64,
}

/// The outcome of counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Counted; `used` includes the quantity. `notified`: the thresholds (percent of the limit)
    /// whose `usage.threshold` event the counter already made this period.
    Yes { used: u64, notified: Vec<u8> },
    /// Over the limit: nothing counted; `used` is the count as it stands.
    OverLimit { used: u64 },
    /// Past the metered ceiling: nothing counted; `metered` is the billed count as it stands.
    OverCeiling { metered: u64 },
    /// The subscription billing the units is canceled or its metering closed: nothing counted.
    Closed,
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
/// (checked against it, starting at the carried count); `metered` the units counted while
/// metered (billed, checked against the ceiling).
fn usage_update(w: &UsageWrite<'_>) -> UpdateParts {
    let mut set = vec![
        "#used = if_not_exists(#used, :zero) + :q",
        "#reported = if_not_exists(#reported, :zero)",
        "#feature = :feature",
        "#ps = :ps",
        "#pe = :pe",
        "#exp = :exp",
    ];
    let mut conditions = Vec::new();
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
    if let Some(subscription) = w.basis {
        set.push("#basis = :basis");
        parts.names.push(("#basis", "subscription_id"));
        parts.values.push((":basis", AttributeValue::S(subscription.to_owned())));
    }
    if let Some(limit) = w.limit {
        set.push("#limited = if_not_exists(#limited, :carried) + :q");
        set.push("#limit = :limit");
        parts.names.extend([("#limited", "limited"), ("#limit", "limit")]);
        parts.values.push((":carried", n(w.carried)));
        parts.values.push((":limit", n(limit)));
        // The check and the increment in one write: the quota's count after it stays within.
        conditions.push("(attribute_not_exists(#limited) OR #limited <= :max)");
        parts.values.push((":max", n(limit.saturating_sub(w.quantity))));
    }
    match &w.metering {
        Some(m) => {
            set.push("#metered = if_not_exists(#metered, :zero) + :q");
            set.push("#meter = :meter");
            set.push("#customer = :customer");
            set.push("#report = :pending");
            parts
                .names
                .extend([("#meter", "meter"), ("#customer", "customer_id"), ("#report", keys::REPORT)]);
            parts.values.extend([
                (":meter", AttributeValue::S(m.meter.to_owned())),
                (":customer", AttributeValue::S(m.customer_id.to_owned())),
                (":pending", AttributeValue::S(keys::report_pending(w.user_id))),
            ]);
            if let Some(ceiling) = m.ceiling {
                conditions.push("(attribute_not_exists(#metered) OR #metered <= :mmax)");
                parts.values.push((":mmax", n(ceiling.saturating_sub(w.quantity))));
            }
        }
        None => set.push("#metered = if_not_exists(#metered, :zero)"),
    }
    parts.expression = format!("SET {}", set.join(", "));
    parts.condition = (!conditions.is_empty()).then(|| conditions.join(" AND "));
    parts
}

/// The count a caller sees: the quota's count under a limit, else every unit.
fn count_of(item: &Item, limited: bool) -> Option<u64> {
    number(item, if limited { "limited" } else { "used" })
}

/// The attribute that marks a counter's `usage.threshold` event of `threshold` percent as made.
pub fn notified_attribute(threshold: u8) -> String {
    format!("notified_{threshold}")
}

/// The thresholds a counter item already made events of.
fn notified_of(item: &Item) -> Vec<u8> {
    crate::domain::events::USAGE_THRESHOLDS
        .into_iter()
        .filter(|t| item.contains_key(&notified_attribute(*t)))
        .collect()
}

/// Which condition a refused write of `w` failed, from the counter as it was (`None`: absent).
fn refusal(w: &UsageWrite<'_>, old: Option<&Item>) -> Counted {
    let limited = old.and_then(|i| number(i, "limited")).unwrap_or(w.carried);
    let metered = old.and_then(|i| number(i, "metered")).unwrap_or(0);
    match (w.limit, w.metering.and_then(|m| m.ceiling)) {
        (Some(limit), _) if limited.saturating_add(w.quantity) > limit => Counted::OverLimit { used: limited },
        (_, Some(ceiling)) if metered.saturating_add(w.quantity) > ceiling => Counted::OverCeiling { metered },
        // The counter changed between the refusal and this read of it: as the limit says.
        _ => Counted::OverLimit { used: limited },
    }
}

/// Attempts of a record that DynamoDB cancels for a concurrent transaction on the counter.
const TRANSACT_ATTEMPTS: u32 = 4;

impl Store {
    /// Counts `w.quantity` if it stays within `w.limit` (and the ceiling, and the metering of
    /// its subscription is open): ONE conditional UpdateItem, or ONE transaction and a read of
    /// the count for a metered counter.
    pub async fn count_usage(&self, w: &UsageWrite<'_>) -> Result<Counted, StoreError> {
        if let Some(refused) = self.refused_before_writing(w).await? {
            return Ok(refused);
        }
        if w.metering.is_some() {
            return match self.count_in_transaction(w, None).await? {
                KeyedCount::Counted(counted) => Ok(counted),
                KeyedCount::Seen(_) => Err(StoreError::Conflict),
            };
        }
        let limited = w.limit.is_some();
        let parts = usage_update(w);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&parts.pk, &parts.sk)))
            .update_expression(&parts.expression)
            .set_condition_expression(parts.condition.clone())
            .return_values(ReturnValue::AllNew)
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
                notified: out.attributes.as_ref().map(notified_of).unwrap_or_default(),
            }),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => {
                let old = match e.err() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item(),
                    _ => None,
                };
                Ok(refusal(w, old))
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
        if let Some(refused) = self.refused_before_writing(w).await? {
            if let Some(seen) = self.claim_of(request_id, now).await? {
                return Ok(KeyedCount::Seen(seen));
            }
            return Ok(KeyedCount::Counted(refused));
        }
        let claim = RequestClaim::new(request_id, fingerprint, now);
        let w = UsageWrite { now, ..w.clone() };
        self.count_in_transaction(&w, Some(&claim)).await
    }

    /// A record that can never fit (more than the limit or the ceiling at once, or a carried
    /// count that leaves no room), refused without writing.
    async fn refused_before_writing(&self, w: &UsageWrite<'_>) -> Result<Option<Counted>, StoreError> {
        let over_limit = w.limit.is_some_and(|limit| w.quantity.saturating_add(w.carried) > limit);
        let over_ceiling = w.metering.and_then(|m| m.ceiling).is_some_and(|c| w.quantity > c);
        if !over_limit && !over_ceiling {
            return Ok(None);
        }
        let counter = self.usage_counter(w.user_id, w.period.end, w.feature).await?;
        let limited = counter.as_ref().map_or(w.carried, |c| c.limited.max(w.carried));
        Ok(Some(if over_limit {
            Counted::OverLimit { used: limited }
        } else {
            Counted::OverCeiling {
                metered: counter.map_or(0, |c| c.metered),
            }
        }))
    }

    /// The counter's update in ONE transaction with: the claim of a client key (`claim`), and
    /// for a metered counter the checks that its subscription's metering is open. The count
    /// is read back after.
    async fn count_in_transaction(&self, w: &UsageWrite<'_>, claim: Option<&RequestClaim>) -> Result<KeyedCount, StoreError> {
        let limited = w.limit.is_some();
        let parts = usage_update(w);
        for _ in 0..TRANSACT_ATTEMPTS {
            let mut items = Vec::new();
            let claim_at = claim.map(|_| items.len());
            if let Some(claim) = claim {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(claim)?))
                    .condition_expression("attribute_not_exists(#pk) OR #exp <= :now")
                    .expression_attribute_names("#pk", keys::PK)
                    .expression_attribute_names("#exp", keys::TTL)
                    .expression_attribute_values(":now", AttributeValue::N(w.now.to_string()))
                    .build()
                    .map_err(backend("transact_write_items"))?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
            let checks_at = items.len();
            if let Some(m) = &w.metering {
                items.extend(self.metering_open(w.user_id, m.subscription_id, w.now)?);
            }
            let counter_at = items.len();
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
            items.push(
                TransactWriteItem::builder()
                    .update(update.build().map_err(backend("transact_write_items"))?)
                    .build(),
            );
            let reasons = match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => {
                    let counter = self.get(&parts.pk, &parts.sk).await?;
                    let used = counter.as_ref().and_then(|c| count_of(c, limited)).unwrap_or(w.quantity);
                    let notified = counter.as_ref().map(notified_of).unwrap_or_default();
                    return Ok(KeyedCount::Counted(Counted::Yes { used, notified }));
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
            if let (Some(at), Some(claim)) = (claim_at, claim)
                && failed(at)
            {
                // Claimed before (or meanwhile by a concurrent request with this key).
                let id = claim.pk.strip_prefix(keys::REQUEST_PREFIX).unwrap_or(&claim.pk);
                return match self.claim_of(id, w.now).await? {
                    Some(seen) => Ok(KeyedCount::Seen(seen)),
                    None => Err(StoreError::Conflict),
                };
            }
            if (checks_at..counter_at).any(failed) {
                return Ok(KeyedCount::Counted(Counted::Closed));
            }
            if failed(counter_at) {
                let old = reasons.get(counter_at).and_then(|r| r.item());
                return Ok(KeyedCount::Counted(refusal(w, old)));
            }
            if !reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
                return Err(StoreError::Conflict);
            }
            // A concurrent record on the same counter: try again.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Err(StoreError::Conflict)
    }

    /// Marks `threshold` of a counter as notified and records its `usage.threshold` event in the
    /// outbox, as ONE transaction; `false` (nothing written) when it was marked before.
    pub async fn notify_threshold(
        &self,
        user_id: &str,
        period_end: i64,
        feature: &str,
        threshold: u8,
        event: &crate::domain::records::OutboxRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&keys::user(user_id), &keys::usage(period_end, feature))))
            .update_expression("SET #n = :now")
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#n)")
            .expression_attribute_names("#n", notified_attribute(threshold))
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .build()
            .map_err(backend("transact_write_items"))?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.put(event, super::Condition::None)?,
        ];
        Ok(self.transact(items).await?.is_none())
    }

    /// The checks that `subscription`'s metering is open: its record is not canceled (nor
    /// gone), and no fence is in force.
    fn metering_open(&self, user_id: &str, subscription: &str, now: i64) -> Result<[TransactWriteItem; 2], StoreError> {
        let live = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(&keys::user(user_id), &keys::subscription(subscription))))
            .condition_expression("#status IN (:active, :trialing, :past_due)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", AttributeValue::S("active".into()))
            .expression_attribute_values(":trialing", AttributeValue::S("trialing".into()))
            .expression_attribute_values(":past_due", AttributeValue::S("past_due".into()))
            .build()
            .map_err(backend("transact_write_items"))?;
        let unfenced = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(&keys::fence(subscription), keys::SK_FENCE)))
            .condition_expression("attribute_not_exists(#pk) OR #until <= :now")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .build()
            .map_err(backend("transact_write_items"))?;
        Ok([
            TransactWriteItem::builder().condition_check(live).build(),
            TransactWriteItem::builder().condition_check(unfenced).build(),
        ])
    }

    /// Closes the metering of `subscription` until `until`: metered records for it are refused
    /// from now on ([`Store::count_usage`]). A closed metering is closed again (the later
    /// `until` wins).
    pub async fn close_metering(&self, subscription: &str, until: i64, now: i64) -> Result<(), StoreError> {
        let fence = MeteringFence::new(subscription, until, now);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&fence)?))
            .send()
            .await
            .map_err(backend("put_item"))?;
        Ok(())
    }

    /// Opens the metering of `subscription` again (its cancel did not happen), only while the
    /// fence is the one closed until `until` (another request's fence stays).
    pub async fn reopen_metering(&self, subscription: &str, until: i64) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&keys::fence(subscription), keys::SK_FENCE)))
            .condition_expression("#until = :until")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            Err(err) => Err(backend("delete_item")(err)),
        }
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
            carried: 4,
            basis: Some("sub_1"),
            metering: None,
            now: 15,
        };
        let parts = usage_update(&w);
        assert_eq!((parts.pk.as_str(), parts.sk.as_str()), ("USER#u1", "USAGE#20#api_calls"));
        assert_eq!(
            parts.condition.as_deref(),
            Some("(attribute_not_exists(#limited) OR #limited <= :max)")
        );
        assert!(parts.values.iter().any(|(k, v)| *k == ":max" && v.as_n().unwrap() == "7"));
        assert!(
            parts.expression.contains("#limited = if_not_exists(#limited, :carried) + :q")
                && parts.values.iter().any(|(k, v)| *k == ":carried" && v.as_n().unwrap() == "4"),
            "a new counter starts at the carried count"
        );
        assert!(
            !parts.expression.contains("#report = "),
            "unmetered counters stay out of the reporter's queue"
        );
        let metered = usage_update(&UsageWrite {
            limit: None,
            metering: Some(Metering {
                meter: "api_calls",
                customer_id: "cus_1",
                subscription_id: "sub_1",
                ceiling: Some(100),
            }),
            ..w
        });
        assert_eq!(
            metered.condition.as_deref(),
            Some("(attribute_not_exists(#metered) OR #metered <= :mmax)")
        );
        assert!(metered.values.iter().any(|(k, v)| *k == ":mmax" && v.as_n().unwrap() == "97"));
        assert!(metered.expression.contains("#report = :pending"));
        assert!(metered.expression.contains("#metered = if_not_exists(#metered, :zero) + :q"));
        assert!(
            parts.expression.contains("#metered = if_not_exists(#metered, :zero)")
                && !parts.expression.contains("#metered = if_not_exists(#metered, :zero) + :q"),
            "only metered writes count as billed"
        );
    }

    #[test]
    fn a_refusal_names_the_condition_that_failed() {
        let w = UsageWrite {
            user_id: "u1",
            feature: "api_calls",
            period: Period { start: 10, end: 20 },
            quantity: 3,
            limit: Some(10),
            carried: 0,
            basis: None,
            metering: Some(Metering {
                meter: "api_calls",
                customer_id: "cus_1",
                subscription_id: "sub_1",
                ceiling: Some(50),
            }),
            now: 15,
        };
        let item = |limited: u64, metered: u64| Item::from([("limited".to_owned(), n(limited)), ("metered".to_owned(), n(metered))]);
        assert_eq!(refusal(&w, Some(&item(9, 9))), Counted::OverLimit { used: 9 });
        assert_eq!(refusal(&w, Some(&item(2, 49))), Counted::OverCeiling { metered: 49 });
    }
}
