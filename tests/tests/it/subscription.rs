//! The subscription function against moto and the Stripe emulator: every route, bad
//! input, ownership, and each change written through the sync engine (entitlements follow at
//! once; the later webhook is a duplicate or stale, never a regression).

use billing::testkit;
use serde_json::{Value, json};

use crate::checkout::{create, get_checkout, pay, post_checkout};
use crate::emulator::control;
use crate::helpers::{Stack, body};
use crate::webhook::deliver;

fn request(event: &str, user: &str, payload: Option<Value>) -> lambda_http::Request {
    testkit::event_with(event, |e| {
        e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user.into();
        if let Some(payload) = payload {
            e["body"] = payload.to_string().into();
        }
    })
}

async fn call(stack: &Stack, req: lambda_http::Request) -> (u16, Value) {
    let response = subscription::handler::handle(&stack.state, req).await.unwrap();
    (response.status().as_u16(), body(&response))
}

async fn get(stack: &Stack, user: &str) -> Value {
    let (status, body) = call(stack, request("subscription-get.json", user, None)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn post(stack: &Stack, event: &str, user: &str, payload: Value) -> (u16, Value) {
    call(stack, request(event, user, Some(payload))).await
}

/// A paid subscription of `user_123` to `plan` (monthly), synced eagerly as the app would after
/// the return from Checkout. Returns its id.
pub(crate) async fn subscribed(stack: &Stack, plan: &str) -> String {
    let (status, created) = create(stack, post_checkout(json!({"plan": plan, "interval": "month"}))).await;
    assert_eq!(status, 201, "{created}");
    let session = created["id"].as_str().unwrap().to_owned();
    pay(stack, &session, "4242424242424242").await;
    let response = checkout::handler::handle(&stack.state, get_checkout(&session)).await.unwrap();
    assert_eq!(response.status(), 200, "{}", body(&response));
    let world = stack.emulator.shared.world.lock().await;
    world.sessions[&session].subscription.clone().unwrap()
}

pub(crate) async fn allowed(stack: &Stack, feature: &str) -> bool {
    let req = testkit::event_with("entitlements-feature.json", |e| {
        e["rawPath"] = format!("/entitlements/{feature}").into();
        e["requestContext"]["http"]["path"] = format!("/entitlements/{feature}").into();
        e["pathParameters"]["feature"] = feature.into();
    });
    let response = entitlements::handler::handle(&stack.state, req).await.unwrap();
    body(&response)["allowed"].as_bool().unwrap()
}

async fn price_in_stripe(stack: &Stack, subscription: &str) -> (String, u64) {
    let world = stack.emulator.shared.world.lock().await;
    let item = &world.subscriptions[subscription].items[0];
    (world.prices[&item.price].lookup_key.clone().unwrap_or_default(), item.quantity)
}

/// Delivers every event the emulator recorded after `from` through the webhook handler, in order.
async fn deliver_since(stack: &Stack, from: usize) -> Vec<(String, String)> {
    let events: Vec<Value> = {
        let world = stack.emulator.shared.world.lock().await;
        world.events[from..].iter().map(|e| e.render()).collect()
    };
    let mut outcomes = Vec::new();
    for event in events {
        let (status, body) = deliver(stack, &event.to_string()).await;
        assert_eq!(status, 200, "{event} → {body}");
        outcomes.push((
            event["type"].as_str().unwrap().to_owned(),
            body["outcome"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    outcomes
}

async fn event_count(stack: &Stack) -> usize {
    stack.emulator.shared.world.lock().await.events.len()
}

#[tokio::test]
async fn get_answers_from_the_table_without_stripe() {
    let stack = Stack::new("sub-get", vec![]).await;
    assert_eq!(get(&stack, "user_123").await, json!({"subscriptions": []}));
    let id = subscribed(&stack, "pro").await;
    let before = stack.stripe_requests().await;
    let body = get(&stack, "user_123").await;
    assert_eq!(stack.stripe_requests().await, before, "no Stripe call");
    let sub = &body["subscriptions"][0];
    assert_eq!(sub["id"], id.as_str());
    assert_eq!(
        (sub["plan"].as_str(), sub["interval"].as_str(), sub["status"].as_str()),
        (Some("pro"), Some("month"), Some("active"))
    );
    for field in [
        "quantity",
        "current_period_end",
        "cancel_at_period_end",
        "cancel_at",
        "trial_end",
        "days_until_renewal",
        "scheduled_change",
    ] {
        assert!(sub.get(field).is_some(), "{field} in {sub}");
    }
    assert!(sub["days_until_renewal"].as_i64().unwrap() > 0);
    assert_eq!(get(&stack, "someone_else").await, json!({"subscriptions": []}), "only the caller's");
}

#[tokio::test]
async fn an_upgrade_now_grants_the_new_features_at_once_and_the_webhook_does_not_regress_it() {
    let stack = Stack::new("sub-upgrade", vec![]).await;
    let id = subscribed(&stack, "starter").await;
    assert!(!allowed(&stack, "api_access").await, "starter has no api_access");
    let from = event_count(&stack).await;

    let (status, body) = post(&stack, "subscription-change.json", "user_123", json!({"plan": "pro"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["subscription"]["plan"].as_str(), body["subscription"]["id"].as_str()),
        (Some("pro"), Some(id.as_str()))
    );
    assert_eq!(price_in_stripe(&stack, &id).await, ("pro_month".into(), 1));
    assert!(allowed(&stack, "api_access").await, "granted before any webhook");

    // Stripe's events of the change arrive later: duplicates or stale, never a regression.
    let outcomes = deliver_since(&stack, from).await;
    assert!(outcomes.iter().any(|(t, _)| t == "customer.subscription.updated"), "{outcomes:?}");
    let stored = stack.state.store.subscription("user_123", &id).await.unwrap().unwrap();
    assert_eq!(stored.plan.as_deref(), Some("pro"));
    assert!(allowed(&stack, "api_access").await);
}

#[tokio::test]
async fn a_preview_changes_nothing() {
    let stack = Stack::new("sub-preview", vec![]).await;
    // Pro has no trial: a change mid-period is prorated.
    let id = subscribed(&stack, "pro").await;
    let items = stack.item_count().await;
    let events = event_count(&stack).await;
    let (status, body) = post(
        &stack,
        "subscription-change.json",
        "user_123",
        json!({"plan": "starter", "preview": true, "proration": "always_invoice"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for field in ["amount_due", "currency", "proration", "lines", "next_payment_at"] {
        assert!(body.get(field).is_some(), "{field} in {body}");
    }
    assert!(body["lines"].as_array().is_some_and(|l| !l.is_empty()), "{body}");
    assert!(
        body["proration"].as_i64().unwrap() < 0,
        "a downgrade now credits the unused time: {body}"
    );
    assert_eq!(price_in_stripe(&stack, &id).await, ("pro_month".into(), 1));
    assert_eq!(stack.item_count().await, items, "no write");
    assert_eq!(event_count(&stack).await, events, "no change in Stripe");
}

#[tokio::test]
async fn seats_change_within_the_plan_maximum() {
    let stack = Stack::new("sub-seats", vec![]).await;
    let id = subscribed(&stack, "pro").await;
    let max = stack.state.catalog.get("pro").unwrap().max_quantity;
    let (status, body) = post(&stack, "subscription-change.json", "user_123", json!({"quantity": 3})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subscription"]["quantity"], 3);
    assert_eq!(price_in_stripe(&stack, &id).await, ("pro_month".into(), 3));
    let (status, body) = post(&stack, "subscription-change.json", "user_123", json!({"quantity": max + 1})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("quantity")), "{body}");
    let (status, body) = post(&stack, "subscription-change.json", "user_123", json!({"quantity": 3})).await;
    assert_eq!((status, body["type"].as_str()), (400, Some("/errors/no-change")), "{body}");
}

#[tokio::test]
async fn a_downgrade_at_period_end_is_scheduled_and_carried_out_by_the_clock() {
    let stack = Stack::new("sub-downgrade", vec![]).await;
    let id = subscribed(&stack, "pro").await;
    let from = event_count(&stack).await;
    let (status, body) = post(
        &stack,
        "subscription-change.json",
        "user_123",
        json!({"plan": "starter", "when": "period_end"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sub = &body["subscription"];
    assert_eq!(sub["plan"], "pro", "nothing changes before the period ends");
    assert_eq!(sub["scheduled_change"]["plan"], "starter", "{sub}");
    assert_eq!(sub["scheduled_change"]["at"], sub["current_period_end"]);
    assert_eq!(
        get(&stack, "user_123").await["subscriptions"][0]["scheduled_change"]["plan"],
        "starter"
    );
    assert_eq!(price_in_stripe(&stack, &id).await, ("pro_month".into(), 1));
    assert!(allowed(&stack, "api_access").await);

    // The period ends: the schedule's second phase applies; its events reach the webhook.
    let end = sub["current_period_end"].as_i64().unwrap();
    let now = stack.emulator.shared.world.lock().await.now();
    control(&stack.emulator, "/_emulator/clock/advance", json!({"seconds": end - now + 60})).await;
    assert_eq!(price_in_stripe(&stack, &id).await, ("starter_month".into(), 1));
    let outcomes = deliver_since(&stack, from).await;
    assert!(
        outcomes.iter().any(|(t, _)| t.starts_with("subscription_schedule.")),
        "{outcomes:?}"
    );
    let after = &get(&stack, "user_123").await["subscriptions"][0];
    assert_eq!(after["plan"], "starter", "{after}");
    assert_eq!(after["scheduled_change"], Value::Null, "{after}");
}

#[tokio::test]
async fn cancel_at_period_end_keeps_access_resume_undoes_it_cancel_now_ends_it() {
    let stack = Stack::new("sub-cancel", vec![]).await;
    let id = subscribed(&stack, "pro").await;
    let (status, body) = post(&stack, "subscription-cancel.json", "user_123", json!({"feedback": "too_expensive"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subscription"]["cancel_at_period_end"], true);
    assert_eq!(body["subscription"]["days_until_renewal"], Value::Null);
    assert!(allowed(&stack, "api_access").await, "access holds until the period end");
    assert!(stack.emulator.shared.world.lock().await.subscriptions[&id].cancel_at_period_end);

    let (status, body) = post(&stack, "subscription-resume.json", "user_123", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subscription"]["cancel_at_period_end"], false);
    let (status, body) = post(&stack, "subscription-resume.json", "user_123", json!({})).await;
    assert_eq!((status, body["type"].as_str()), (409, Some("/errors/nothing-to-resume")), "{body}");

    let (status, body) = post(&stack, "subscription-cancel.json", "user_123", json!({"at_period_end": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subscription"]["status"], "canceled");
    assert!(!allowed(&stack, "api_access").await, "access ends now");

    for (event, payload) in [
        ("subscription-cancel.json", json!({"subscription": id})),
        ("subscription-change.json", json!({"subscription": id, "plan": "starter"})),
        ("subscription-resume.json", json!({"subscription": id})),
    ] {
        let (status, body) = post(&stack, event, "user_123", payload).await;
        assert_eq!(
            (status, body["type"].as_str()),
            (409, Some("/errors/subscription-ended")),
            "{event}: {body}"
        );
    }
    let (status, body) = post(&stack, "subscription-cancel.json", "user_123", json!({})).await;
    assert_eq!((status, body["type"].as_str()), (409, Some("/errors/no-subscription")), "{body}");
}

#[tokio::test]
async fn another_users_subscription_is_not_found() {
    let stack = Stack::new("sub-owner", vec![]).await;
    let id = subscribed(&stack, "pro").await;
    let before = stack.item_count().await;
    for (event, payload) in [
        ("subscription-cancel.json", json!({"subscription": id})),
        ("subscription-resume.json", json!({"subscription": id})),
        ("subscription-change.json", json!({"subscription": id, "plan": "starter"})),
        (
            "subscription-change.json",
            json!({"subscription": id, "plan": "starter", "preview": true}),
        ),
    ] {
        let (status, body) = post(&stack, event, "intruder", payload.clone()).await;
        assert_eq!(status, 404, "{event} {payload}: {body}");
        let mut unknown = payload.clone();
        unknown["subscription"] = "sub_doesnotexist".into();
        let (status, body) = post(&stack, event, "user_123", unknown).await;
        assert_eq!(status, 404, "{event}: {body}");
    }
    assert_eq!(stack.item_count().await, before, "nothing written");
    assert!(!stack.emulator.shared.world.lock().await.subscriptions[&id].cancel_at_period_end);
}

#[tokio::test]
async fn several_subscriptions_need_the_field() {
    let stack = Stack::new("sub-several", vec![]).await;
    subscribed(&stack, "starter").await;
    let pro = subscribed(&stack, "pro").await;
    let (status, body) = post(&stack, "subscription-cancel.json", "user_123", json!({})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("subscription")), "{body}");
    let (status, body) = post(&stack, "subscription-cancel.json", "user_123", json!({"subscription": pro})).await;
    assert_eq!(status, 200, "{body}");
    let listed = get(&stack, "user_123").await;
    assert_eq!(listed["subscriptions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_client_idempotency_key_replays_and_refuses_another_body() {
    let stack = Stack::new("sub-idem", vec![]).await;
    let id = subscribed(&stack, "pro").await;
    let keyed = |payload: Value, key: &str| {
        let key = key.to_owned();
        testkit::event_with("subscription-change.json", move |e| {
            e["body"] = payload.to_string().into();
            e["headers"]["idempotency-key"] = key.into();
        })
    };
    let (status, first) = call(&stack, keyed(json!({"plan": "starter", "proration": "always_invoice"}), "k-1")).await;
    assert_eq!(status, 200, "{first}");
    let invoices = stack.emulator.shared.world.lock().await.invoices.len();
    // The same request again (a retry after a lost response): the same result, no second charge.
    let (status, again) = call(&stack, keyed(json!({"plan": "starter", "proration": "always_invoice"}), "k-1")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["subscription"]["plan"], "starter");
    assert_eq!(stack.emulator.shared.world.lock().await.invoices.len(), invoices, "charged once");
    let (status, body) = call(&stack, keyed(json!({"plan": "starter", "quantity": 2}), "k-1")).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (409, Some("/errors/idempotency-key-reused")),
        "{body}"
    );
    assert_eq!(price_in_stripe(&stack, &id).await, ("starter_month".into(), 1));
}

#[tokio::test]
async fn invoices_are_the_callers_newest_first() {
    let stack = Stack::new("sub-invoices", vec![]).await;
    let (status, body) = call(&stack, request("invoices-get.json", "user_123", None)).await;
    assert_eq!((status, body), (200, json!({"invoices": [], "has_more": false})));
    subscribed(&stack, "pro").await;
    let (status, body) = post(
        &stack,
        "subscription-change.json",
        "user_123",
        json!({"plan": "starter", "proration": "always_invoice"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&stack, request("invoices-get.json", "user_123", None)).await;
    assert_eq!(status, 200, "{body}");
    let invoices = body["invoices"].as_array().unwrap();
    assert!(invoices.len() >= 2, "{body}");
    assert!(invoices[0]["created"].as_i64() >= invoices[1]["created"].as_i64());
    for field in [
        "id",
        "number",
        "status",
        "currency",
        "amount_due",
        "amount_paid",
        "created",
        "period_start",
        "period_end",
        "hosted_invoice_url",
        "invoice_pdf",
    ] {
        assert!(invoices[0].get(field).is_some(), "{field}");
    }
    let one = testkit::event_with("invoices-get.json", |e| {
        e["rawQueryString"] = "limit=1".into();
        e["queryStringParameters"] = json!({"limit": "1"});
    });
    let (status, page) = call(&stack, one).await;
    assert_eq!((status, page["has_more"].as_bool()), (200, Some(true)), "{page}");
    let (status, body) = call(&stack, request("invoices-get.json", "intruder", None)).await;
    assert_eq!(
        (status, body),
        (200, json!({"invoices": [], "has_more": false})),
        "another user sees none"
    );
}

#[tokio::test]
async fn the_change_write_loses_to_state_stored_meanwhile_and_fetches_instead() {
    use billing::services::sync::{Arrival, Change};
    let stack = Stack::new("sub-race", vec![]).await;
    let id = subscribed(&stack, "starter").await;
    let engine = stack.state.sync().unwrap();
    let observed = engine.observe("user_123", &id).await.unwrap();
    // Meanwhile the subscription changes in Stripe and its webhook lands first.
    let from = event_count(&stack).await;
    {
        let mut world = stack.emulator.shared.world.lock().await;
        world
            .update_subscription(&id, &stripe_emulator::params::Params::parse(b"cancel_at_period_end=true").unwrap())
            .unwrap();
    }
    deliver_since(&stack, from).await;
    // An answer of Stripe older than what is stored now: the write refuses, Stripe's current
    // state is fetched and stored instead.
    let stale = stack.state.stripe().unwrap().retrieve_subscription(&id).await.unwrap().unwrap();
    let stale = billing::domain::objects::SubscriptionSnapshot {
        cancel_at_period_end: false,
        cancel_at: None,
        ..stale
    };
    let change = Change {
        observed,
        subscription: Some(stale),
        schedule: None,
    };
    engine.apply(Arrival::Changed(Box::new(change))).await.unwrap();
    let stored = stack.state.store.subscription("user_123", &id).await.unwrap().unwrap();
    assert!(stored.cancel_at_period_end, "the newer state stays");
}

#[tokio::test]
async fn an_upgrade_cannot_be_made_free_and_a_downgrade_may_skip_proration() {
    let stack = Stack::new("sub-free-upgrade", vec![]).await;
    let id = subscribed(&stack, "pro").await;
    let (status, body) = post(
        &stack,
        "subscription-change.json",
        "user_123",
        json!({"quantity": 2, "proration": "none"}),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("proration")),
        "more seats are an upgrade: {body}"
    );
    assert_eq!(price_in_stripe(&stack, &id).await, ("pro_month".into(), 1), "nothing changed");
    let (status, body) = post(
        &stack,
        "subscription-change.json",
        "user_123",
        json!({"plan": "starter", "proration": "none"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(price_in_stripe(&stack, &id).await, ("starter_month".into(), 1));
}

#[tokio::test]
async fn a_retried_request_stores_stripes_state_now_not_the_replayed_answer() {
    let stack = Stack::new("sub-replay", vec![]).await;
    let id = subscribed(&stack, "pro").await;
    let keyed = || {
        testkit::event_with("subscription-change.json", |e| {
            e["body"] = json!({"plan": "starter"}).to_string().into();
            e["headers"]["idempotency-key"] = "retry-1".into();
        })
    };
    let (status, body) = call(&stack, keyed()).await;
    assert_eq!(status, 200, "{body}");
    // The subscription moves on in Stripe (paused); the client retries with the same key.
    stack.emulator.shared.world.lock().await.pause_subscription(&id).unwrap();
    let (status, body) = call(&stack, keyed()).await;
    assert_eq!(status, 200, "{body}");
    let stored = stack.state.store.subscription("user_123", &id).await.unwrap().unwrap();
    assert_eq!(
        stored.status, "paused",
        "Stripe's state now, not the replayed answer of the first call"
    );
    // The same key for another request is refused before any Stripe write.
    let other = testkit::event_with("subscription-cancel.json", |e| {
        e["headers"]["idempotency-key"] = "retry-1".into();
    });
    let (status, body) = call(&stack, other).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (409, Some("/errors/idempotency-key-reused")),
        "{body}"
    );
    assert!(!stack.emulator.shared.world.lock().await.subscriptions[&id].cancel_at_period_end);
}

#[tokio::test]
async fn a_scheduled_change_keeps_the_trial_of_the_current_phase() {
    let stack = Stack::new("sub-trial-phase", vec![]).await;
    let id = subscribed(&stack, "starter").await;
    let trial_end = stack
        .state
        .stripe()
        .unwrap()
        .retrieve_subscription(&id)
        .await
        .unwrap()
        .unwrap()
        .trial_end;
    assert!(trial_end.is_some(), "starter comes with a trial");
    let (status, body) = post(
        &stack,
        "subscription-change.json",
        "user_123",
        json!({"plan": "pro", "when": "period_end"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let stripe = stack.state.stripe().unwrap();
    let schedule_id = stripe.retrieve_subscription(&id).await.unwrap().unwrap().schedule_id.unwrap();
    let schedule = stripe.retrieve_schedule(&schedule_id).await.unwrap().unwrap();
    assert_eq!(schedule.phases.len(), 2);
    assert_eq!(schedule.phases[0].trial_end, trial_end, "the trial is carried over");
    assert_eq!(schedule.phases[1].metadata.get("user_id").map(String::as_str), Some("user_123"));
    assert_eq!(schedule.phases[1].metadata.get("plan").map(String::as_str), Some("pro"));
    assert_eq!(
        stack.emulator.shared.world.lock().await.subscriptions[&id].status,
        "trialing",
        "still in its trial"
    );
}

#[tokio::test]
async fn the_emulator_ends_a_trial_when_a_schedule_drops_it_as_stripe_does() {
    let stack = Stack::new("sub-trial-drop", vec![]).await;
    let id = subscribed(&stack, "starter").await;
    let parse = |text: String| stripe_emulator::params::Params::parse(text.as_bytes()).unwrap();
    let mut world = stack.emulator.shared.world.lock().await;
    let schedule = world
        .create_subscription_schedule(&parse(format!("from_subscription={id}")))
        .unwrap();
    assert!(
        schedule["phases"][0]["trial_end"].is_i64(),
        "the trial is in the first phase: {schedule}"
    );
    let (start, end) = (
        schedule["phases"][0]["start_date"].as_i64().unwrap(),
        schedule["phases"][0]["end_date"].as_i64().unwrap(),
    );
    let price = world.subscriptions[&id].items[0].price.clone();
    let schedule_id = schedule["id"].as_str().unwrap().to_owned();
    // Phases rewritten without the trial: Stripe ends it now and bills.
    world
        .update_subscription_schedule(
            &schedule_id,
            &parse(format!(
                "phases[0][start_date]={start}&phases[0][end_date]={end}&phases[0][items][0][price]={price}"
            )),
        )
        .unwrap();
    assert_eq!(world.subscriptions[&id].status, "active", "the trial ended");
}
