//! Stripe events delivered by Amazon EventBridge (the webhook function's direct invocation, as
//! `events/webhook-eventbridge.json` shows it), and the optional email notifier against moto's
//! SES.

use billing::adapters::mail::Mailer;
use billing::testkit;
use serde_json::{Value, json};

use crate::events::{Listener, deliver_since};
use crate::helpers::{Stack, fresh_store, moto_endpoint};
use crate::webhook::deliver;

/// The EventBridge delivery of Stripe event `event`, as `events/webhook-eventbridge.json`.
fn through_eventbridge(event: &Value) -> Value {
    let mut delivery: Value = serde_json::from_str(&testkit::event_text("webhook-eventbridge.json")).unwrap();
    delivery["detail-type"] = event["type"].clone();
    delivery["detail"] = event.clone();
    delivery
}

/// The partner event source of `events/webhook-eventbridge.json`.
fn partner_source() -> String {
    let file: Value = serde_json::from_str(&testkit::event_text("webhook-eventbridge.json")).unwrap();
    file["source"].as_str().unwrap().to_owned()
}

/// A stack whose webhook function takes Stripe's partner source.
async fn bridged_stack(prefix: &str) -> Stack {
    Stack::with_config(prefix, vec![], |c| c.events.stripe_partner_source = Some(partner_source())).await
}

/// A second process state on its own table, on `stack`'s emulator.
fn second_state(stack: &Stack, table: &str) -> billing::AppState {
    let all = billing::Needs {
        stripe: true,
        webhook_secrets: true,
        redirects: true,
    };
    let mut config = testkit::config(table, moto_endpoint(), Some(&stack.emulator.base_url()));
    config.events.stripe_partner_source = Some(partner_source());
    testkit::state(config, all).unwrap()
}

/// A user's stored state without write times (which differ between two deliveries).
async fn state_of(state: &billing::AppState) -> Value {
    let items = state.store.user_items("user_123").await.unwrap();
    let mut subscriptions: Vec<Value> = items
        .subscriptions
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap();
            v.as_object_mut().unwrap().remove("updated_at");
            v
        })
        .collect();
    subscriptions.sort_by_key(|v| v["subscription_id"].to_string());
    json!({
        "customer": items.customer.map(|c| c.customer_id),
        "subscriptions": subscriptions,
        "entitlements": items.entitlements.map(|e| e.features),
    })
}

#[tokio::test]
async fn stripe_events_through_eventbridge_have_the_webhooks_outcomes() {
    // Table A takes the events over HTTP, table B the same events through EventBridge.
    let stack = bridged_stack("ev-in-http").await;
    let (status, created) =
        crate::checkout::create(&stack, crate::checkout::post_checkout(json!({"plan": "pro", "interval": "month"}))).await;
    assert_eq!(status, 201, "{created}");
    crate::checkout::pay(&stack, created["id"].as_str().unwrap(), "4242424242424242").await;
    let bridged = second_state(&stack, fresh_store("ev-in-bridge").await.table());
    let events: Vec<Value> = stack.emulator.shared.world.lock().await.events.iter().map(|e| e.render()).collect();
    assert!(events.len() >= 5, "a checkout makes several events");

    let over_http = deliver_since(&stack, 0).await;
    let mut over_eventbridge = Vec::new();
    for event in &events {
        let answer = webhook::bridge::invoke(&bridged, through_eventbridge(event)).await.unwrap();
        assert_eq!(answer["received"], true, "{answer}");
        over_eventbridge.push(answer["outcome"].as_str().unwrap().to_owned());
    }
    assert_eq!(over_eventbridge, over_http, "the same outcomes, event by event");
    assert!(over_http.iter().any(|o| o == "applied"));
    assert_eq!(state_of(&bridged).await, state_of(&stack.state).await, "the same stored state");
    let kinds = |outbox: Vec<billing::domain::records::OutboxRecord>| outbox.into_iter().map(|r| (r.kind, r.id)).collect::<Vec<_>>();
    assert_eq!(
        kinds(bridged.store.outbox(100).await.unwrap()),
        kinds(stack.state.store.outbox(100).await.unwrap()),
        "the same domain events, with the same ids"
    );

    // A redelivery through either path is a duplicate (or an ignored type), whatever the path.
    for event in &events {
        let answer = webhook::bridge::invoke(&stack.state, through_eventbridge(event)).await.unwrap();
        assert!(matches!(answer["outcome"].as_str(), Some("duplicate" | "ignored")), "{answer}");
    }
}

#[tokio::test]
async fn the_eventbridge_input_applies_only_stripes_own_copy_from_the_configured_source() {
    let stack = bridged_stack("ev-in-refuse").await;
    let (status, created) =
        crate::checkout::create(&stack, crate::checkout::post_checkout(json!({"plan": "pro", "interval": "month"}))).await;
    assert_eq!(status, 201, "{created}");
    crate::checkout::pay(&stack, created["id"].as_str().unwrap(), "4242424242424242").await;
    let file: Value = serde_json::from_str(&testkit::event_text("webhook-eventbridge.json")).unwrap();
    // The file's event is not one this emulator made: no such event at Stripe, nothing applied.
    let answer = webhook::bridge::invoke(&stack.state, file.clone()).await.unwrap();
    assert_eq!(
        (answer["received"].as_bool(), answer["problem"].as_str()),
        (Some(false), Some("/errors/unknown-event")),
        "{answer}"
    );
    // A real event, tampered with: Stripe's copy is what counts.
    let real = {
        let world = stack.emulator.shared.world.lock().await;
        world
            .events
            .iter()
            .find(|e| e.event_type == "customer.subscription.created")
            .unwrap()
            .render()
    };
    let mut tampered = real.clone();
    tampered["data"]["object"]["quantity"] = 99.into();
    tampered["data"]["object"]["items"]["data"][0]["quantity"] = 99.into();
    tampered["data"]["object"]["metadata"]["plan"] = "lifetime".into();
    let answer = webhook::bridge::invoke(&stack.state, through_eventbridge(&tampered)).await.unwrap();
    assert_eq!(answer["outcome"], "applied", "{answer}");
    let stored = stack.state.store.user_items("user_123").await.unwrap().subscriptions;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].plan.as_deref(), stored[0].quantity),
        (Some("pro"), 1),
        "Stripe's copy, not the tampered one"
    );
    let items_before = stack.item_count().await;
    for source in ["billing", "aws.events", "aws.partner/stripe.com/ed_someone_else"] {
        let mut forged = through_eventbridge(&real);
        forged["source"] = source.into();
        assert!(webhook::bridge::invoke(&stack.state, forged).await.is_err(), "{source} is refused");
    }
    let direct = json!({"user_id": "user_123", "feature": "api_calls", "quantity": 1});
    assert!(
        webhook::bridge::invoke(&stack.state, direct).await.is_err(),
        "not an EventBridge event"
    );
    assert_eq!(stack.item_count().await, items_before, "a refusal writes nothing");

    // Without STRIPE_PARTNER_EVENT_SOURCE the path is off.
    let off = Stack::new("ev-in-off", vec![]).await;
    assert!(webhook::bridge::invoke(&off.state, file).await.is_err());
}

#[tokio::test]
async fn a_payment_needing_action_emails_the_customer_through_ses_once() {
    let stack = Stack::new("ev-mail", vec![]).await;
    let listener = Listener::on("ev-mail").await;
    stack.subscribed_to(json!({"plan": "pro", "interval": "month"})).await;
    deliver_since(&stack, 0).await;
    listener.drain(&stack.state).await;
    let event = crate::events::action_required(&stack, "evt_action_mail_1").await;
    assert_eq!(deliver(&stack, &event.to_string()).await.0, 200);
    stack.state.publisher(&listener.bus).run().await.unwrap();
    let delivered: Vec<Value> = listener.raw().await;
    let action = delivered
        .iter()
        .find(|e| e["detail-type"] == "payment.action_required")
        .expect("published")
        .clone();

    let sender = "billing@example.com";
    let endpoint = url::Url::parse(moto_endpoint()).unwrap();
    let mut config = stack.state.config.events.clone();
    config.ses_endpoint = Some(endpoint);
    let mailer = Mailer::from_config(&testkit::local_sdk(), &config, sender);
    let _ = mailer.client().create_email_identity().email_identity(sender).send().await;
    let sent_before = sent_mail().await.len();
    let invoke = |payload: Value| {
        notifier::handler::handle(
            &stack.state,
            &mailer,
            lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default()),
        )
    };
    assert_eq!(invoke(action.clone()).await.unwrap()["sent"], true);
    let sent = sent_mail().await;
    assert_eq!(sent.len(), sent_before + 1);
    let mail = sent.last().unwrap();
    let email = stack.state.store.customer_link("user_123").await.unwrap().unwrap().email.unwrap();
    assert_eq!(mail["destinations"]["ToAddresses"], json!([email]));
    assert_eq!(mail["source"], sender);
    assert_eq!(mail["subject"], "Please confirm your payment of 29.00 USD");
    let url = action["detail"]["hosted_invoice_url"].as_str().unwrap();
    assert!(mail["body"].as_str().unwrap().contains(url), "{mail}");

    // EventBridge delivers it again: no second email.
    assert_eq!(invoke(action.clone()).await.unwrap()["skipped"], "already_sent");
    assert_eq!(sent_mail().await.len(), sent_before + 1);
    // Another source is refused; other detail types send nothing.
    let mut forged = action.clone();
    forged["source"] = "someone.else".into();
    assert!(invoke(forged).await.is_err());
    let mut other = action;
    other["detail-type"] = "subscription.updated".into();
    assert_eq!(invoke(other).await.unwrap()["skipped"], "not_notified");
}

/// The emails moto's SES has sent (`dev/moto-server.py` serves them).
async fn sent_mail() -> Vec<Value> {
    reqwest::get(format!("{}/_local/ses/sent", moto_endpoint()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
