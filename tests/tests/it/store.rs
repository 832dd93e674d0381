//! The DynamoDB adapter against a real DynamoDB wire endpoint.

use billing::adapters::store::{Committed, LinkOutcome, StoreError, Write};
use billing::domain::records::{AuditRecord, EntitlementsRecord, EventRecord, SubscriptionRecord, keys};
use billing::domain::version::Version;

use crate::helpers::fresh_store;

fn subscription(user: &str, id: &str, status: &str, second: i64) -> SubscriptionRecord {
    SubscriptionRecord {
        pk: keys::user(user),
        sk: keys::subscription(id),
        subscription_id: id.into(),
        customer_id: "cus_1".into(),
        status: status.into(),
        plan: Some("pro".into()),
        price_id: Some("price_pro_month".into()),
        interval: Some(billing::domain::plans::Interval::Month),
        quantity: 1,
        current_period_end: Some(1_900_000_000),
        cancel_at_period_end: false,
        current_period_start: None,
        cancel_at: None,
        trial_end: None,
        past_due_since: None,
        pause: None,
        paused_since: None,
        uncollected_period: None,
        version: Version::of_payload(second),
        updated_at: 1,
    }
}

fn write(record: SubscriptionRecord) -> Write {
    Write::Subscription(record)
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
async fn version_guard_keeps_the_newest_write() {
    let store = fresh_store("version").await;
    assert_eq!(
        store
            .commit(None, None, &[write(subscription("u", "sub_1", "active", 5))])
            .await
            .unwrap(),
        Committed::Yes
    );
    assert_eq!(
        store
            .commit(None, None, &[write(subscription("u", "sub_1", "trialing", 3))])
            .await
            .unwrap(),
        Committed::Refused,
        "older version is refused"
    );
    assert_eq!(
        store
            .commit(None, None, &[write(subscription("u", "sub_1", "trialing", 5))])
            .await
            .unwrap(),
        Committed::Refused,
        "same version is refused"
    );
    assert_eq!(
        store
            .commit(None, None, &[write(subscription("u", "sub_1", "past_due", 9))])
            .await
            .unwrap(),
        Committed::Yes
    );
    let items = store.user_items("u").await.unwrap();
    assert_eq!(items.subscriptions.len(), 1);
    assert_eq!(items.subscriptions[0].status, "past_due");
    assert_eq!(items.subscriptions[0].version, Version::of_payload(9));
    assert_eq!(
        store.subscription("u", "sub_1").await.unwrap(),
        Some(items.subscriptions[0].clone())
    );
}

#[tokio::test]
async fn a_commit_is_marker_audit_and_writes_all_or_nothing() {
    let store = fresh_store("commit").await;
    let marker = EventRecord::new("evt_1", "customer.subscription.updated", "applied", 100, 100);
    let audit = AuditRecord::new(
        "u",
        "evt_1",
        "customer.subscription.updated",
        100,
        "applied",
        ("a".into(), "b".into()),
        100,
    );
    let writes = [write(subscription("u", "sub_1", "active", 100))];
    assert_eq!(store.commit(Some(&marker), Some(&audit), &writes).await.unwrap(), Committed::Yes);
    assert_eq!(
        store.event_marker("evt_1").await.unwrap().map(|m| m.outcome),
        Some("applied".into())
    );
    assert_eq!(
        store
            .commit(Some(&marker), Some(&audit), &[write(subscription("u", "sub_1", "canceled", 200))])
            .await
            .unwrap(),
        Committed::Duplicate,
        "a marker that exists makes the whole commit a duplicate"
    );
    assert_eq!(store.subscription("u", "sub_1").await.unwrap().unwrap().status, "active");

    // A refused write rolls back the marker of its transaction too.
    let later = EventRecord::new("evt_2", "customer.subscription.updated", "applied", 50, 100);
    assert_eq!(
        store
            .commit(Some(&later), None, &[write(subscription("u", "sub_1", "canceled", 50))])
            .await
            .unwrap(),
        Committed::Refused
    );
    assert_eq!(
        store.event_marker("evt_2").await.unwrap(),
        None,
        "nothing marked done that is not done"
    );
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
async fn a_refused_link_rolls_back_the_other_writes_and_unlink_removes_both_sides() {
    let store = fresh_store("tx").await;
    assert_eq!(
        store.link_customer("user_tx", "cus_tx", None, 1).await.unwrap(),
        LinkOutcome::Linked
    );
    let link_elsewhere = Write::Link(billing::domain::records::CustomerLink::new("user_tx", "cus_new", None, 2));
    assert_eq!(
        store
            .commit(None, None, &[write(subscription("user_tx", "sub_9", "active", 1)), link_elsewhere])
            .await
            .unwrap(),
        Committed::Refused
    );
    assert_eq!(
        store.customer_owner("cus_new").await.unwrap(),
        None,
        "the reverse item was rolled back"
    );
    assert_eq!(
        store.subscription("user_tx", "sub_9").await.unwrap(),
        None,
        "and the subscription too"
    );

    let unlink_wrong = Write::Unlink {
        user_id: "user_tx".into(),
        customer_id: "cus_other".into(),
    };
    assert_eq!(store.commit(None, None, &[unlink_wrong]).await.unwrap(), Committed::Refused);
    let unlink = Write::Unlink {
        user_id: "user_tx".into(),
        customer_id: "cus_tx".into(),
    };
    assert_eq!(store.commit(None, None, &[unlink]).await.unwrap(), Committed::Yes);
    assert_eq!(store.customer_owner("cus_tx").await.unwrap(), None);
    assert_eq!(store.user_items("user_tx").await.unwrap().customer, None);
}

#[tokio::test]
async fn query_by_user_returns_only_that_users_items() {
    let store = fresh_store("query").await;
    assert_eq!(store.link_customer("user_q", "cus_q", None, 1).await.unwrap(), LinkOutcome::Linked);
    let entitlements = EntitlementsRecord::new("user_q", "cus_q", vec!["api_access".into()], Version::of_payload(1), 1);
    let writes = [
        write(subscription("user_q", "sub_1", "active", 1)),
        write(subscription("user_q", "sub_2", "canceled", 1)),
        write(subscription("user_other", "sub_3", "active", 1)),
        Write::Entitlements(entitlements.clone()),
    ];
    assert_eq!(store.commit(None, None, &writes).await.unwrap(), Committed::Yes);

    let items = store.user_items("user_q").await.unwrap();
    assert_eq!(items.customer.as_ref().map(|c| c.customer_id.as_str()), Some("cus_q"));
    let mut ids: Vec<&str> = items.subscriptions.iter().map(|s| s.subscription_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, vec!["sub_1", "sub_2"]);
    assert_eq!(items.entitlements, Some(entitlements.clone()));
    assert_eq!(store.user_items("nobody").await.unwrap(), Default::default());
    assert_eq!(store.user_items_consistent("user_q").await.unwrap(), items);
    assert_eq!(store.entitlements("user_q").await.unwrap(), Some(entitlements));
    let (owner, record) = store.owner_and_subscription("cus_q", "user_q", "sub_2").await.unwrap();
    assert_eq!(
        (owner.as_deref(), record.map(|r| r.status.to_string())),
        (Some("user_q"), Some("canceled".to_owned()))
    );
    let (owner, record) = store.owner_and_subscription("cus_none", "user_q", "sub_none").await.unwrap();
    assert_eq!((owner, record), (None, None));
}

#[tokio::test]
async fn unreachable_endpoint_is_a_backend_error() {
    let port = crate::helpers::free_port();
    let store = billing::adapters::store::Store::new(billing::testkit::dynamodb_client(&format!("http://127.0.0.1:{port}")), "t");
    let err = store.user_items("u").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { operation: "query", .. }), "{err}");
}

#[tokio::test]
async fn a_request_key_is_claimed_once_and_expires_after_a_day() {
    use billing::adapters::store::RequestKey;
    let store = fresh_store("store-claims").await;
    let now = 1_800_000_000;
    assert_eq!(store.claim_request("k1", "change:a", now).await.unwrap(), RequestKey::New);
    assert_eq!(store.claim_request("k1", "change:a", now + 5).await.unwrap(), RequestKey::Retry);
    assert_eq!(store.claim_request("k1", "cancel:b", now + 5).await.unwrap(), RequestKey::Mismatch);
    assert_eq!(
        store.claim_request("k2", "cancel:b", now).await.unwrap(),
        RequestKey::New,
        "keys are apart"
    );
    let later = now + billing::domain::records::REQUEST_TTL_SECS + 1;
    assert_eq!(
        store.claim_request("k1", "cancel:b", later).await.unwrap(),
        RequestKey::New,
        "an expired claim is none"
    );
    assert_eq!(store.claim_request("k1", "change:a", later).await.unwrap(), RequestKey::Mismatch);
}
