//! The reconcile function against moto and the Stripe emulator: with webhook delivery
//! off, a paid checkout leaves the user without access until one run repairs it; a second run
//! applies nothing; racing delayed webhooks ends where webhooks alone do; a failed event holds
//! the checkpoint before it; snapshots (one customer, one user, every customer) and a checkpoint
//! older than the Events API's window.

use std::time::Duration;

use billing::AppState;
use billing::domain::records::{ReconcileState, UserItems};
use billing::services::reconcile::{Reconciler, RunSummary};
use billing::testkit;
use serde_json::{Value, json};

use crate::checkout::{create, pay, post_checkout};
use crate::helpers::{Stack, fresh_store};
use crate::subscription::allowed;
use crate::webhook::deliver_to;

/// One run through the function's handler, with a payload from `events/`.
async fn invoke(state: &AppState, payload: Value) -> Result<Value, String> {
    let event = lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default());
    match reconcile::handler::handle(state, event).await {
        Ok(summary) => Ok(serde_json::to_value(summary).unwrap()),
        Err(err) => Err(lambda_runtime::Diagnostic::from(err).error_type),
    }
}

/// An invoke payload from `events/` (the files `cargo lambda invoke reconcile --data-file` sends).
fn event_payload(name: &str) -> Value {
    serde_json::from_str(&testkit::event_text(name)).unwrap()
}

async fn run(state: &AppState) -> Value {
    let summary = invoke(state, event_payload("reconcile-run.json")).await.expect("run");
    assert_eq!(summary["failed"], 0, "{summary}");
    summary
}

/// A paid checkout of `plan` by `user_123`, no webhook delivered, no eager sync.
async fn paid_checkout(stack: &Stack, plan: &str) -> String {
    let (status, created) = create(stack, post_checkout(json!({"plan": plan, "interval": "month"}))).await;
    assert_eq!(status, 201, "{created}");
    let session = created["id"].as_str().unwrap().to_owned();
    pay(stack, &session, "4242424242424242").await;
    let world = stack.emulator.shared.world.lock().await;
    world.sessions[&session].subscription.clone().unwrap()
}

/// What a user's items say, without write times and versions (which differ between writers).
fn essence(items: &UserItems) -> Value {
    let subscriptions: Vec<Value> = items
        .subscriptions
        .iter()
        .map(|s| {
            json!({"id": s.subscription_id, "customer": s.customer_id, "status": s.status, "plan": s.plan,
                   "quantity": s.quantity, "period_end": s.current_period_end, "cancel_at_period_end": s.cancel_at_period_end})
        })
        .collect();
    json!({
        "customer": items.customer.as_ref().map(|c| c.customer_id.clone()),
        "subscriptions": subscriptions,
        "features": items.entitlements.as_ref().map(|e| e.features.clone()),
    })
}

#[tokio::test]
async fn a_missed_checkout_is_repaired_by_one_run_and_a_second_run_applies_nothing() {
    let stack = Stack::new("rc-missed", vec![]).await;
    let sub = paid_checkout(&stack, "pro").await;
    assert!(!allowed(&stack, "api_access").await, "no webhook, no eager sync: no access yet");

    let first = run(&stack.state).await;
    assert!(first["applied"].as_u64().unwrap() >= 2, "{first}");
    assert_eq!(first["complete"], true, "{first}");
    let checkpoint = first["checkpoint"].as_i64().expect("a checkpoint");
    assert!((billing::now_epoch() - checkpoint).abs() <= 5, "{first}");
    assert!(allowed(&stack, "api_access").await, "one run grants access");
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert_eq!(items.subscriptions[0].subscription_id, sub);
    assert_eq!(items.subscriptions[0].status, "active");
    assert!(items.customer.is_some(), "the checkout's link is made too");
    let stored = stack.state.store.reconcile_state().await.unwrap().unwrap();
    assert_eq!(stored.checkpoint, Some(checkpoint));

    let before = (stack.item_count().await, essence(&items));
    let second = run(&stack.state).await;
    assert_eq!(second["applied"], 0, "{second}");
    assert_eq!(second["stale"], 0, "{second}");
    assert!(
        second["duplicate"].as_u64().unwrap() >= first["applied"].as_u64().unwrap(),
        "{second}"
    );
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert_eq!((stack.item_count().await, essence(&items)), before, "a second run writes nothing");
}

#[tokio::test]
async fn reconcile_racing_delayed_webhooks_ends_where_webhooks_alone_do() {
    let stack = Stack::new("rc-race", vec![]).await;
    paid_checkout(&stack, "starter").await;
    {
        let mut world = stack.emulator.shared.world.lock().await;
        let sub = world.subscriptions.keys().next().unwrap().clone();
        let params = stripe_emulator::params::Params::parse(b"cancel_at_period_end=true").unwrap();
        world.update_subscription(&sub, &params).unwrap();
    }
    let events: Vec<Value> = stack.emulator.shared.world.lock().await.events.iter().map(|e| e.render()).collect();

    // Webhooks alone, in order, into the stack's table.
    for event in &events {
        assert_eq!(deliver_to(&stack.state, &event.to_string()).await.0, 200, "{event}");
    }
    let alone = essence(&stack.state.store.user_items("user_123").await.unwrap());
    assert_eq!(alone["subscriptions"][0]["cancel_at_period_end"], true, "{alone}");

    // The same events, late and newest first, racing a reconcile run, into a second table.
    let store = fresh_store("rc-race-2").await;
    let config = testkit::config(store.table(), crate::helpers::moto_endpoint(), Some(&stack.emulator.base_url()));
    let all = billing::Needs {
        stripe: true,
        webhook_secrets: true,
        redirects: true,
    };
    let racing = testkit::state(config, all).unwrap();
    let webhooks = async {
        for event in events.iter().rev() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let status = deliver_to(&racing, &event.to_string()).await.0;
            assert!(status == 200 || status == 500, "{status}");
        }
    };
    let (_, summary) = tokio::join!(webhooks, invoke(&racing, json!({})));
    let summary = summary.unwrap();
    assert_eq!(summary["failed"], 0, "{summary}");
    // Anything the race made a webhook answer 500 for, Stripe would deliver again.
    for event in &events {
        assert_eq!(deliver_to(&racing, &event.to_string()).await.0, 200, "{event}");
    }
    let raced = essence(&racing.store.user_items("user_123").await.unwrap());
    assert_eq!(raced, alone, "the same final state");
    assert_eq!(run(&racing).await["applied"], 0);
}

#[tokio::test]
async fn a_failed_event_holds_the_checkpoint_before_it() {
    let stack = Stack::new("rc-fail", vec![]).await;
    paid_checkout(&stack, "pro").await;
    // Events that need the subscription fetched fail while Stripe cannot serve it.
    let first_fetching = {
        let mut world = stack.emulator.shared.world.lock().await;
        world.faults.push(stripe_emulator::world::Fault {
            method: Some("GET".into()),
            path_prefix: "/v1/subscriptions/".into(),
            status: Some(500),
            count: 10_000,
            after: false,
            delay_ms: 0,
        });
        world
            .events
            .iter()
            .filter(|e| {
                e.event_type == "checkout.session.completed" || billing::services::sync::INVOICE_EVENTS.contains(&e.event_type.as_str())
            })
            .map(|e| e.created)
            .min()
            .unwrap()
    };
    let summary = invoke(&stack.state, json!({})).await.unwrap();
    assert!(
        summary["applied"].as_u64().unwrap() >= 1,
        "events after the failure are still applied: {summary}"
    );
    assert!(summary["failed"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["complete"], false, "{summary}");
    assert_eq!(summary["checkpoint"], first_fetching - 1, "{summary}");
    let stored = stack.state.store.reconcile_state().await.unwrap().unwrap();
    assert_eq!(stored.checkpoint, Some(first_fetching - 1));

    stack.emulator.shared.world.lock().await.faults.clear();
    let next = run(&stack.state).await;
    assert!(
        next["applied"].as_u64().unwrap() >= 1,
        "the failed events are applied next time: {next}"
    );
    assert!(next["checkpoint"].as_i64().unwrap() > first_fetching, "{next}");
    assert!(allowed(&stack, "api_access").await);
}

#[tokio::test]
async fn snapshots_repair_one_customer_one_user_or_every_customer() {
    let stack = Stack::new("rc-snap", vec![]).await;
    let sub = paid_checkout(&stack, "pro").await;
    let customer = stack.emulator.shared.world.lock().await.subscriptions[&sub].customer.clone();

    // Every customer: subscriptions and entitlements fetched, no event read.
    let full = invoke(&stack.state, event_payload("reconcile-full.json")).await.unwrap();
    assert_eq!(full["events_seen"], 1, "one subscription fetched: {full}");
    assert!(full["customers"].as_u64().unwrap() >= 1, "{full}");
    assert_eq!(
        (full["failed"].clone(), full["complete"].clone()),
        (json!(0), json!(true)),
        "{full}"
    );
    assert!(allowed(&stack, "api_access").await, "the sweep grants access");
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert!(items.entitlements.unwrap().features.contains(&"api_access".to_owned()));

    // One customer, then the user (linked when checkout made the customer).
    let one = invoke(&stack.state, event_payload("reconcile-customer.json").with_customer(&customer))
        .await
        .unwrap();
    assert_eq!((one["customers"].clone(), one["failed"].clone()), (json!(1), json!(0)), "{one}");
    let user = invoke(&stack.state, json!({"user": "user_123"})).await.unwrap();
    assert_eq!((user["customers"].clone(), user["failed"].clone()), (json!(1), json!(0)), "{user}");

    // Unknown ones are named, nothing is written.
    let items = stack.item_count().await;
    assert_eq!(
        invoke(&stack.state, json!({"customer": "cus_nobody"})).await.unwrap_err(),
        "NotFound"
    );
    assert_eq!(invoke(&stack.state, json!({"user": "nobody"})).await.unwrap_err(), "NotFound");
    assert_eq!(invoke(&stack.state, json!({"customer": "sub_1"})).await.unwrap_err(), "BadPayload");
    assert_eq!(stack.item_count().await, items);
}

trait WithCustomer {
    fn with_customer(self, customer: &str) -> Value;
}

impl WithCustomer for Value {
    fn with_customer(mut self, customer: &str) -> Value {
        self["customer"] = customer.into();
        self
    }
}

#[tokio::test]
async fn a_checkpoint_older_than_the_window_sweeps_every_customer_and_a_spent_budget_keeps_it() {
    let stack = Stack::new("rc-old", vec![]).await;
    paid_checkout(&stack, "pro").await;
    let old = billing::now_epoch() - 40 * 86_400;
    let mut state = ReconcileState::new();
    state.checkpoint = Some(old);
    stack.state.store.save_reconcile_state(&state).await.unwrap();

    // No time at all: nothing read, the checkpoint kept.
    let state = &stack.state;
    let spent = Reconciler::new(
        state.sync().unwrap(),
        &state.store,
        state.stripe().unwrap(),
        state.clock.as_ref(),
        Duration::ZERO,
    );
    let summary: RunSummary = spent.events().await.unwrap();
    assert_eq!((summary.events_seen, summary.complete, summary.checkpoint), (0, false, Some(old)));
    assert!(!allowed(&stack, "api_access").await);

    let summary = run(&stack.state).await;
    assert!(summary["customers"].as_u64().unwrap() >= 1, "the sweep ran: {summary}");
    assert_eq!(summary["complete"], true, "{summary}");
    assert!(summary["checkpoint"].as_i64().unwrap() > old + 30 * 86_400, "{summary}");
    assert!(allowed(&stack, "api_access").await);
    let stored = stack.state.store.reconcile_state().await.unwrap().unwrap();
    assert_eq!(stored.sweep_after, None, "the sweep finished");
    let again = run(&stack.state).await;
    assert!(again.get("customers").is_none(), "no sweep once done: {again}");
}

#[tokio::test]
async fn a_busy_slice_is_halved_and_every_event_still_applied_once() {
    let stack = Stack::new("rc-busy", vec![]).await;
    paid_checkout(&stack, "pro").await;
    let state = &stack.state;
    let requests = stack.stripe_requests().await;
    // Four handled events in one second, at most two per slice: halved down to a minute, where
    // a slice is taken whole.
    let reconciler = Reconciler::new(
        state.sync().unwrap(),
        &state.store,
        state.stripe().unwrap(),
        state.clock.as_ref(),
        Duration::from_secs(60),
    )
    .with_max_slice_events(2);
    let summary = reconciler.events().await.unwrap();
    assert_eq!((summary.failed, summary.complete, summary.duplicate), (0, true, 0), "{summary:?}");
    let handled = billing::services::sync::handled_event_types();
    let distinct = {
        let world = stack.emulator.shared.world.lock().await;
        world.events.iter().filter(|e| handled.contains(&e.event_type.as_str())).count() as u64
    };
    assert_eq!(summary.events_seen, distinct, "each event listed once: {summary:?}");
    assert_eq!(
        summary.events_seen,
        summary.applied + summary.stale + summary.ignored,
        "{summary:?}"
    );
    assert!(
        stack.stripe_requests().await - requests > 30 + 10,
        "thirty day slices and the halving"
    );
    assert!(allowed(&stack, "api_access").await);
}

#[tokio::test]
async fn a_customer_only_metadata_points_at_never_replaces_the_linked_customers_entitlements() {
    let stack = Stack::new("rc-stranger", vec![]).await;
    paid_checkout(&stack, "pro").await;
    run(&stack.state).await;
    assert!(allowed(&stack, "api_access").await);
    // Another customer (made by hand in the Dashboard, say), never linked, whose subscription's
    // metadata names the same user.
    let other = {
        let mut world = stack.emulator.shared.world.lock().await;
        let price = world
            .prices
            .values()
            .find(|p| p.lookup_key.as_deref() == Some("starter_month"))
            .unwrap()
            .id
            .clone();
        let params = stripe_emulator::params::Params::parse(
            format!("mode=subscription&line_items[0][price]={price}&customer_email=other%40example.com&subscription_data[metadata][user_id]=user_123&success_url=http%3A%2F%2Flocalhost%2F").as_bytes(),
        )
        .unwrap();
        let session = world.create_checkout_session(&params).unwrap();
        let id = session["id"].as_str().unwrap().to_owned();
        world.pay_session(&id, "4242424242424242").unwrap();
        world.sessions[&id].customer.clone().unwrap()
    };
    let summary = invoke(&stack.state, json!({"customer": other})).await.unwrap();
    assert_eq!(summary["failed"], 0, "{summary}");
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert_eq!(
        items.subscriptions.len(),
        2,
        "its subscription is stored as its events would store it"
    );
    let features = items.entitlements.unwrap().features;
    assert!(
        features.contains(&"api_access".to_owned()),
        "the linked customer's entitlements stay: {features:?}"
    );
    assert!(allowed(&stack, "api_access").await);
}

#[tokio::test]
async fn a_customer_deleted_in_stripe_ends_its_subscriptions_and_link() {
    let stack = Stack::new("rc-deleted", vec![]).await;
    let sub = paid_checkout(&stack, "pro").await;
    run(&stack.state).await;
    assert!(allowed(&stack, "api_access").await);
    let customer = {
        let mut world = stack.emulator.shared.world.lock().await;
        let customer = world.subscriptions[&sub].customer.clone();
        world.delete_customer(&customer).unwrap();
        customer
    };
    // Its webhooks missed, and older than the Events API's window: the snapshot repairs it.
    let summary = invoke(&stack.state, json!({"customer": customer})).await.unwrap();
    assert_eq!(summary["failed"], 0, "{summary}");
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert_eq!(items.subscriptions[0].status, "canceled", "{items:?}");
    assert!(items.customer.is_none(), "the link is removed");
    assert_eq!(stack.state.store.customer_owner(&customer).await.unwrap(), None);
    assert!(!allowed(&stack, "api_access").await);
}
