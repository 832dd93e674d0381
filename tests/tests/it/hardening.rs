//! Billing hardening: who may link or see what, strangers' and connected accounts'
//! events, refunds and disputes, idempotency windows, catalog and operations. Each test fails on
//! the behaviour before its fix.

use billing::testkit;
use serde_json::{Value, json};

use crate::checkout::{create, get_checkout, pay, post_checkout};
use crate::emulator::control;
use crate::helpers::{Stack, body};
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
async fn connected_account_events_apply_only_for_allowed_accounts_and_linked_customers() {
    let mut stack = Stack::new("hd-connect", vec![]).await;
    let payload = edited(&stripe_event("customer.subscription.created"), "evt_connect_1", |e| {
        e["account"] = "acct_connected_1".into();
    });
    let (status, body) = deliver(&stack, &payload).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")), "{body}");
    assert_eq!(stack.item_count().await, 0);

    // Allowed, but a connected account writes its own metadata: without a link it names nobody.
    stack.state.config.sync.connect_accounts = vec!["acct_connected_1".into()];
    let (status, body) = deliver(&stack, &payload).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")), "{body}");
    assert_eq!(
        stack.item_count().await,
        0,
        "metadata.user_id of a connected account is not trusted"
    );

    let event: Value = serde_json::from_str(&payload).unwrap();
    let customer = event["data"]["object"]["customer"].as_str().unwrap();
    stack
        .state
        .store
        .link_customer("user_123", customer, None, 1_700_000_000)
        .await
        .unwrap();
    let payload = edited(&payload, "evt_connect_2", |_| {});
    let (status, body) = deliver(&stack, &payload).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    assert_eq!(stack.state.store.user_items("user_123").await.unwrap().subscriptions.len(), 1);
}

#[tokio::test]
async fn two_first_checkouts_paid_side_by_side_share_one_customer() {
    let stack = Stack::new("hd-two", vec![]).await;
    let (status, starter) = create(&stack, post_checkout(json!({"plan": "starter", "interval": "month"}))).await;
    assert_eq!(status, 201, "{starter}");
    let (status, pro) = create(&stack, post_checkout(json!({"plan": "pro", "interval": "year"}))).await;
    assert_eq!(status, 201, "{pro}");
    let (starter, pro) = (starter["id"].as_str().unwrap(), pro["id"].as_str().unwrap());
    let customers = {
        let world = stack.emulator.shared.world.lock().await;
        (world.sessions[starter].customer.clone(), world.sessions[pro].customer.clone())
    };
    assert!(customers.0.is_some());
    assert_eq!(customers.0, customers.1, "every session of the user carries the same customer");

    pay(&stack, starter, "4242424242424242").await;
    pay(&stack, pro, "4242424242424242").await;
    for session in [starter, pro] {
        let response = checkout::handler::handle(&stack.state, get_checkout(session)).await.unwrap();
        assert_eq!(response.status(), 200, "{}", body(&response));
    }
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert_eq!(items.customer.map(|c| Some(c.customer_id)), Some(customers.0));
    assert_eq!(items.subscriptions.len(), 2);
    let world = stack.emulator.shared.world.lock().await;
    let of_user = world
        .customers
        .values()
        .filter(|c| c.metadata.get("user_id").map(String::as_str) == Some("user_123"));
    assert_eq!(of_user.count(), 1);
}

#[tokio::test]
async fn the_duplicate_guard_asks_stripe_before_the_webhook_arrives() {
    let stack = Stack::new("hd-guard", vec![]).await;
    let (_, created) = create(&stack, testkit::event("checkout-create.json")).await;
    pay(&stack, created["id"].as_str().unwrap(), "4242424242424242").await;
    // No webhook, no eager sync: the table knows nothing of the subscription yet.
    assert!(stack.state.store.user_items("user_123").await.unwrap().subscriptions.is_empty());
    let (status, problem) = create(&stack, post_checkout(json!({"plan": "pro", "interval": "year"}))).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (409, Some("/errors/already-subscribed")),
        "{problem}"
    );
}

#[tokio::test]
async fn one_stripe_500_does_not_lock_the_user_out_of_checkout() {
    let mut stack = Stack::new("hd-500", vec![]).await;
    stack.hold_clock();
    control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/checkout/sessions", "status": 500, "count": 1, "method": "POST"}),
    )
    .await;
    let (status, first) = create(&stack, testkit::event("checkout-create.json")).await;
    assert_eq!(status, 201, "{first}");
    // The same request again: Stripe replays the 500 it keeps under the first key; the retry
    // finds the session the first request made.
    let (status, again) = create(&stack, testkit::event("checkout-create.json")).await;
    assert_eq!((status, &again["id"]), (201, &first["id"]), "{again}");
}

#[tokio::test]
async fn a_replayed_session_that_is_no_longer_open_is_never_handed_out() {
    let mut stack = Stack::new("hd-replay", vec![]).await;
    stack.hold_clock();
    let (status, first) = create(&stack, post_checkout(json!({"plan": "lifetime"}))).await;
    assert_eq!(status, 201, "{first}");
    pay(&stack, first["id"].as_str().unwrap(), "4242424242424242").await;
    // The same purchase again inside the key's window: Stripe would replay the completed session.
    let (status, again) = create(&stack, post_checkout(json!({"plan": "lifetime"}))).await;
    assert_eq!(status, 201, "{again}");
    assert_ne!(again["id"], first["id"]);
    let world = stack.emulator.shared.world.lock().await;
    assert_eq!(world.sessions[again["id"].as_str().unwrap()].status, "open");
}

#[tokio::test]
async fn a_free_one_time_purchase_is_granted() {
    let mut stack = Stack::new("hd-free", vec![]).await;
    stack.state.config.checkout.allow_promotion_codes = true;
    let (status, created) = create(&stack, post_checkout(json!({"plan": "lifetime"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, paid) = control(
        &stack.emulator,
        &format!("/_emulator/checkout/sessions/{id}/pay"),
        json!({"card": "4242424242424242", "promotion_code": "FREE100"}),
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["session"]["payment_status"], "no_payment_required");
    let completed = {
        let world = stack.emulator.shared.world.lock().await;
        world
            .events
            .iter()
            .rev()
            .find(|e| e.event_type == "checkout.session.completed")
            .unwrap()
            .render()
    };

    // The webhook grants it...
    let (status, outcome) = deliver(&stack, &completed.to_string()).await;
    assert_eq!((status, outcome["outcome"].as_str()), (200, Some("applied")), "{outcome}");
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert_eq!(items.subscriptions.len(), 1, "the purchase record");
    assert_eq!(items.subscriptions[0].plan.as_deref(), Some("lifetime"));
    // ...and so does the eager sync.
    let response = checkout::handler::handle(&stack.state, get_checkout(id)).await.unwrap();
    assert_eq!(body(&response)["subscription"]["plan"], "lifetime", "{}", body(&response));
}

/// Pays a one-time `lifetime` purchase of `user_123`, syncs it eagerly, and returns (session
/// id, charge id).
pub(crate) async fn paid_purchase(stack: &Stack) -> (String, String) {
    let (status, created) = create(stack, post_checkout(json!({"plan": "lifetime"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    pay(stack, &id, "4242424242424242").await;
    let response = checkout::handler::handle(&stack.state, get_checkout(&id)).await.unwrap();
    assert_eq!(body(&response)["subscription"]["plan"], "lifetime");
    let world = stack.emulator.shared.world.lock().await;
    let intent = world.sessions[&id].payment_intent.clone().unwrap();
    let charge = world.charges.values().find(|c| c.payment_intent == intent).unwrap().id.clone();
    (id, charge)
}

/// Runs `change` on the emulator's world and delivers the event of `event_type` it emitted.
pub(crate) async fn change_and_deliver(stack: &Stack, event_type: &str, change: impl FnOnce(&mut stripe_emulator::World)) -> Value {
    let event = {
        let mut world = stack.emulator.shared.world.lock().await;
        change(&mut world);
        world.pending.clear();
        world.events.iter().rev().find(|e| e.event_type == event_type).unwrap().render()
    };
    let (status, outcome) = deliver(stack, &event.to_string()).await;
    assert_eq!(status, 200, "{outcome}");
    outcome
}

async fn exports(stack: &Stack) -> (bool, &'static str) {
    let decision = stack.state.gate().check("user_123", "exports").await.unwrap();
    (decision.allowed, decision.reason.as_str())
}

pub(crate) fn params(text: &str) -> stripe_emulator::params::Params {
    stripe_emulator::params::Params::parse(text.as_bytes()).unwrap()
}

#[tokio::test]
async fn a_full_refund_ends_a_purchase_and_a_partial_one_does_not() {
    let stack = Stack::new("hd-refund", vec![]).await;
    let (_, charge) = paid_purchase(&stack).await;
    assert_eq!(exports(&stack).await, (true, "active"));

    let outcome = change_and_deliver(&stack, "charge.refunded", |w| {
        w.create_refund(&params(&format!("charge={charge}&amount=5000"))).unwrap();
    })
    .await;
    assert_eq!(outcome["outcome"], "ignored", "a partial refund keeps the purchase");
    assert_eq!(exports(&stack).await, (true, "active"));

    let outcome = change_and_deliver(&stack, "charge.refunded", |w| {
        w.create_refund(&params(&format!("charge={charge}"))).unwrap();
    })
    .await;
    assert_eq!(outcome["outcome"], "applied");
    assert_eq!(exports(&stack).await, (false, "refunded"));
}

#[tokio::test]
async fn a_dispute_suspends_a_purchase_until_it_is_decided() {
    let stack = Stack::new("hd-dispute", vec![]).await;
    let (_, charge) = paid_purchase(&stack).await;
    let opened = change_and_deliver(&stack, "charge.dispute.created", |w| {
        w.open_dispute(&charge).unwrap();
    })
    .await;
    assert_eq!(opened["outcome"], "applied");
    assert_eq!(exports(&stack).await, (false, "disputed"));
    let dispute = stack.emulator.shared.world.lock().await.charges[&charge].dispute.clone().unwrap();
    // A won dispute gives the purchase back.
    let closed = change_and_deliver(&stack, "charge.dispute.closed", |w| {
        w.close_dispute(&dispute, "won").unwrap();
    })
    .await;
    assert_eq!(closed["outcome"], "applied");
    assert_eq!(exports(&stack).await, (true, "active"));
}

#[tokio::test]
async fn a_lost_dispute_ends_a_purchase_even_when_its_events_come_first() {
    let stack = Stack::new("hd-lost", vec![]).await;
    let (status, created) = create(&stack, post_checkout(json!({"plan": "lifetime"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    pay(&stack, &id, "4242424242424242").await;
    let (completed, charge) = {
        let world = stack.emulator.shared.world.lock().await;
        let completed = world
            .events
            .iter()
            .rev()
            .find(|e| e.event_type == "checkout.session.completed")
            .unwrap()
            .render();
        let intent = world.sessions[&id].payment_intent.clone().unwrap();
        (
            completed,
            world.charges.values().find(|c| c.payment_intent == intent).unwrap().id.clone(),
        )
    };
    // The dispute's events arrive before the purchase's own (deliveries are not ordered).
    let opened = change_and_deliver(&stack, "charge.dispute.created", |w| {
        w.open_dispute(&charge).unwrap();
    })
    .await;
    assert_eq!(opened["outcome"], "applied");
    assert_eq!(exports(&stack).await, (false, "disputed"));
    let dispute = stack.emulator.shared.world.lock().await.charges[&charge].dispute.clone().unwrap();
    let closed = change_and_deliver(&stack, "charge.dispute.closed", |w| {
        w.close_dispute(&dispute, "lost").unwrap();
    })
    .await;
    assert_eq!(closed["outcome"], "applied");
    assert_eq!(exports(&stack).await, (false, "refunded"));
    let (status, outcome) = deliver(&stack, &completed.to_string()).await;
    assert_eq!((status, outcome["outcome"].as_str()), (200, Some("applied")), "{outcome}");
    assert_eq!(
        exports(&stack).await,
        (false, "refunded"),
        "the purchase event does not grant it again"
    );
    // Nor does the eager sync.
    checkout::handler::handle(&stack.state, get_checkout(&id)).await.unwrap();
    assert_eq!(exports(&stack).await, (false, "refunded"));
}

fn ssm() -> aws_sdk_ssm::Client {
    let conf = aws_sdk_ssm::config::Builder::new()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(crate::helpers::moto_endpoint())
        .build();
    aws_sdk_ssm::Client::from_conf(conf)
}

async fn put_parameter(client: &aws_sdk_ssm::Client, name: &str, value: &str) {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_catalog_loads_from_an_ssm_parameter_and_is_validated() {
    let client = ssm();
    // SSM names with a path start with a slash (the template's pattern insists).
    let name = format!("/stripe-lambda-{}/plans", std::process::id());
    let catalog = r#"{"plans": [{"id": "free", "name": "Free", "free": true, "features": ["projects"]},
        {"id": "team", "name": "Team", "prices": {"month": {"lookup_key": "team_month", "amount": 5000, "currency": "eur"}}, "features": ["projects", "reports"]}]}"#;
    put_parameter(&client, &name, catalog).await;
    let loaded = billing::adapters::catalog::from_parameter(&client, &name).await.unwrap();
    assert_eq!(loaded.plans().iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["free", "team"]);

    put_parameter(
        &client,
        &name,
        r#"{"plans": [{"id": "team", "name": "Team", "prices": {"week": {"lookup_key": "k", "amount": 1, "currency": "eur"}}}]}"#,
    )
    .await;
    let err = billing::adapters::catalog::from_parameter(&client, &name).await.unwrap_err();
    assert!(
        err.to_string().contains("plan `team`") && err.to_string().contains("unknown interval `week`"),
        "{err}"
    );
    let missing = billing::adapters::catalog::from_parameter(&client, "/stripe-lambda/none")
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("SSM parameter /stripe-lambda/none"), "{missing}");
}

async fn plans(stack: &Stack) -> Value {
    let response = checkout::handler::handle(&stack.state, testkit::event("plans-get.json"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    body(&response)
}

async fn set_amount(stack: &Stack, lookup_key: &str, amount: i64) {
    let mut world = stack.emulator.shared.world.lock().await;
    let price = world
        .prices
        .values_mut()
        .find(|p| p.lookup_key.as_deref() == Some(lookup_key))
        .unwrap();
    price.unit_amount = amount;
}

#[tokio::test]
async fn get_plans_shows_what_stripe_charges_within_the_cache_time() {
    let stack = Stack::new("hd-plans", vec![]).await;
    set_amount(&stack, "pro_month", 3100).await;
    assert_eq!(
        plans(&stack).await["plans"][2]["prices"]["month"]["amount"],
        3100,
        "Stripe's amount, not the catalog's 2900"
    );
    set_amount(&stack, "pro_month", 3300).await;
    assert_eq!(
        plans(&stack).await["plans"][2]["prices"]["month"]["amount"],
        3100,
        "read through the price book"
    );

    let fresh = Stack::with_config("hd-plans-ttl", vec![], |c| c.price_cache = std::time::Duration::ZERO).await;
    set_amount(&fresh, "pro_month", 3300).await;
    assert_eq!(plans(&fresh).await["plans"][2]["prices"]["month"]["amount"], 3300);
    set_amount(&fresh, "pro_month", 3500).await;
    assert_eq!(
        plans(&fresh).await["plans"][2]["prices"]["month"]["amount"],
        3500,
        "an expired entry is read again"
    );
}

#[tokio::test]
async fn get_plans_asks_an_unavailable_stripe_once_then_waits() {
    let stack = Stack::with_config("hd-plans-down", vec![], |c| c.price_cache = std::time::Duration::ZERO).await;
    set_amount(&stack, "pro_month", 3100).await;
    assert_eq!(plans(&stack).await["plans"][2]["prices"]["month"]["amount"], 3100);
    control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/prices", "status": 503, "count": 100}),
    )
    .await;
    let before = stack.stripe_requests().await;
    let body = plans(&stack).await;
    assert_eq!(
        body["plans"][2]["prices"]["month"]["amount"], 3100,
        "the last known price, however old"
    );
    let asked = stack.stripe_requests().await - before;
    assert!((1..=2).contains(&asked), "one attempt per list or retrieve, no retries: {asked}");
    for _ in 0..5 {
        assert_eq!(plans(&stack).await["plans"][2]["prices"]["month"]["amount"], 3100);
    }
    assert_eq!(
        stack.stripe_requests().await - before,
        asked,
        "anonymous traffic does not reach Stripe while it is failing"
    );
}

#[tokio::test]
async fn a_customer_deleted_in_stripe_is_replaced_at_the_next_checkout() {
    let mut stack = Stack::new("hd-deleted", vec![]).await;
    stack.hold_clock();
    let (status, first) = create(&stack, testkit::event("checkout-create.json")).await;
    assert_eq!(status, 201, "{first}");
    let old = stack
        .state
        .store
        .user_items("user_123")
        .await
        .unwrap()
        .customer
        .unwrap()
        .customer_id;
    // Deleted in the Dashboard; the `customer.deleted` webhook has not arrived.
    stack.emulator.shared.world.lock().await.delete_customer(&old).unwrap();

    let (status, portal) = {
        let response = portal::handler::handle(&stack.state, testkit::event("portal-create.json"))
            .await
            .unwrap();
        (response.status(), body(&response))
    };
    assert_eq!(
        (status.as_u16(), portal["type"].as_str()),
        (409, Some("/errors/no-customer")),
        "{portal}"
    );

    let (status, second) = create(
        &stack,
        testkit::event_with("checkout-create.json", |e| e["headers"]["idempotency-key"] = "after-delete".into()),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let new = stack
        .state
        .store
        .user_items_consistent("user_123")
        .await
        .unwrap()
        .customer
        .unwrap()
        .customer_id;
    assert_ne!(new, old, "a new customer is linked");
    assert_eq!(
        stack.state.store.customer_owner(&old).await.unwrap(),
        None,
        "the old link is gone both ways"
    );
    let world = stack.emulator.shared.world.lock().await;
    assert_eq!(
        world.sessions[second["id"].as_str().unwrap()].customer.as_deref(),
        Some(new.as_str())
    );
    assert!(!world.customers[&new].deleted);
}

#[tokio::test]
async fn a_moved_lookup_key_takes_effect_once_the_cache_expires() {
    let stack = Stack::with_config("hd-move", vec![], |c| c.price_cache = std::time::Duration::ZERO).await;
    let price_of = async |stack: &Stack, session: &str| {
        stack.emulator.shared.world.lock().await.sessions[session].line_items[0]
            .price
            .clone()
    };
    let (_, first) = create(&stack, testkit::event("checkout-create.json")).await;
    let old = price_of(&stack, first["id"].as_str().unwrap()).await;
    let product = stack.emulator.shared.world.lock().await.prices[&old].product.clone();
    let moved = stack
        .emulator
        .shared
        .world
        .lock()
        .await
        .create_price(&params(&format!(
            "product={product}&unit_amount=3900&currency=usd&recurring[interval]=month&lookup_key=pro_month&transfer_lookup_key=true"
        )))
        .unwrap();
    let (status, second) = create(
        &stack,
        testkit::event_with("checkout-create.json", |e| {
            e["headers"]["idempotency-key"] = "after-the-move".into()
        }),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(
        price_of(&stack, second["id"].as_str().unwrap()).await,
        moved["id"].as_str().unwrap()
    );
    assert_ne!(old, moved["id"].as_str().unwrap());
}

#[tokio::test]
async fn a_rolled_webhook_secret_is_picked_up_without_a_cold_start() {
    use billing::adapters::secrets::{SecretSource, WebhookSecrets};
    let mut stack = Stack::new("hd-roll", vec![]).await;
    let conf = aws_sdk_secretsmanager::config::Builder::new()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .endpoint_url(crate::helpers::moto_endpoint())
        .build();
    let client = aws_sdk_secretsmanager::Client::from_conf(conf);
    let name = format!("stripe-lambda-{}-roll", std::process::id());
    let document = |secret: &str| format!(r#"{{"secret_key": "sk_test_x", "webhook_secrets": ["{secret}"]}}"#);
    client
        .create_secret()
        .name(&name)
        .secret_string(document("whsec_first"))
        .send()
        .await
        .unwrap();
    let t0 = billing::now_epoch();
    let clock = crate::helpers::TestClock::at(t0);
    stack.state.webhook_secrets = WebhookSecrets::new(
        vec![billing::config::Secret::new("whsec_first")],
        Some(SecretSource::new(client.clone(), name.clone())),
        t0,
    );
    stack.state = stack.state.with_clock(clock.clone());
    let event = |n: u32| edited(&stripe_event("customer.created"), &format!("evt_roll_{n}"), |_| {});
    let signed = |payload: &str, secret: &str| billing::edge::signature::sign_header(&[secret], billing::now_epoch(), payload.as_bytes());
    let send = async |n: u32, secret: &str| {
        let payload = event(n);
        crate::webhook::deliver_signed(&stack, &payload, &signed(&payload, secret)).await.0
    };
    assert_eq!(send(1, "whsec_first").await, 200);

    // The secret is rolled; the process has read it less than a minute ago: refused.
    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(document("whsec_second"))
        .send()
        .await
        .unwrap();
    assert_eq!(send(2, "whsec_second").await, 400);
    // A minute later a mismatch reads the secret again, and the event is accepted.
    clock.set(t0 + 61);
    assert_eq!(send(3, "whsec_second").await, 200);
    // Rolled again within the minute: not read again yet; then read again.
    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(document("whsec_third"))
        .send()
        .await
        .unwrap();
    assert_eq!(send(4, "whsec_third").await, 400);
    clock.set(t0 + 122);
    assert_eq!(send(5, "whsec_third").await, 200);
    assert_eq!(send(6, "whsec_first").await, 400, "the old secret is gone");
}
