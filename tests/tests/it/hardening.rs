//! Billing hardening (issue 10): who may link or see what, strangers' and connected accounts'
//! events, refunds and disputes, idempotency windows, catalog and operations. Each test fails on
//! the behaviour before its fix.

use serde_json::{Value, json};

use crate::helpers::Stack;
use crate::webhook::{deliver, stripe_event};

/// `payload` with its event id replaced (a fresh event) and `edit` applied to the event JSON.
fn edited(payload: &str, event_id: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(payload).unwrap();
    value["id"] = event_id.into();
    edit(&mut value);
    value.to_string()
}

#[tokio::test]
async fn client_reference_id_alone_links_nobody() {
    let stack = Stack::new("hd-clientref", vec![]).await;
    // A session made elsewhere on the account (a pricing table, a Payment Link): the buyer chose
    // `client_reference_id`, and there is no `metadata.user_id`.
    let payload = edited(&stripe_event("checkout.session.completed"), "evt_clientref_1", |e| {
        let object = &mut e["data"]["object"];
        object["metadata"] = json!({});
        object["client_reference_id"] = "victim".into();
        object["customer"] = "cus_attacker".into();
    });
    let (status, body) = deliver(&stack, &payload).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")), "{body}");
    assert_eq!(stack.state.store.user_items("victim").await.unwrap().customer, None);
    assert_eq!(stack.state.store.customer_owner("cus_attacker").await.unwrap(), None);
    assert_eq!(stack.item_count().await, 0, "nothing written");
}

#[tokio::test]
async fn a_session_without_our_metadata_is_applied_for_the_customers_linked_user() {
    let stack = Stack::new("hd-linked", vec![]).await;
    let payload = edited(&stripe_event("checkout.session.completed"), "evt_linked_1", |e| {
        let object = &mut e["data"]["object"];
        object["metadata"] = json!({});
        object["client_reference_id"] = "someone_else".into();
    });
    let customer = serde_json::from_str::<Value>(&payload).unwrap()["data"]["object"]["customer"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.state.store.link_customer("user_123", &customer, None, 1).await.unwrap();
    let (status, body) = deliver(&stack, &payload).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    assert_eq!(stack.state.store.user_items("someone_else").await.unwrap().customer, None);
    assert_eq!(
        stack.state.store.customer_owner(&customer).await.unwrap().as_deref(),
        Some("user_123")
    );
}

#[tokio::test]
async fn a_strangers_subscription_is_acknowledged_and_ignored() {
    let stack = Stack::new("hd-stranger", vec![]).await;
    // A subscription made in the Dashboard: a customer this service never linked, no metadata.
    let payload = edited(&stripe_event("customer.subscription.created"), "evt_stranger_1", |e| {
        let object = &mut e["data"]["object"];
        object["metadata"] = json!({});
        object["customer"] = "cus_dashboard".into();
        object["id"] = "sub_dashboard".into();
    });
    let (status, body) = deliver(&stack, &payload).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")), "{body}");
    assert_eq!(stack.item_count().await, 0, "no marker, no state");
}

#[tokio::test]
async fn connected_account_events_are_ignored_unless_the_deployment_accepts_them() {
    let mut stack = Stack::new("hd-connect", vec![]).await;
    let payload = edited(&stripe_event("customer.subscription.created"), "evt_connect_1", |e| {
        e["account"] = "acct_connected_1".into();
    });
    let (status, body) = deliver(&stack, &payload).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")), "{body}");
    assert_eq!(stack.item_count().await, 0);

    stack.state.config.sync.accept_connect = true;
    let (status, body) = deliver(&stack, &payload).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    assert_eq!(stack.state.store.user_items("user_123").await.unwrap().subscriptions.len(), 1);
}
