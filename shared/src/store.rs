//! DynamoDB store adapter: the table's key schema (defined once, here) and typed items
//! (serde_dynamo) for the single-table design.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `USER#<sub>` | `CUSTOMER` | [`CustomerLink`]: the user's Stripe customer |
//! | `USER#<sub>` | `SUB#<sub_…>` | [`SubscriptionRecord`] (versioned) |
//! | `USER#<sub>` | `ENTITLEMENTS` | [`EntitlementsRecord`] (versioned) |
//! | `CUSTOMER#<cus_…>` | `USER` | [`CustomerOwner`]: reverse mapping |
//! | `EVENT#<evt_…>` | `EVENT` | webhook dedupe record (TTL) |
//! | `AUDIT#<sub>` | `<created>#<evt_…>` | audit row (TTL) |
//!
//! Everything an entitlement check needs lives under `pk=USER#<sub>`: one Query answers it.
//! Audit rows live under their own partition so that Query stays small however long a user's
//! history grows.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::plans::Interval;

/// Attribute names and key prefixes, in one place.
pub mod keys {
    /// Partition key attribute.
    pub const PK: &str = "pk";
    /// Sort key attribute.
    pub const SK: &str = "sk";
    /// TTL attribute (epoch seconds). DynamoDB deletes expired items eventually; readers
    /// filter on it too.
    pub const TTL: &str = "expires_at";
    /// Version attribute used by order guards.
    pub const VERSION: &str = "version";

    pub const USER_PREFIX: &str = "USER#";
    pub const CUSTOMER_PREFIX: &str = "CUSTOMER#";
    pub const EVENT_PREFIX: &str = "EVENT#";
    pub const AUDIT_PREFIX: &str = "AUDIT#";
    pub const SUB_PREFIX: &str = "SUB#";

    pub const SK_CUSTOMER: &str = "CUSTOMER";
    pub const SK_USER: &str = "USER";
    pub const SK_ENTITLEMENTS: &str = "ENTITLEMENTS";
    pub const SK_EVENT: &str = "EVENT";

    pub fn user(user_id: &str) -> String {
        format!("{USER_PREFIX}{user_id}")
    }
    pub fn customer(customer_id: &str) -> String {
        format!("{CUSTOMER_PREFIX}{customer_id}")
    }
    pub fn subscription(subscription_id: &str) -> String {
        format!("{SUB_PREFIX}{subscription_id}")
    }
    pub fn event(event_id: &str) -> String {
        format!("{EVENT_PREFIX}{event_id}")
    }
    pub fn audit(user_id: &str) -> String {
        format!("{AUDIT_PREFIX}{user_id}")
    }
}

/// The table's key schema. `template.yaml` repeats it by hand; a test keeps the two equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSchema {
    pub hash_key: &'static str,
    pub range_key: &'static str,
    pub ttl_attribute: &'static str,
}

pub const TABLE_SCHEMA: TableSchema = TableSchema {
    hash_key: keys::PK,
    range_key: keys::SK,
    ttl_attribute: keys::TTL,
};

/// `USER#<sub>` / `CUSTOMER`: which Stripe customer belongs to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerLink {
    pub pk: String,
    pub sk: String,
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub created_at: i64,
}

impl CustomerLink {
    pub fn new(user_id: &str, customer_id: &str, email: Option<&str>, now: i64) -> Self {
        Self {
            pk: keys::user(user_id),
            sk: keys::SK_CUSTOMER.into(),
            customer_id: customer_id.into(),
            email: email.map(Into::into),
            created_at: now,
        }
    }
}

/// `CUSTOMER#<cus>` / `USER`: which user a Stripe customer belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerOwner {
    pub pk: String,
    pub sk: String,
    pub user_id: String,
}

impl CustomerOwner {
    pub fn new(customer_id: &str, user_id: &str) -> Self {
        Self {
            pk: keys::customer(customer_id),
            sk: keys::SK_USER.into(),
            user_id: user_id.into(),
        }
    }
}

/// `USER#<sub>` / `SUB#<id>`: the last known state of one Stripe subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub pk: String,
    pub sk: String,
    pub subscription_id: String,
    pub customer_id: String,
    /// Stripe's status string (`active`, `trialing`, `past_due`, `canceled`, …).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    pub quantity: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_end: Option<i64>,
    /// When the subscription went `past_due` (start of the grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_due_since: Option<i64>,
    /// Order guard: a write only lands when its version is higher than the stored one.
    pub version: u64,
    pub updated_at: i64,
}

/// `USER#<sub>` / `ENTITLEMENTS`: the materialized Stripe active-entitlement summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitlementsRecord {
    pub pk: String,
    pub sk: String,
    pub customer_id: String,
    /// Feature lookup keys.
    pub features: Vec<String>,
    pub version: u64,
    pub updated_at: i64,
}

/// `EVENT#<evt>` / `EVENT`: a processed webhook event (dedupe), kept for [`EVENT_TTL_SECS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub pk: String,
    pub sk: String,
    pub event_type: String,
    /// `applied`, `stale`, `ignored`, `unmatched`, `conflict`.
    pub outcome: String,
    pub created: i64,
    pub processed_at: i64,
    pub expires_at: i64,
}

/// Stripe retries for up to 3 days; dedupe records outlive that.
pub const EVENT_TTL_SECS: i64 = 30 * 86_400;
/// How long audit rows are kept.
pub const AUDIT_TTL_SECS: i64 = 90 * 86_400;

impl EventRecord {
    pub fn new(event_id: &str, event_type: &str, outcome: &str, created: i64, now: i64) -> Self {
        Self {
            pk: keys::event(event_id),
            sk: keys::SK_EVENT.into(),
            event_type: event_type.into(),
            outcome: outcome.into(),
            created,
            processed_at: now,
            expires_at: now + EVENT_TTL_SECS,
        }
    }
}

/// `AUDIT#<sub>` / `<created>#<evt>`: what one event changed for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub pk: String,
    pub sk: String,
    pub event_id: String,
    pub event_type: String,
    pub outcome: String,
    pub before: String,
    pub after: String,
    pub expires_at: i64,
}

impl AuditRecord {
    /// `change` is the (before, after) summary.
    pub fn new(user_id: &str, event_id: &str, event_type: &str, created: i64, outcome: &str, change: (String, String), now: i64) -> Self {
        let (before, after) = change;
        Self {
            pk: keys::audit(user_id),
            sk: format!("{created:012}#{event_id}"),
            event_id: event_id.into(),
            event_type: event_type.into(),
            outcome: outcome.into(),
            before,
            after,
            expires_at: now + AUDIT_TTL_SECS,
        }
    }
}

/// Everything stored under one user's partition, read with one Query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserItems {
    pub customer: Option<CustomerLink>,
    pub subscriptions: Vec<SubscriptionRecord>,
    pub entitlements: Option<EntitlementsRecord>,
}

/// Result of linking a user to a Stripe customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Both mapping items were written (or already said exactly this).
    Linked,
    /// The user already has another customer, or the customer belongs to another user.
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not be reached or refused the request (throttling, timeout, 5xx).
    #[error("dynamodb {operation} failed")]
    Backend {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("stored item under {pk}/{sk} does not match its type")]
    Corrupt {
        pk: String,
        sk: String,
        #[source]
        source: serde_dynamo::Error,
    },
    #[error("item does not serialize to a DynamoDB map")]
    Serialize(#[source] serde_dynamo::Error),
    /// A concurrent transaction touched the same items; retrying may succeed.
    #[error("dynamodb transaction conflicted with a concurrent one")]
    Conflict,
}

/// The condition of a write inside a transaction.
#[derive(Debug, Clone)]
pub enum Condition {
    None,
    /// The item must not exist yet.
    Absent,
    /// The stored item must not exist or have a lower `version`.
    OlderVersion(u64),
    /// Any expression with its `:values`.
    Expr(&'static str, Vec<(&'static str, AttributeValue)>),
}

/// A [`Condition`] as the request parameters DynamoDB takes.
struct RenderedCondition {
    expression: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

impl Condition {
    fn render(self) -> RenderedCondition {
        type Names = Vec<(&'static str, &'static str)>;
        type Values = Vec<(&'static str, AttributeValue)>;
        let (expression, names, values): (Option<&str>, Names, Values) = match self {
            Condition::None => (None, vec![], vec![]),
            Condition::Absent => (Some(IF_ABSENT), vec![], vec![]),
            Condition::OlderVersion(version) => (
                Some("attribute_not_exists(pk) OR #version < :version"),
                vec![("#version", keys::VERSION)],
                vec![(":version", AttributeValue::N(version.to_string()))],
            ),
            Condition::Expr(expression, values) => (Some(expression), vec![], values),
        };
        fn map<V>(pairs: Vec<(&str, V)>) -> Option<HashMap<String, V>> {
            (!pairs.is_empty()).then(|| pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        }
        RenderedCondition {
            expression: expression.map(str::to_owned),
            names: map(names.into_iter().map(|(k, v)| (k, v.to_owned())).collect()),
            values: map(values),
        }
    }
}

fn backend<E: std::error::Error + Send + Sync + 'static>(operation: &'static str) -> impl FnOnce(E) -> StoreError {
    move |source| StoreError::Backend {
        operation,
        source: Box::new(source),
    }
}

pub type Item = HashMap<String, AttributeValue>;

pub fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(StoreError::Serialize)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    let text = |name| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let (pk, sk) = (text(keys::PK), text(keys::SK));
    serde_dynamo::from_item(item).map_err(|source| StoreError::Corrupt { pk, sk, source })
}

/// Condition: the item does not exist yet.
pub const IF_ABSENT: &str = "attribute_not_exists(pk)";

/// The DynamoDB adapter. Cheap to clone; one per process.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table with [`TABLE_SCHEMA`] (on-demand) and enables TTL. Used by the local
    /// stack and the tests; in AWS, template.yaml creates it. An existing table is left as is.
    pub async fn create_table(&self) -> Result<bool, StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(TABLE_SCHEMA.hash_key).map_err(backend("create_table"))?)
            .attribute_definitions(attr(TABLE_SCHEMA.range_key).map_err(backend("create_table"))?)
            .key_schema(key(TABLE_SCHEMA.hash_key, KeyType::Hash).map_err(backend("create_table"))?)
            .key_schema(key(TABLE_SCHEMA.range_key, KeyType::Range).map_err(backend("create_table"))?)
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => return Ok(false),
            Err(err) => return Err(backend("create_table")(err)),
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TABLE_SCHEMA.ttl_attribute)
            .enabled(true)
            .build()
            .map_err(backend("update_time_to_live"))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(backend("update_time_to_live"))?;
        Ok(true)
    }

    /// Writes `item` only if no item with its key exists. `Ok(false)`: it existed, nothing
    /// was written.
    pub async fn put_if_absent<T: Serialize>(&self, item: &T) -> Result<bool, StoreError> {
        self.put_when(item, Condition::Absent).await
    }

    /// Writes a versioned item unless the stored one has the same or a higher `version`.
    /// `Ok(false)`: the stored item is newer; nothing was written.
    pub async fn put_if_newer<T: Serialize>(&self, item: &T, version: u64) -> Result<bool, StoreError> {
        self.put_when(item, Condition::OlderVersion(version)).await
    }

    /// A single conditional PutItem; a failed condition is `Ok(false)`.
    async fn put_when<T: Serialize>(&self, item: &T, condition: Condition) -> Result<bool, StoreError> {
        let c = condition.render();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .set_condition_expression(c.expression)
            .set_expression_attribute_names(c.names)
            .set_expression_attribute_values(c.values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(err) => Err(backend("put_item")(err)),
        }
    }

    /// Links a user and a Stripe customer in both directions, atomically. Writing the same
    /// link again is fine; a different existing link on either side is a [`LinkOutcome::Conflict`]
    /// and nothing is written.
    pub async fn link_customer(&self, user_id: &str, customer_id: &str, email: Option<&str>, now: i64) -> Result<LinkOutcome, StoreError> {
        match self.transact(self.link_writes(user_id, customer_id, email, now)?).await? {
            TransactOutcome::Committed => Ok(LinkOutcome::Linked),
            TransactOutcome::ConditionFailed { .. } => Ok(LinkOutcome::Conflict),
        }
    }

    /// The two conditional Puts of a user ↔ customer link, for a transaction: each succeeds when
    /// its item is absent or already says the same.
    pub fn link_writes(
        &self,
        user_id: &str,
        customer_id: &str,
        email: Option<&str>,
        now: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        Ok(vec![
            self.tx_put(
                &CustomerLink::new(user_id, customer_id, email, now),
                Condition::Expr(
                    "attribute_not_exists(pk) OR customer_id = :customer",
                    vec![(":customer", AttributeValue::S(customer_id.into()))],
                ),
            )?,
            self.tx_put(
                &CustomerOwner::new(customer_id, user_id),
                Condition::Expr(
                    "attribute_not_exists(pk) OR user_id = :user",
                    vec![(":user", AttributeValue::S(user_id.into()))],
                ),
            )?,
        ])
    }

    /// Runs a transaction. A failed condition is an outcome (with the indexes of the items
    /// whose condition failed), not an error.
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<TransactOutcome, StoreError> {
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match result {
            Ok(_) => Ok(TransactOutcome::Committed),
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => {
                let failed: Vec<usize> = match e.err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => c
                        .cancellation_reasons()
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                        .map(|(i, _)| i)
                        .collect(),
                    _ => Vec::new(),
                };
                let conflicted = match e.err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                        c.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict"))
                    }
                    _ => false,
                };
                if conflicted && failed.is_empty() {
                    return Err(StoreError::Conflict);
                }
                if failed.is_empty() {
                    // Cancelled for another reason (conflicting transaction, throttling): transient.
                    Err(backend("transact_write_items")(SdkError::ServiceError(e)))
                } else {
                    Ok(TransactOutcome::ConditionFailed { failed })
                }
            }
            Err(err) => Err(backend("transact_write_items")(err)),
        }
    }

    /// A Put for [`Store::transact`].
    pub fn tx_put<T: Serialize>(&self, item: &T, condition: Condition) -> Result<TransactWriteItem, StoreError> {
        let c = condition.render();
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .set_condition_expression(c.expression)
            .set_expression_attribute_names(c.names)
            .set_expression_attribute_values(c.values);
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(backend("transact_write_items"))?)
            .build())
    }

    /// A Delete for [`Store::transact`].
    pub fn tx_delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<TransactWriteItem, StoreError> {
        use aws_sdk_dynamodb::types::Delete;
        let c = condition.render();
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, AttributeValue::S(pk.into()))
            .key(keys::SK, AttributeValue::S(sk.into()))
            .set_condition_expression(c.expression)
            .set_expression_attribute_names(c.names)
            .set_expression_attribute_values(c.values);
        Ok(TransactWriteItem::builder()
            .delete(delete.build().map_err(backend("transact_write_items"))?)
            .build())
    }

    /// Everything under `USER#<sub>` with ONE Query (paginated only past 1 MB, which a user's
    /// partition does not reach).
    pub async fn user_items(&self, user_id: &str) -> Result<UserItems, StoreError> {
        let mut out = UserItems::default();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(keys::user(user_id)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend("query"))?;
            for item in page.items.unwrap_or_default() {
                let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                if sk == keys::SK_CUSTOMER {
                    out.customer = Some(from_item(item)?);
                } else if sk == keys::SK_ENTITLEMENTS {
                    out.entitlements = Some(from_item(item)?);
                } else if sk.starts_with(keys::SUB_PREFIX) {
                    out.subscriptions.push(from_item(item)?);
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The user a Stripe customer belongs to.
    pub async fn customer_owner(&self, customer_id: &str) -> Result<Option<String>, StoreError> {
        let item = self.get(&keys::customer(customer_id), keys::SK_USER).await?;
        item.map(|item| from_item::<CustomerOwner>(item).map(|o| o.user_id)).transpose()
    }

    /// One item by key (strongly consistent).
    pub async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, AttributeValue::S(pk.into()))
            .key(keys::SK, AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend("get_item"))?;
        Ok(out.item)
    }

    /// Several items by key in ONE round trip (BatchGetItem, strongly consistent). The result
    /// has one entry per requested key, in order.
    pub async fn get_many(&self, wanted: &[(String, String)]) -> Result<Vec<Option<Item>>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let key = |pk: &str, sk: &str| {
            Item::from([
                (keys::PK.to_owned(), AttributeValue::S(pk.into())),
                (keys::SK.to_owned(), AttributeValue::S(sk.into())),
            ])
        };
        let mut request = KeysAndAttributes::builder().consistent_read(true);
        for (pk, sk) in wanted {
            request = request.keys(key(pk, sk));
        }
        let request = request.build().map_err(backend("batch_get_item"))?;
        let mut found: Vec<Item> = Vec::new();
        let mut pending = Some(HashMap::from([(self.table.clone(), request)]));
        for _ in 0..5 {
            let Some(items) = pending.take().filter(|m| !m.is_empty()) else {
                break;
            };
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(items))
                .send()
                .await
                .map_err(backend("batch_get_item"))?;
            found.extend(out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default());
            pending = out.unprocessed_keys;
        }
        if pending.is_some_and(|m| !m.is_empty()) {
            return Err(backend("batch_get_item")(std::io::Error::other("unprocessed keys after retries")));
        }
        let text = |item: &Item, name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        Ok(wanted
            .iter()
            .map(|(pk, sk)| {
                found
                    .iter()
                    .find(|item| text(item, keys::PK).as_ref() == Some(pk) && text(item, keys::SK).as_ref() == Some(sk))
                    .cloned()
            })
            .collect())
    }

    /// Decodes a raw item.
    pub fn decode<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
        from_item(item)
    }

    /// One typed item by key.
    pub async fn get_as<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>, StoreError> {
        self.get(pk, sk).await?.map(from_item).transpose()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactOutcome {
    Committed,
    /// Nothing was written; these items' conditions failed.
    ConditionFailed {
        failed: Vec<usize>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_dynamo_items() {
        let record = SubscriptionRecord {
            pk: keys::user("u1"),
            sk: keys::subscription("sub_1"),
            subscription_id: "sub_1".into(),
            customer_id: "cus_1".into(),
            status: "trialing".into(),
            plan: Some("pro".into()),
            price_id: Some("price_1".into()),
            interval: Some(Interval::Year),
            quantity: 3,
            current_period_end: Some(1_900_000_000),
            cancel_at_period_end: false,
            trial_end: None,
            past_due_since: None,
            version: 7,
            updated_at: 1,
        };
        let item = to_item(&record).unwrap();
        assert_eq!(item[keys::PK].as_s().unwrap(), "USER#u1");
        assert_eq!(item[keys::VERSION].as_n().unwrap(), "7");
        assert_eq!(item["interval"].as_s().unwrap(), "year");
        assert!(!item.contains_key("trial_end"), "absent options are not stored as NULL");
        let back: SubscriptionRecord = from_item(item).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn corrupt_items_name_their_key() {
        let mut item = to_item(&CustomerOwner::new("cus_1", "u1")).unwrap();
        item.remove("user_id");
        let err = from_item::<CustomerOwner>(item).unwrap_err();
        assert!(err.to_string().contains("CUSTOMER#cus_1/USER"), "{err}");
    }
}
