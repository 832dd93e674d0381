//! The DynamoDB adapter against a real DynamoDB wire endpoint.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use billing::store::{self, CustomerLink, CustomerOwner, LinkOutcome, SubscriptionRecord, TransactOutcome, keys};

use crate::helpers::fresh_store;

fn subscription(user: &str, id: &str, status: &str, version: u64) -> SubscriptionRecord {
    SubscriptionRecord {
        pk: keys::user(user),
        sk: keys::subscription(id),
        subscription_id: id.into(),
        customer_id: "cus_1".into(),
        status: status.into(),
        plan: Some("pro".into()),
        price_id: Some("price_pro_month".into()),
        interval: Some(billing::plans::Interval::Month),
        quantity: 1,
        current_period_end: Some(1_900_000_000),
        cancel_at_period_end: false,
        trial_end: None,
        past_due_since: None,
        version,
        updated_at: 1,
    }
}

#[tokio::test]
async fn create_table_sets_schema_and_ttl_and_is_idempotent() {
    let store = fresh_store("schema").await;
    assert!(!store.create_table().await.unwrap(), "second create reports an existing table");
    let described = store.client().describe_table().table_name(store.table()).send().await.unwrap();
    let table = described.table.unwrap();
    let schema: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned()))
        .collect();
    assert_eq!(
        schema,
        vec![(keys::PK.to_owned(), "HASH".to_owned()), (keys::SK.to_owned(), "RANGE".to_owned())]
    );
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description.unwrap();
    assert_eq!(ttl.attribute_name(), Some(keys::TTL));
}

#[tokio::test]
async fn conditional_put_writes_once() {
    let store = fresh_store("put").await;
    let owner = CustomerOwner::new("cus_1", "user_1");
    assert!(store.put_if_absent(&owner).await.unwrap());
    let other = CustomerOwner::new("cus_1", "user_2");
    assert!(!store.put_if_absent(&other).await.unwrap(), "existing item is not overwritten");
    assert_eq!(store.customer_owner("cus_1").await.unwrap().as_deref(), Some("user_1"));
    assert_eq!(store.customer_owner("cus_missing").await.unwrap(), None);
}

#[tokio::test]
async fn version_guard_keeps_the_newest_write() {
    let store = fresh_store("version").await;
    assert!(store.put_if_newer(&subscription("u", "sub_1", "active", 5), 5).await.unwrap());
    assert!(
        !store.put_if_newer(&subscription("u", "sub_1", "trialing", 3), 3).await.unwrap(),
        "older version is refused"
    );
    assert!(
        !store.put_if_newer(&subscription("u", "sub_1", "trialing", 5), 5).await.unwrap(),
        "same version is refused"
    );
    assert!(store.put_if_newer(&subscription("u", "sub_1", "past_due", 9), 9).await.unwrap());
    let items = store.user_items("u").await.unwrap();
    assert_eq!(items.subscriptions.len(), 1);
    assert_eq!(items.subscriptions[0].status, "past_due");
    assert_eq!(items.subscriptions[0].version, 9);
}

#[tokio::test]
async fn link_customer_is_atomic_and_refuses_conflicts() {
    let store = fresh_store("link").await;
    assert_eq!(
        store.link_customer("user_a", "cus_a", Some("a@example.com"), 10).await.unwrap(),
        LinkOutcome::Linked
    );
    assert_eq!(
        store.link_customer("user_a", "cus_a", Some("a@example.com"), 11).await.unwrap(),
        LinkOutcome::Linked,
        "same link again is fine"
    );

    // cus_a already belongs to user_a: linking it to user_b fails on the reverse item, and the
    // transaction must not leave user_b's half behind.
    assert_eq!(
        store.link_customer("user_b", "cus_a", None, 12).await.unwrap(),
        LinkOutcome::Conflict
    );
    let b = store.user_items("user_b").await.unwrap();
    assert_eq!(b.customer, None, "nothing written for user_b");
    assert_eq!(store.customer_owner("cus_a").await.unwrap().as_deref(), Some("user_a"));

    // user_a already has cus_a: a second customer for the same user is a conflict too.
    assert_eq!(
        store.link_customer("user_a", "cus_other", None, 13).await.unwrap(),
        LinkOutcome::Conflict
    );
    assert_eq!(
        store.customer_owner("cus_other").await.unwrap(),
        None,
        "nothing written for cus_other"
    );
    let a = store.user_items("user_a").await.unwrap();
    assert_eq!(a.customer.map(|c| c.customer_id), Some("cus_a".to_owned()));
}

#[tokio::test]
async fn transaction_with_a_failing_condition_reports_which_item_failed() {
    let store = fresh_store("tx").await;
    let existing = CustomerLink::new("user_tx", "cus_tx", None, 1);
    assert!(store.put_if_absent(&existing).await.unwrap());

    let put = |item| {
        Put::builder()
            .table_name(store.table())
            .set_item(Some(item))
            .condition_expression(store::IF_ABSENT)
            .build()
            .unwrap()
    };
    let fresh = store::to_item(&CustomerOwner::new("cus_new", "user_tx")).unwrap();
    let clash = store::to_item(&CustomerLink::new("user_tx", "cus_new", None, 2)).unwrap();
    let outcome = store
        .transact(vec![
            TransactWriteItem::builder().put(put(fresh.clone())).build(),
            TransactWriteItem::builder().put(put(clash)).build(),
        ])
        .await
        .unwrap();
    assert_eq!(outcome, TransactOutcome::ConditionFailed { failed: vec![1] });
    assert_eq!(
        store.customer_owner("cus_new").await.unwrap(),
        None,
        "the first put was rolled back"
    );

    let outcome = store
        .transact(vec![TransactWriteItem::builder().put(put(fresh)).build()])
        .await
        .unwrap();
    assert_eq!(outcome, TransactOutcome::Committed);
    assert_eq!(store.customer_owner("cus_new").await.unwrap().as_deref(), Some("user_tx"));
}

#[tokio::test]
async fn query_by_user_returns_only_that_users_items() {
    let store = fresh_store("query").await;
    assert_eq!(store.link_customer("user_q", "cus_q", None, 1).await.unwrap(), LinkOutcome::Linked);
    assert!(store.put_if_absent(&subscription("user_q", "sub_1", "active", 1)).await.unwrap());
    assert!(store.put_if_absent(&subscription("user_q", "sub_2", "canceled", 1)).await.unwrap());
    assert!(
        store
            .put_if_absent(&subscription("user_other", "sub_3", "active", 1))
            .await
            .unwrap()
    );
    let entitlements = billing::store::EntitlementsRecord {
        pk: keys::user("user_q"),
        sk: keys::SK_ENTITLEMENTS.into(),
        customer_id: "cus_q".into(),
        features: vec!["api_access".into()],
        version: 1,
        updated_at: 1,
    };
    assert!(store.put_if_absent(&entitlements).await.unwrap());

    let items = store.user_items("user_q").await.unwrap();
    assert_eq!(items.customer.as_ref().map(|c| c.customer_id.as_str()), Some("cus_q"));
    let mut ids: Vec<&str> = items.subscriptions.iter().map(|s| s.subscription_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, vec!["sub_1", "sub_2"]);
    assert_eq!(items.entitlements, Some(entitlements));
    assert_eq!(store.user_items("nobody").await.unwrap(), Default::default());
}

#[tokio::test]
async fn unreachable_endpoint_is_a_backend_error() {
    let port = crate::helpers::free_port();
    let store = billing::store::Store::new(billing::testkit::dynamodb_client(&format!("http://127.0.0.1:{port}")), "t");
    let err = store.user_items("u").await.unwrap_err();
    assert!(
        matches!(err, billing::store::StoreError::Backend { operation: "query", .. }),
        "{err}"
    );
}
