//! The DynamoDB adapter. It speaks in the domain's records ([`crate::domain::records`]) and
//! typed writes; conditions, attribute maps and transactions stay inside.
//!
//! - Reads: [`Store::user_items`] (one Query: everything an entitlement check needs),
//!   [`Store::customer_owner`], [`Store::subscription`], [`Store::entitlements`], and
//!   [`Store::owner_and_subscription`] (one BatchGetItem).
//! - Writes: [`Store::commit`] runs a Stripe event's dedupe marker, its audit row and a list of
//!   [`Write`]s as ONE transaction: all of it lands or none. Each write carries its own
//!   condition (versioned state only above the stored version; links only onto absent or equal
//!   items), and a failed condition is an outcome ([`Committed`]), not an error.

mod grants;
mod outbox;
mod queue;
mod reads;
mod reconcile;
mod requests;
mod seats;
mod usage;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    Put, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::records::{
    AuditRecord, CustomerLink, CustomerOwner, EntitlementsRecord, EventRecord, OutboxRecord, REPORT_INDEX, ScheduleRecord,
    SubscriptionRecord, TABLE_SCHEMA, UserItems, keys,
};
use crate::domain::version::Version;

pub use self::grants::AUDIT_ROWS;
pub use self::outbox::OUTBOX_READ_CAP;
pub use self::queue::QUEUE_READ_CAP;
pub use self::requests::RateTaken;
pub use self::seats::SeatTaken;
pub use self::usage::{Counted, KeyedCount, UsageWrite};

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
    /// Concurrent transactions kept touching the same items.
    #[error("dynamodb transaction kept conflicting with concurrent ones")]
    Conflict,
}

/// One state change inside [`Store::commit`], with the condition that guards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A subscription's state from an event payload: lands only when no stored version is at or
    /// above its own.
    Subscription(SubscriptionRecord),
    /// A subscription's state fetched after `observed` was read: lands only while the stored
    /// version is still `observed` (`None`: while no record exists).
    SubscriptionReplacing {
        record: SubscriptionRecord,
        observed: Option<Version>,
    },
    /// A user's entitlement summary from an event payload: lands only when no stored version is
    /// at or above its own.
    Entitlements(EntitlementsRecord),
    /// A user's entitlement summary fetched after `observed` was read: lands only while the
    /// stored version is still `observed`.
    EntitlementsReplacing {
        record: EntitlementsRecord,
        observed: Option<Version>,
    },
    /// A subscription's schedule from an event payload: lands only when no stored version is at
    /// or above its own.
    Schedule(ScheduleRecord),
    /// A subscription's schedule as Stripe answered after `observed` was read: lands only while
    /// the stored version is still `observed`.
    ScheduleReplacing { record: ScheduleRecord, observed: Option<Version> },
    /// A user ↔ customer link, both directions: each side must be absent or already the same.
    Link(CustomerLink),
    /// Removes both sides of a link, each only while it still names the other.
    Unlink { user_id: String, customer_id: String },
}

/// The outcome of [`Store::commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Everything was written.
    Yes,
    /// The event's marker existed: the event was processed before; nothing was written.
    Duplicate,
    /// A write's condition failed (newer state stored, or a conflicting link); nothing was
    /// written.
    Refused,
}

/// What a client's `Idempotency-Key` is to this request ([`Store::claim_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKey {
    /// First use.
    New,
    /// Used before for the same request: a retry.
    Retry,
    /// Used before for another request.
    Mismatch,
}

/// Result of linking a user to a Stripe customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Both mapping items were written (or already said exactly this).
    Linked,
    /// The user already has another customer, or the customer belongs to another user.
    Conflict,
}

/// Whether a user and a customer may be linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Neither side is linked yet.
    Free,
    /// They are linked to each other (on at least one side, and neither to anyone else).
    Same,
    /// The user has another customer, or the customer belongs to another user.
    Conflict,
}

/// The condition of one item in a transaction.
enum Condition {
    None,
    /// The item must not exist yet.
    Absent,
    /// The stored item must not exist or have a lower `version`.
    OlderVersion(Version),
    /// The stored item's `version` must be this one (`None`: the item must not exist).
    SameVersion(Option<Version>),
    /// The item must not exist, or its attribute `name` must equal `value`.
    AbsentOrEqual(&'static str, String),
    /// The item's attribute `name` must equal `value`.
    Equal(&'static str, String),
    /// The item's number attribute `name` must equal `value`.
    EqualNumber(&'static str, i64),
}

/// A [`Condition`] as the request parameters DynamoDB takes.
#[derive(Default)]
struct Rendered {
    expression: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

impl Condition {
    fn render(self) -> Rendered {
        let named = |expression: &str, name: &str, value: AttributeValue| Rendered {
            expression: Some(expression.to_owned()),
            names: Some(HashMap::from([("#a".to_owned(), name.to_owned())])),
            values: Some(HashMap::from([(":v".to_owned(), value)])),
        };
        match self {
            Condition::None => Rendered::default(),
            Condition::Absent => Rendered {
                expression: Some(format!("attribute_not_exists({})", keys::PK)),
                ..Rendered::default()
            },
            Condition::OlderVersion(version) => named(
                &format!("attribute_not_exists({}) OR #a < :v", keys::PK),
                keys::VERSION,
                AttributeValue::N(version.get().to_string()),
            ),
            Condition::SameVersion(None) => Condition::Absent.render(),
            Condition::SameVersion(Some(version)) => named("#a = :v", keys::VERSION, AttributeValue::N(version.get().to_string())),
            Condition::AbsentOrEqual(name, value) => named(
                &format!("attribute_not_exists({}) OR #a = :v", keys::PK),
                name,
                AttributeValue::S(value),
            ),
            Condition::Equal(name, value) => named("#a = :v", name, AttributeValue::S(value)),
            Condition::EqualNumber(name, value) => named("#a = :v", name, AttributeValue::N(value.to_string())),
        }
    }
}

fn backend<E: std::error::Error + Send + Sync + 'static>(operation: &'static str) -> impl FnOnce(E) -> StoreError {
    move |source| StoreError::Backend {
        operation,
        source: Box::new(source),
    }
}

type Item = HashMap<String, AttributeValue>;

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(StoreError::Serialize)
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    let (pk, sk) = (text(&item, keys::PK).unwrap_or_default(), text(&item, keys::SK).unwrap_or_default());
    serde_dynamo::from_item(item).map_err(|source| StoreError::Corrupt { pk, sk, source })
}

fn key(pk: &str, sk: &str) -> Item {
    Item::from([
        (keys::PK.to_owned(), AttributeValue::S(pk.into())),
        (keys::SK.to_owned(), AttributeValue::S(sk.into())),
    ])
}

/// Attempts of a transaction that DynamoDB cancels for a concurrent one touching the same items.
const CONFLICT_ATTEMPTS: u32 = 6;

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

    /// The underlying client, for tools and tests that inspect the table.
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
                .map_err(backend("create_table"))
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(backend("create_table"))
        };
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(TABLE_SCHEMA.hash_key)?)
            .attribute_definitions(attr(TABLE_SCHEMA.range_key)?)
            .key_schema(key(TABLE_SCHEMA.hash_key, KeyType::Hash)?)
            .key_schema(key(TABLE_SCHEMA.range_key, KeyType::Range)?)
            .attribute_definitions(attr(keys::REPORT)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(REPORT_INDEX)
                    .key_schema(key(keys::REPORT, KeyType::Hash)?)
                    .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                    .build()
                    .map_err(backend("create_table"))?,
            )
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

    /// Opens the connection to DynamoDB (one cheap read of a key that never exists), so the
    /// first request of a process does not pay for the TLS handshake.
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        self.get("WARMUP", "WARMUP").await.map(|_| ())
    }

    // ------------------------------------------------------------------ writes

    /// Commits `writes` with the event's dedupe `marker` (must be absent) and an `audit` row, as
    /// ONE transaction. Retries when DynamoDB cancels it for a concurrent transaction.
    pub async fn commit(
        &self,
        marker: Option<&EventRecord>,
        audit: Option<&AuditRecord>,
        writes: &[Write],
    ) -> Result<Committed, StoreError> {
        self.commit_with_outbox(marker, audit, writes, &[]).await
    }

    /// [`Store::commit`] with the domain events the change makes (`outbox`), in the same
    /// transaction: they exist exactly when the change does.
    pub async fn commit_with_outbox(
        &self,
        marker: Option<&EventRecord>,
        audit: Option<&AuditRecord>,
        writes: &[Write],
        outbox: &[OutboxRecord],
    ) -> Result<Committed, StoreError> {
        let mut items = Vec::with_capacity(writes.len() * 2 + 2 + outbox.len());
        if let Some(marker) = marker {
            items.push(self.put(marker, Condition::Absent)?);
        }
        if let Some(audit) = audit {
            items.push(self.put(audit, Condition::None)?);
        }
        for write in writes {
            self.add_write(&mut items, write)?;
        }
        // Unconditional: an outbox key is unique to its change (it names the event's id).
        for record in outbox {
            items.push(self.put(record, Condition::None)?);
        }
        if items.is_empty() {
            return Ok(Committed::Yes);
        }
        let mut attempt = 1;
        loop {
            match self.transact(items.clone()).await {
                Err(StoreError::Conflict) if attempt < CONFLICT_ATTEMPTS => {
                    // Exponential, with jitter so that writers that collided do not collide again.
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos());
                    let jitter = u64::from(nanos % 20);
                    tokio::time::sleep(std::time::Duration::from_millis((20 << attempt) + jitter)).await;
                    attempt += 1;
                }
                Ok(Some(failed)) if marker.is_some() && failed.contains(&0) => return Ok(Committed::Duplicate),
                Ok(Some(_)) => return Ok(Committed::Refused),
                Ok(None) => return Ok(Committed::Yes),
                Err(err) => return Err(err),
            }
        }
    }

    /// Links a user and a Stripe customer in both directions, atomically. Writing the same
    /// link again is fine; a different existing link on either side is a [`LinkOutcome::Conflict`]
    /// and nothing is written.
    pub async fn link_customer(&self, user_id: &str, customer_id: &str, email: Option<&str>, now: i64) -> Result<LinkOutcome, StoreError> {
        let link = Write::Link(CustomerLink::new(user_id, customer_id, email, now));
        match self.commit(None, None, &[link]).await? {
            Committed::Yes | Committed::Duplicate => Ok(LinkOutcome::Linked),
            Committed::Refused => Ok(LinkOutcome::Conflict),
        }
    }

    fn add_write(&self, items: &mut Vec<TransactWriteItem>, write: &Write) -> Result<(), StoreError> {
        match write {
            Write::Subscription(record) => items.push(self.put(record, Condition::OlderVersion(record.version))?),
            Write::Entitlements(record) => items.push(self.put(record, Condition::OlderVersion(record.version))?),
            Write::SubscriptionReplacing { record, observed } => items.push(self.put(record, Condition::SameVersion(*observed))?),
            Write::EntitlementsReplacing { record, observed } => items.push(self.put(record, Condition::SameVersion(*observed))?),
            Write::Schedule(record) => items.push(self.put(record, Condition::OlderVersion(record.version))?),
            Write::ScheduleReplacing { record, observed } => items.push(self.put(record, Condition::SameVersion(*observed))?),
            Write::Link(link) => {
                let user_id = link.user_id();
                items.push(self.put(link, Condition::AbsentOrEqual(keys::CUSTOMER_ID, link.customer_id.clone()))?);
                items.push(self.put(
                    &CustomerOwner::new(&link.customer_id, &user_id),
                    Condition::AbsentOrEqual(keys::USER_ID, user_id.clone()),
                )?);
            }
            Write::Unlink { user_id, customer_id } => {
                items.push(self.delete(
                    &keys::customer(customer_id),
                    keys::SK_USER,
                    Condition::Equal(keys::USER_ID, user_id.clone()),
                )?);
                items.push(self.delete(
                    &keys::user(user_id),
                    keys::SK_CUSTOMER,
                    Condition::Equal(keys::CUSTOMER_ID, customer_id.clone()),
                )?);
            }
        }
        Ok(())
    }

    /// Runs a transaction. `Ok(None)`: committed; `Ok(Some(indexes))`: nothing was written, the
    /// conditions of these items failed.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Option<Vec<usize>>, StoreError> {
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        let err = match result {
            Ok(_) => return Ok(None),
            Err(err) => err,
        };
        let reasons = match &err {
            SdkError::ServiceError(e) => match e.err() {
                TransactWriteItemsError::TransactionCanceledException(c) => c.cancellation_reasons(),
                _ => &[],
            },
            _ => &[],
        };
        let failed: Vec<usize> = reasons
            .iter()
            .enumerate()
            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
            .map(|(i, _)| i)
            .collect();
        if !failed.is_empty() {
            return Ok(Some(failed));
        }
        if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
            return Err(StoreError::Conflict);
        }
        Err(backend("transact_write_items")(err))
    }

    fn put<T: Serialize>(&self, item: &T, condition: Condition) -> Result<TransactWriteItem, StoreError> {
        let c = condition.render();
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .set_condition_expression(c.expression)
            .set_expression_attribute_names(c.names)
            .set_expression_attribute_values(c.values)
            .build()
            .map_err(backend("transact_write_items"))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<TransactWriteItem, StoreError> {
        let c = condition.render();
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .set_condition_expression(c.expression)
            .set_expression_attribute_names(c.names)
            .set_expression_attribute_values(c.values)
            .build()
            .map_err(backend("transact_write_items"))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plans::Interval;

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
            current_period_start: None,
            cancel_at: None,
            trial_end: None,
            past_due_since: None,
            pause: None,
            paused_since: None,
            uncollected_period: None,
            version: Version::of_payload(7),
            updated_at: 1,
        };
        let item = to_item(&record).unwrap();
        assert_eq!(item[keys::PK].as_s().unwrap(), "USER#u1");
        assert_eq!(item[keys::VERSION].as_n().unwrap(), &(7u64 << 20).to_string());
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

    #[test]
    fn conditions_render_their_names_and_values() {
        let versioned = Condition::OlderVersion(Version::of_payload(1)).render();
        assert_eq!(versioned.expression.as_deref(), Some("attribute_not_exists(pk) OR #a < :v"));
        assert_eq!(versioned.names.unwrap()["#a"], keys::VERSION);
        assert_eq!(versioned.values.unwrap()[":v"].as_n().unwrap(), &(1u64 << 20).to_string());
        assert!(Condition::None.render().expression.is_none());
        let same = Condition::SameVersion(Some(Version::of_payload(2))).render();
        assert_eq!(same.expression.as_deref(), Some("#a = :v"));
        assert_eq!(same.names.unwrap()["#a"], keys::VERSION);
        let fresh = Condition::SameVersion(None).render();
        assert_eq!(fresh.expression.as_deref(), Some("attribute_not_exists(pk)"));
        let equal = Condition::Equal(keys::USER_ID, "u".into()).render();
        assert_eq!(equal.expression.as_deref(), Some("#a = :v"));
    }
}
