//! The webhook handler against moto and the Stripe emulator, driven by the Stripe event
//! payloads in `events/stripe/` (the files `./dev/sign-webhook.sh` signs for `cargo lambda invoke`).

use billing::domain::records::{SubscriptionRecord, keys};
use billing::testkit;
use serde_json::{Value, json};

use crate::emulator::control;
use crate::helpers::{Stack, body};

pub fn stripe_event(name: &str) -> String {
    testkit::event_text(&format!("stripe/{name}.json"))
}

/// Signs `payload` now with the local secret and calls the handler as API Gateway would.
pub async fn deliver(stack: &Stack, payload: &str) -> (u16, Value) {
    deliver_to(&stack.state, payload).await
}

/// [`deliver`] to a process's state (a second table on the same emulator, say).
pub async fn deliver_to(state: &billing::AppState, payload: &str) -> (u16, Value) {
    let signature = billing::edge::signature::sign_header(&[testkit::LOCAL_WEBHOOK_SECRET], billing::now_epoch(), payload.as_bytes());
    let event = billing::edge::local_events::api_gateway_event(payload, &signature);
    deliver_event(state, event).await
}

pub(crate) async fn deliver_signed(stack: &Stack, payload: &str, signature: &str) -> (u16, Value) {
    let event = billing::edge::local_events::api_gateway_event(payload, signature);
    deliver_event(&stack.state, event).await
}

async fn deliver_event(state: &billing::AppState, event: Value) -> (u16, Value) {
    let req = billing::edge::runtime::request_from_json(&event.to_string()).expect("api gateway event");
    // Through the runtime's guard, as in Lambda.
    let response = billing::edge::runtime::guarded(|req| webhook::handler::handle(state, req))(req)
        .await
        .unwrap();
    (response.status().as_u16(), body(&response))
}

/// The same payload with every id made unique by `suffix` (fresh objects for one scenario).
fn renamed(payload: &str, suffix: &str) -> String {
    let value: Value = serde_json::from_str(payload).unwrap();
    let sub = value
        .pointer("/data/object/id")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_owned();
    let customer = value
        .pointer("/data/object/customer")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_owned();
    let event = value["id"].as_str().unwrap().to_owned();
    payload
        .replace(&event, &format!("{event}{suffix}"))
        .replace(&sub, &format!("{sub}{suffix}"))
        .replace(&customer, &format!("{customer}{suffix}"))
}

async fn subscription(stack: &Stack, user: &str, sub: &str) -> Option<SubscriptionRecord> {
    stack.state.store.subscription(user, sub).await.unwrap()
}

async fn audit_rows(stack: &Stack, user: &str) -> usize {
    let out = stack
        .state
        .store
        .client()
        .query()
        .table_name(stack.state.store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(keys::audit(user)))
        .send()
        .await
        .unwrap();
    out.items.unwrap_or_default().len()
}

pub fn with_created(payload: &str, created: i64) -> String {
    let mut value: Value = serde_json::from_str(payload).unwrap();
    value["created"] = created.into();
    value.to_string()
}

fn sub_id(payload: &str) -> String {
    let value: Value = serde_json::from_str(payload).unwrap();
    value.pointer("/data/object/id").and_then(Value::as_str).unwrap().to_owned()
}

#[tokio::test]
async fn checkout_completed_links_customer_and_subscription_events_store_state() {
    let stack = Stack::new("wh-happy", vec![]).await;
    let (status, body) = deliver(&stack, &stripe_event("checkout.session.completed")).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    let items = stack.state.store.user_items("user_123").await.unwrap();
    let customer = items.customer.unwrap().customer_id;
    assert_eq!(
        stack.state.store.customer_owner(&customer).await.unwrap().as_deref(),
        Some("user_123")
    );

    let created = stripe_event("customer.subscription.created");
    let (status, body) = deliver(&stack, &created).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    let record = subscription(&stack, "user_123", &sub_id(&created)).await.unwrap();
    assert_eq!(
        (record.status.as_str(), record.plan.as_deref(), record.quantity),
        ("active", Some("pro"), 1)
    );
    assert_eq!(audit_rows(&stack, "user_123").await, 2);
    let marker = stack
        .state
        .store
        .event_marker(serde_json::from_str::<Value>(&created).unwrap()["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(marker.unwrap().outcome, "applied");
}

#[tokio::test]
async fn duplicates_are_acknowledged_once_applied() {
    let stack = Stack::new("wh-dup", vec![]).await;
    let created = stripe_event("customer.subscription.created");
    assert_eq!(deliver(&stack, &created).await.1["outcome"], "applied");
    let (status, body) = deliver(&stack, &created).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("duplicate")));
    assert_eq!(audit_rows(&stack, "user_123").await, 1);
}

#[tokio::test]
async fn ten_concurrent_deliveries_have_one_effect() {
    let stack = Stack::new("wh-conc", vec![]).await;
    let created = stripe_event("customer.subscription.created");
    let results = futures_join_all((0..10).map(|_| deliver(&stack, &created))).await;
    assert!(results.iter().all(|(status, _)| *status == 200), "{results:?}");
    let applied = results.iter().filter(|(_, b)| b["outcome"] == "applied").count();
    assert_eq!(applied, 1, "{results:?}");
    assert_eq!(audit_rows(&stack, "user_123").await, 1);
    assert!(subscription(&stack, "user_123", &sub_id(&created)).await.is_some());
}

async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::new();
    // Poll all at once on this task.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, fut) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(done.into_iter().map(|d| d.expect("completed")));
    out
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

#[tokio::test]
async fn a_lifecycle_in_every_order_with_duplicates_ends_in_its_last_state() {
    let stack = Stack::new("wh-order", vec![]).await;
    let lifecycle = [
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.updated-past_due",
        "customer.subscription.deleted",
    ]
    .map(stripe_event);
    let orders = permutations(lifecycle.len());
    assert_eq!(orders.len(), 24);
    for (n, order) in orders.iter().enumerate() {
        let suffix = format!("x{n}");
        let events: Vec<String> = lifecycle.iter().map(|p| renamed(p, &suffix)).collect();
        // Each event delivered in this order, and the first one again at the end.
        for &i in order.iter().chain(order.first()) {
            let (status, body) = deliver(&stack, &events[i]).await;
            assert_eq!(status, 200, "order {order:?}: {body}");
        }
        let record = subscription(&stack, "user_123", &sub_id(&events[0])).await.unwrap();
        assert_eq!(record.status, "canceled", "order {order:?}");
        assert_eq!(record.quantity, 2, "order {order:?}");
    }
}

#[tokio::test]
async fn a_stale_event_does_not_overwrite_newer_state() {
    let stack = Stack::new("wh-stale", vec![]).await;
    let (past_due, created) = (
        stripe_event("customer.subscription.updated-past_due"),
        stripe_event("customer.subscription.created"),
    );
    assert_eq!(deliver(&stack, &past_due).await.1["outcome"], "applied");
    let (status, body) = deliver(&stack, &created).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("stale")));
    let record = subscription(&stack, "user_123", &sub_id(&created)).await.unwrap();
    assert_eq!(record.status, "past_due");
    assert!(record.past_due_since.is_some());
    assert_eq!(audit_rows(&stack, "user_123").await, 2, "stale events are audited too");
}

/// Runs a checkout in the emulator and returns its Stripe events (oldest first).
async fn emulator_events(stack: &Stack, after_pay: impl AsyncFnOnce(&Stack, &str)) -> Vec<Value> {
    let prices = stripe_product::price::ListPrice::new()
        .lookup_keys(vec!["pro_month".to_owned()])
        .send(stack.stripe())
        .await
        .unwrap();
    let mut world = stack.emulator.shared.world.lock().await;
    let params = stripe_emulator::params::Params::parse(
        format!(
            "mode=subscription&line_items[0][price]={}&customer_email=ada%40example.com&metadata[user_id]=user_123&subscription_data[metadata][user_id]=user_123&success_url=http%3A%2F%2Flocalhost%3A3000%2F",
            prices.data[0].id
        )
        .as_bytes(),
    )
    .unwrap();
    let session = world.create_checkout_session(&params).unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    world.pay_session(&id, "4242424242424242").unwrap();
    let sub = world.sessions[&id].subscription.clone().unwrap();
    drop(world);
    after_pay(stack, &sub).await;
    let world = stack.emulator.shared.world.lock().await;
    world.events.iter().map(|e| e.render()).collect()
}

fn of_type<'a>(events: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == event_type).collect()
}

/// Two events of one subscription in the same second, delivered in `newer_first` order: the
/// stored state must be Stripe's current one (cancel_at_period_end set by the later change).
async fn same_second(newer_first: bool) {
    let stack = Stack::new("wh-tie", vec![]).await;
    let events = emulator_events(&stack, async |stack: &Stack, sub: &str| {
        let params = stripe_emulator::params::Params::parse(b"cancel_at_period_end=true").unwrap();
        stack.emulator.shared.world.lock().await.update_subscription(sub, &params).unwrap();
    })
    .await;
    let created = of_type(&events, "customer.subscription.created")[0].clone();
    let mut updated = of_type(&events, "customer.subscription.updated")[0].clone();
    updated["created"] = created["created"].clone();
    let order = if newer_first { [&updated, &created] } else { [&created, &updated] };
    for event in order {
        let (status, body) = deliver(&stack, &event.to_string()).await;
        assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    }
    let record = subscription(&stack, "user_123", created.pointer("/data/object/id").unwrap().as_str().unwrap())
        .await
        .unwrap();
    assert!(
        record.cancel_at_period_end,
        "the current state wins, whatever the order (newer first: {newer_first})"
    );
}

#[tokio::test]
async fn same_second_events_older_first_are_ordered_by_fetching_the_subscription() {
    same_second(false).await;
}

#[tokio::test]
async fn same_second_events_newer_first_are_ordered_by_fetching_the_subscription() {
    same_second(true).await;
}

#[tokio::test]
async fn invoice_events_fetch_the_subscription() {
    let stack = Stack::new("wh-invoice", vec![]).await;
    let events = emulator_events(&stack, async |_: &Stack, _: &str| {}).await;
    let paid = of_type(&events, "invoice.paid")[0].clone();
    let (status, body) = deliver(&stack, &paid.to_string()).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert_eq!(items.subscriptions.len(), 1);
    assert_eq!(items.subscriptions[0].status, "active");
}

#[tokio::test]
async fn entitlement_summaries_page_past_the_embedded_ten() {
    let stack = Stack::new("wh-ent", vec![]).await;
    let product = {
        let world = stack.emulator.shared.world.lock().await;
        world
            .prices
            .values()
            .find(|p| p.lookup_key.as_deref() == Some("pro_month"))
            .unwrap()
            .product
            .clone()
    };
    let extra: Vec<String> = (0..12).map(|i| format!("extra_{i:02}")).collect();
    control(
        &stack.emulator,
        &format!("/_emulator/products/{product}/features"),
        json!({"features": extra}),
    )
    .await;
    let events = emulator_events(&stack, async |_: &Stack, _: &str| {}).await;
    let completed = of_type(&events, "checkout.session.completed")[0].clone();
    let summary = of_type(&events, "entitlements.active_entitlement_summary.updated")[0].clone();
    assert_eq!(summary.pointer("/data/object/entitlements/has_more"), Some(&Value::Bool(true)));

    // The customer carries no metadata of this service: a stranger's summary, acknowledged.
    let (status, body) = deliver(&stack, &summary.to_string()).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")), "{body}");
    assert_eq!(stack.item_count().await, 0);

    // A customer of this service (its metadata names the user) whose link is not stored yet: a
    // young summary event is retried (500), nothing written.
    let customer = completed.pointer("/data/object/customer").unwrap().as_str().unwrap().to_owned();
    stack
        .emulator
        .shared
        .world
        .lock()
        .await
        .customers
        .get_mut(&customer)
        .unwrap()
        .metadata
        .insert("user_id".into(), "user_123".into());
    let (status, _) = deliver(&stack, &summary.to_string()).await;
    assert_eq!(status, 500);
    assert_eq!(stack.item_count().await, 0);

    assert_eq!(deliver(&stack, &completed.to_string()).await.1["outcome"], "applied");
    let (status, body) = deliver(&stack, &summary.to_string()).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    let stored = stack.state.store.entitlements("user_123").await.unwrap().unwrap();
    assert_eq!(stored.features.len(), 16, "{:?}", stored.features);
    assert!(stored.features.contains(&"api_access".to_owned()) && stored.features.contains(&"extra_11".to_owned()));
}

#[tokio::test]
async fn a_stripe_failure_is_a_500_and_the_retry_completes_the_work() {
    let stack = Stack::new("wh-retry", vec![]).await;
    let events = emulator_events(&stack, async |_: &Stack, _: &str| {}).await;
    let paid = of_type(&events, "invoice.paid")[0].to_string();
    control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/subscriptions", "status": 500, "count": 3}),
    )
    .await;
    let (status, body) = deliver(&stack, &paid).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["type"], "/errors/internal");
    assert_eq!(stack.item_count().await, 0, "nothing marked done, nothing half-written");
    let (status, body) = deliver(&stack, &paid).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
}

#[tokio::test]
async fn a_dynamodb_failure_is_a_500() {
    let mut stack = Stack::new("wh-ddb", vec![]).await;
    let port = crate::helpers::free_port();
    stack.state.store = billing::adapters::store::Store::new(testkit::dynamodb_client(&format!("http://127.0.0.1:{port}")), "nowhere");
    let (status, body) = deliver(&stack, &stripe_event("customer.subscription.created")).await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.to_string().contains("127.0.0.1"), "no internals in the body: {body}");
}

#[tokio::test]
async fn customer_deleted_removes_the_mapping() {
    let stack = Stack::new("wh-del", vec![]).await;
    deliver(&stack, &stripe_event("checkout.session.completed")).await;
    let completed: Value = serde_json::from_str(&stripe_event("checkout.session.completed")).unwrap();
    let customer = completed.pointer("/data/object/customer").unwrap().as_str().unwrap();
    let deleted = json!({
        "id": "evt_customer_deleted_1", "object": "event", "api_version": "2026-09-30.endive", "created": billing::now_epoch(),
        "livemode": false, "pending_webhooks": 1, "type": "customer.deleted",
        "data": {"object": {"id": customer, "object": "customer", "deleted": true}}
    });
    let (status, body) = deliver(&stack, &deleted.to_string()).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    assert_eq!(stack.state.store.customer_owner(customer).await.unwrap(), None);
    assert_eq!(stack.state.store.user_items("user_123").await.unwrap().customer, None);
}

#[tokio::test]
async fn unknown_types_are_acknowledged_and_ignored() {
    let stack = Stack::new("wh-unknown", vec![]).await;
    let (status, body) = deliver(&stack, &stripe_event("customer.created")).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")));
    assert_eq!(stack.item_count().await, 0);
}

#[tokio::test]
async fn bad_deliveries_are_400_and_write_nothing() {
    let stack = Stack::new("wh-bad", vec![]).await;
    let payload = stripe_event("customer.subscription.created");
    let now = billing::now_epoch();
    let secret = testkit::LOCAL_WEBHOOK_SECRET;
    let sign = |t: i64, body: &str, s: &str| billing::edge::signature::sign_header(&[s], t, body.as_bytes());
    let good = sign(now, &payload, secret);
    let mut changed = payload.clone().into_bytes();
    let at = changed.iter().position(|b| *b == b'a').unwrap();
    changed[at] = b'b';
    let changed = String::from_utf8(changed).unwrap();
    let v1 = good.split_once(",v1=").unwrap().1.to_owned();

    let signed_cases: Vec<(&str, String, String)> = vec![
        ("header without t", payload.clone(), format!("v1={v1}")),
        ("non-numeric t", payload.clone(), format!("t=abc,v1={v1}")),
        ("one byte changed", changed, good.clone()),
        ("wrong secret", payload.clone(), sign(now, &payload, "whsec_someone_else")),
        ("301 s old", payload.clone(), sign(now - 301, &payload, secret)),
        ("far in the future", payload.clone(), sign(now + 400, &payload, secret)),
        ("non-JSON", "not json".into(), sign(now, "not json", secret)),
        (
            "JSON without id/type",
            "{\"object\":\"event\"}".into(),
            sign(now, "{\"object\":\"event\"}", secret),
        ),
        (
            "livemode mismatch",
            payload.replace("\"livemode\": false", "\"livemode\": true"),
            sign(now, &payload.replace("\"livemode\": false", "\"livemode\": true"), secret),
        ),
    ];
    for (case, body, signature) in signed_cases {
        let (status, problem) = deliver_signed(&stack, &body, &signature).await;
        assert_eq!(status, 400, "{case}: {problem}");
        assert_eq!(problem["status"], 400, "{case}");
    }

    let mut missing = billing::edge::local_events::api_gateway_event(&payload, "x");
    missing["headers"].as_object_mut().unwrap().remove("stripe-signature");
    let mut bad_base64 = billing::edge::local_events::api_gateway_event("%%%not-base64%%%", &good);
    bad_base64["isBase64Encoded"] = true.into();
    use base64::Engine;
    let mut non_utf8 = billing::edge::local_events::api_gateway_event(
        &base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0x00]),
        &billing::edge::signature::sign_header(&[secret], now, &[0xff, 0xfe, 0x00]),
    );
    non_utf8["isBase64Encoded"] = true.into();
    let big = "x".repeat(1024 * 1024 + 1);
    let too_big = billing::edge::local_events::api_gateway_event(&big, &sign(now, &big, secret));
    for (case, event) in [
        ("missing header", missing),
        ("invalid base64", bad_base64),
        ("non-UTF-8", non_utf8),
        ("1 MiB + 1", too_big),
    ] {
        let (status, problem) = deliver_event(&stack.state, event).await;
        assert_eq!(status, 400, "{case}: {problem}");
    }
    assert_eq!(stack.item_count().await, 0, "nothing written");
}

#[tokio::test]
async fn base64_bodies_are_verified_on_the_decoded_bytes() {
    use base64::Engine;
    let stack = Stack::new("wh-b64", vec![]).await;
    let payload = stripe_event("customer.subscription.created");
    let signature = billing::edge::signature::sign_header(&[testkit::LOCAL_WEBHOOK_SECRET], billing::now_epoch(), payload.as_bytes());
    let mut event = billing::edge::local_events::api_gateway_event(&base64::engine::general_purpose::STANDARD.encode(&payload), &signature);
    event["isBase64Encoded"] = true.into();
    let (status, body) = deliver_event(&stack.state, event).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
}

#[tokio::test]
async fn the_sample_invoke_events_apply_once_signed_afresh() {
    // events/webhook-*.json are what `./dev/sign-webhook.sh` prints for `cargo lambda invoke`;
    // their signatures age out after 300 s, so the test signs their bodies again.
    let stack = Stack::new("wh-samples", vec![]).await;
    for name in [
        "webhook-checkout.session.completed.json",
        "webhook-customer.subscription.updated.json",
    ] {
        let mut event: Value = serde_json::from_str(&testkit::event_text(name)).unwrap();
        let payload = event["body"].as_str().unwrap().to_owned();
        event["headers"]["stripe-signature"] =
            billing::edge::signature::sign_header(&[testkit::LOCAL_WEBHOOK_SECRET], billing::now_epoch(), payload.as_bytes()).into();
        let (status, body) = deliver_event(&stack.state, event).await;
        assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{name}: {body}");
    }
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert!(items.customer.is_some() && items.subscriptions.len() == 1);
}
