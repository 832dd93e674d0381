//! Domain events (issue 21) against moto's EventBridge and SQS and the Stripe emulator: each
//! detail type made by the Stripe event or action that causes it, published by the publisher
//! to a bus, and read back from an SQS queue a rule on that bus delivers to, as a team's
//! consumer would. Duplicates and stale events publish nothing; a crash between the commit and
//! the publish still publishes, with the same ids.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use billing::adapters::bus::Bus;
use billing::domain::records::{OutboxRecord, keys};
use billing::services::publisher::PublishSummary;
use billing::testkit;
use billing::testkit::consumer::{Consumer, sqs_client};
use serde_json::{Value, json};

use crate::emulator::control;
use crate::helpers::{Stack, moto_endpoint};
use crate::webhook::deliver;

/// A bus of this test's own on moto, and a consumer of it (a rule with an SQS target).
pub struct Listener {
    pub bus: Bus,
    sqs: aws_sdk_sqs::Client,
    consumer: Consumer,
}

/// A bus client for the EventBridge at `endpoint`, on bus `name`.
fn bus_at(endpoint: &str, name: &str) -> Bus {
    let sdk = testkit::local_sdk();
    let client = aws_sdk_eventbridge::Client::from_conf(aws_sdk_eventbridge::config::Builder::from(&sdk).endpoint_url(endpoint).build());
    Bus::new(client, name, "billing")
}

/// A bus client for moto (the `EVENTBRIDGE_ENDPOINT` of a local run) on bus `name`.
pub fn moto_bus(name: &str) -> Bus {
    bus_at(moto_endpoint(), name)
}

/// A bus nothing listens for: EventBridge unreachable.
fn unreachable_bus() -> Bus {
    bus_at(&format!("http://127.0.0.1:{}", testkit::free_port()), "nowhere")
}

impl Listener {
    pub async fn on(prefix: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let bus = moto_bus(&name);
        assert!(bus.create().await.unwrap(), "the bus is new");
        let endpoint = url::Url::parse(moto_endpoint()).unwrap();
        let sqs = sqs_client(&testkit::local_sdk(), Some(&endpoint));
        let consumer = Consumer::attach(&sqs, &bus, &name, "billing", None).await.unwrap();
        Self { bus, sqs, consumer }
    }

    /// One publisher run of `state`'s outbox to this bus.
    pub async fn publish(&self, state: &billing::AppState) -> PublishSummary {
        state.publisher(&self.bus).run().await.unwrap()
    }

    /// Every EventBridge event that arrived so far (after a publish, moto has delivered it), in
    /// arrival order.
    pub async fn raw(&self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let bodies = self.consumer.receive(&self.sqs).await.unwrap();
            if bodies.is_empty() {
                return out;
            }
            out.extend(bodies.iter().map(|body| serde_json::from_str::<Value>(body).unwrap()));
        }
    }

    /// [`Listener::raw`] as `(detail-type, detail)`.
    pub async fn arrived(&self) -> Vec<(String, Value)> {
        let events = self.raw().await;
        events
            .into_iter()
            .map(|event| {
                assert_eq!(event["source"], "billing", "{event}");
                (event["detail-type"].as_str().unwrap().to_owned(), event["detail"].clone())
            })
            .collect()
    }

    /// Publishes, then what arrived.
    pub async fn drain(&self, state: &billing::AppState) -> Vec<(String, Value)> {
        let summary = self.publish(state).await;
        assert_eq!((summary.refused, summary.left), (0, 0), "{summary:?}");
        self.arrived().await
    }
}

fn kinds(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(kind, _)| kind.as_str()).collect()
}

pub fn of<'e>(events: &'e [(String, Value)], kind: &str) -> &'e Value {
    &events
        .iter()
        .find(|(k, _)| k == kind)
        .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
        .1
}

/// The detail conforms to its published schema (`docs/events/schemas`): every required field is
/// there, and no field the schema does not name.
pub fn conforms(kind: &str, detail: &Value) {
    let path = format!("{}/../docs/events/schemas/{kind}.json", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    for field in schema["required"].as_array().unwrap() {
        assert!(detail.get(field.as_str().unwrap()).is_some(), "{kind}: {field} missing in {detail}");
    }
    for field in detail.as_object().unwrap().keys() {
        assert!(properties.contains_key(field), "{kind}: {field} is not in the schema");
    }
}

/// Delivers the emulator's events from index `from` to the webhook, in order; their outcomes.
pub async fn deliver_since(stack: &Stack, from: usize) -> Vec<String> {
    let events: Vec<Value> = stack.emulator.shared.world.lock().await.events[from..]
        .iter()
        .map(|e| e.render())
        .collect();
    let mut outcomes = Vec::new();
    for event in events {
        let (status, answer) = deliver(stack, &event.to_string()).await;
        assert_eq!(status, 200, "{event} → {answer}");
        outcomes.push(answer["outcome"].as_str().unwrap_or_default().to_owned());
    }
    outcomes
}

async fn advance(stack: &Stack, days: i64) {
    let from = stack.emulator.shared.world.lock().await.events.len();
    let (status, answer) = control(&stack.emulator, "/_emulator/clock/advance", json!({"days": days})).await;
    assert_eq!(status, 200, "{answer}");
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    deliver_since(stack, from).await;
}

/// Stripe's event for the latest invoice's payment needing the customer (3-D Secure), as `id`:
/// the emulator has no 3-D Secure, so its `invoice.paid` event is retyped, a second later.
pub async fn action_required(stack: &Stack, id: &str) -> Value {
    let world = stack.emulator.shared.world.lock().await;
    let mut event = world.events.iter().rev().find(|e| e.event_type == "invoice.paid").unwrap().render();
    event["id"] = id.into();
    event["type"] = "invoice.payment_action_required".into();
    event["created"] = (event["created"].as_i64().unwrap() + 1).into();
    event["data"]["object"]["status"] = "open".into();
    event
}

async fn outbox(stack: &Stack) -> Vec<OutboxRecord> {
    stack.state.store.outbox(1000).await.unwrap()
}

#[tokio::test]
async fn subscribing_publishes_created_payment_and_entitlements_and_a_duplicate_publishes_nothing() {
    let stack = Stack::shared_clock("ev-sub", None, |_| {}).await;
    let listener = Listener::on("ev-sub").await;
    stack.subscribed_to(json!({"plan": "pro", "interval": "month"})).await;
    let outcomes = deliver_since(&stack, 0).await;
    let events = listener.drain(&stack.state).await;
    assert_eq!(
        kinds(&events),
        ["subscription.created", "entitlements.changed", "payment.succeeded"],
        "{outcomes:?}"
    );
    for (kind, detail) in &events {
        conforms(kind, detail);
        assert_eq!(detail["user_id"], "user_123");
        assert!(detail["customer_id"].as_str().unwrap().starts_with("cus_"));
    }
    let created = of(&events, "subscription.created");
    assert_eq!(
        (created["plan"].as_str(), created["status"].as_str()),
        (Some("pro"), Some("active"))
    );
    let access = of(&events, "entitlements.changed");
    assert_eq!(access["before"], json!(["projects"]), "the free plan's");
    assert_eq!(access["added"], json!(["api_access", "exports", "priority_support"]));
    let paid = of(&events, "payment.succeeded");
    assert!(paid["invoice_id"].as_str().unwrap().starts_with("in_"));
    assert!(paid["amount"].as_i64().unwrap() > 0);
    assert!(paid["stripe_event_id"].as_str().unwrap().starts_with("evt_"));
    let versions: Vec<u64> = events.iter().map(|(_, d)| d["version"].as_u64().unwrap()).collect();
    assert!(
        versions.windows(2).all(|w| w[0] <= w[1]),
        "published in version order: {versions:?}"
    );

    // Stripe delivers every event again: each is a duplicate (or a type the engine ignores),
    // and nothing is recorded.
    let again = deliver_since(&stack, 0).await;
    assert!(again.iter().all(|o| o == "duplicate" || o == "ignored"), "{again:?}");
    assert!(again.iter().any(|o| o == "duplicate"));
    assert!(outbox(&stack).await.is_empty());
    assert!(listener.drain(&stack.state).await.is_empty());
}

#[tokio::test]
async fn a_stale_event_publishes_nothing() {
    let stack = Stack::shared_clock("ev-stale", None, |_| {}).await;
    let listener = Listener::on("ev-stale").await;
    stack.subscribed_to(json!({"plan": "starter", "interval": "month"})).await;
    deliver_since(&stack, 0).await;
    listener.drain(&stack.state).await;
    // An older state of the subscription, as a new event id created before what is stored.
    let old = {
        let world = stack.emulator.shared.world.lock().await;
        let mut event = world
            .events
            .iter()
            .find(|e| e.event_type == "customer.subscription.created")
            .unwrap()
            .render();
        event["id"] = "evt_stale_copy".into();
        event["created"] = (event["created"].as_i64().unwrap() - 60).into();
        event["data"]["object"]["status"] = "canceled".into();
        event
    };
    let (status, answer) = deliver(&stack, &old.to_string()).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("stale")));
    assert!(outbox(&stack).await.is_empty());
    assert!(listener.drain(&stack.state).await.is_empty());
}

#[tokio::test]
async fn a_failed_renewal_publishes_payment_failed_past_due_then_cancellation_in_order() {
    let stack = Stack::shared_clock("ev-dunning", None, |_| {}).await;
    let listener = Listener::on("ev-dunning").await;
    // Paid with the card that pays now and fails every later charge.
    let (status, created) =
        crate::checkout::create(&stack, crate::checkout::post_checkout(json!({"plan": "pro", "interval": "month"}))).await;
    assert_eq!(status, 201, "{created}");
    crate::checkout::pay(&stack, created["id"].as_str().unwrap(), "4000000000000341").await;
    deliver_since(&stack, 0).await;
    assert_eq!(
        kinds(&listener.drain(&stack.state).await),
        ["subscription.created", "entitlements.changed", "payment.succeeded"]
    );
    advance(&stack, 31).await;
    let renewal = listener.drain(&stack.state).await;
    let failed = of(&renewal, "payment.failed");
    conforms("payment.failed", failed);
    assert!(failed["invoice_id"].as_str().unwrap().starts_with("in_"));
    assert!(failed["amount"].as_i64().unwrap() > 0);
    assert_eq!(failed["currency"], "usd");
    assert!(failed["attempt"].as_u64().unwrap() >= 1);
    assert!(failed["hosted_invoice_url"].as_str().unwrap().starts_with("http"));
    let updated = of(&renewal, "subscription.updated");
    conforms("subscription.updated", updated);
    assert_eq!(updated["status"], "past_due");
    assert!(updated["changed"].as_array().unwrap().contains(&json!("status")));
    assert!(
        !kinds(&renewal).contains(&"entitlements.changed"),
        "the grace period keeps the features: {renewal:?}"
    );

    advance(&stack, 8).await;
    let ended = listener.drain(&stack.state).await;
    // The retries that failed, then the end. Ordered by version: the entitlement summary's event
    // may come first (its version is its `created`; a fetched subscription's is the fetch's).
    assert!(kinds(&ended).contains(&"subscription.canceled"), "{ended:?}");
    assert!(kinds(&ended).contains(&"payment.failed"), "{ended:?}");
    let access = of(&ended, "entitlements.changed");
    assert_eq!(access["after"], json!(["projects"]));
    let all: Vec<u64> = renewal.iter().chain(&ended).map(|(_, d)| d["version"].as_u64().unwrap()).collect();
    assert!(all.windows(2).all(|w| w[0] <= w[1]), "{all:?}");
}

#[tokio::test]
async fn a_trial_warns_before_it_ends_and_a_change_and_a_cancel_are_published() {
    let stack = Stack::shared_clock("ev-trial", None, |_| {}).await;
    let listener = Listener::on("ev-trial").await;
    stack.subscribed_to(json!({"plan": "starter", "interval": "month"})).await;
    deliver_since(&stack, 0).await;
    let first = listener.drain(&stack.state).await;
    assert_eq!(of(&first, "subscription.created")["status"], "trialing");
    advance(&stack, 12).await;
    let warned = listener.drain(&stack.state).await;
    let trial = of(&warned, "trial.will_end");
    conforms("trial.will_end", trial);
    assert!(trial["trial_end"].as_i64().unwrap() > 0);

    let change = crate::revenue::subscription_call(&stack, "subscription-change.json", "user_123", json!({"plan": "pro"}), None).await;
    assert_eq!(change.0, 200, "{}", change.1);
    let changed = listener.drain(&stack.state).await;
    let updated = of(&changed, "subscription.updated");
    assert_eq!(updated["plan"], "pro");
    assert_eq!(updated["previous"]["plan"], "starter");
    assert!(
        of(&changed, "entitlements.changed")["added"]
            .as_array()
            .unwrap()
            .contains(&json!("api_access"))
    );

    let cancel =
        crate::revenue::subscription_call(&stack, "subscription-cancel.json", "user_123", json!({"at_period_end": true}), None).await;
    assert_eq!(cancel.0, 200, "{}", cancel.1);
    let canceling = listener.drain(&stack.state).await;
    let updated = of(&canceling, "subscription.updated");
    assert_eq!(updated["changed"], json!(["cancellation"]));
    assert_eq!(updated["cancel_at_period_end"], true);
}

#[tokio::test]
async fn a_purchase_completes_then_a_refund_takes_it_back() {
    let stack = Stack::new("ev-purchase", vec![]).await;
    let listener = Listener::on("ev-purchase").await;
    let (session, charge) = crate::hardening::paid_purchase(&stack).await;
    let bought = listener.drain(&stack.state).await;
    assert_eq!(kinds(&bought), ["purchase.completed", "entitlements.changed"]);
    let completed = of(&bought, "purchase.completed");
    conforms("purchase.completed", completed);
    assert_eq!(completed["subscription_id"], session.as_str());
    crate::hardening::change_and_deliver(&stack, "charge.refunded", |w| {
        w.create_refund(&crate::hardening::params(&format!("charge={charge}"))).unwrap();
    })
    .await;
    let refunded = listener.drain(&stack.state).await;
    assert_eq!(kinds(&refunded), ["purchase.refunded", "entitlements.changed"]);
    conforms("purchase.refunded", of(&refunded, "purchase.refunded"));
    assert_eq!(of(&refunded, "entitlements.changed")["removed"], json!(["exports"]));
}

#[tokio::test]
async fn a_payment_needing_action_is_published_from_its_stripe_event() {
    let stack = Stack::new("ev-action", vec![]).await;
    let listener = Listener::on("ev-action").await;
    stack.subscribed_to(json!({"plan": "pro", "interval": "month"})).await;
    deliver_since(&stack, 0).await;
    listener.drain(&stack.state).await;
    let event = action_required(&stack, "evt_action_required_1").await;
    let (status, answer) = deliver(&stack, &event.to_string()).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")), "{answer}");
    let events = listener.drain(&stack.state).await;
    let action = of(&events, "payment.action_required");
    conforms("payment.action_required", action);
    assert_eq!(action["stripe_event_id"], "evt_action_required_1");
    assert!(action["hosted_invoice_url"].as_str().is_some());
}

#[tokio::test]
async fn usage_thresholds_are_published_once_per_period() {
    let stack = Stack::shared_clock("ev-usage", None, |_| {}).await;
    let listener = Listener::on("ev-usage").await;
    stack.subscribed_to(json!({"plan": "starter", "interval": "month"})).await;
    deliver_since(&stack, 0).await;
    listener.drain(&stack.state).await;
    let record = |quantity: u64, key: Option<&str>| {
        let mut payload = json!({"user_id": "user_123", "feature": "api_calls", "quantity": quantity});
        if let Some(key) = key {
            payload["idempotency_key"] = key.into();
        }
        usage::direct::invoke(&stack.state, payload)
    };
    assert_eq!(record(799, None).await["allowed"], true);
    assert!(listener.drain(&stack.state).await.is_empty(), "79.9 % is below the first threshold");
    assert_eq!(record(1, Some("k1")).await["allowed"], true);
    assert_eq!(record(100, None).await["allowed"], true);
    let at_80 = listener.drain(&stack.state).await;
    assert_eq!(kinds(&at_80), ["usage.threshold"], "once, however many records pass 80 %");
    let detail = &at_80[0].1;
    conforms("usage.threshold", detail);
    assert_eq!(
        (detail["threshold"].as_u64(), detail["used"].as_u64(), detail["limit"].as_u64()),
        (Some(80), Some(800), Some(1000))
    );
    assert_eq!(record(100, None).await["allowed"], true);
    let at_100 = listener.drain(&stack.state).await;
    assert_eq!(kinds(&at_100), ["usage.threshold"]);
    assert_eq!(at_100[0].1["threshold"], 100);
    assert_eq!(record(1, None).await["allowed"], false, "over the limit");
    assert!(listener.drain(&stack.state).await.is_empty());
}

#[tokio::test]
async fn a_crash_between_commit_and_publish_still_publishes_with_the_same_ids() {
    let stack = Stack::new("ev-crash", vec![]).await;
    let listener = Listener::on("ev-crash").await;
    stack.subscribed_to(json!({"plan": "pro", "interval": "month"})).await;
    let committed: Vec<String> = outbox(&stack).await.into_iter().map(|r| r.id).collect();
    assert!(!committed.is_empty(), "the change recorded its events");

    // The process that committed dies before publishing; the next one cannot reach EventBridge
    // at first: nothing is lost, the attempt is counted.
    let unreachable = unreachable_bus();
    let failed = stack.state.publisher(&unreachable).run().await.unwrap();
    assert!(failed.refused > 0 && failed.published == 0, "{failed:?}");
    let kept = outbox(&stack).await;
    assert_eq!(kept.len(), committed.len(), "nothing lost");
    assert!(
        kept.iter().all(|r| r.attempts == 0),
        "EventBridge's trouble is not held against the events"
    );

    // A fresh process publishes everything.
    let next = testkit::state(
        testkit::config(stack.state.store.table(), moto_endpoint(), Some(&stack.emulator.base_url())),
        billing::Needs::default(),
    )
    .unwrap();
    let events = listener.drain(&next).await;
    let published: BTreeSet<String> = events.iter().map(|(_, d)| d["id"].as_str().unwrap().to_owned()).collect();
    for id in &committed {
        assert!(published.contains(id), "{id} published: {published:?}");
    }

    // A publisher that put the events and died before removing them puts them again: the
    // consumer sees the same ids.
    let record = OutboxRecord::new("subscription.created", &committed[0], "cus_again", 1, 0, events[0].1.to_string(), 0);
    stack.state.store.commit_with_outbox(None, None, &[], &[record]).await.unwrap();
    let again = listener.drain(&next).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1["id"], events[0].1["id"], "a redelivery carries the same id");
}

#[tokio::test]
async fn an_event_eventbridge_keeps_refusing_is_parked_and_can_be_requeued() {
    let stack = Stack::new("ev-park", vec![]).await;
    let listener = Listener::on("ev-park").await;
    stack.subscribed_to(json!({"plan": "pro", "interval": "month"})).await;
    let pending = outbox(&stack).await.len();

    // EventBridge unreachable for a while: retried without end, nothing parked.
    let unreachable = unreachable_bus();
    for _ in 0..billing::domain::records::OUTBOX_MAX_ATTEMPTS + 2 {
        let run = stack.state.publisher(&unreachable).run().await.unwrap();
        assert_eq!((run.published, run.parked), (0, 0), "{run:?}");
    }
    assert_eq!(outbox(&stack).await.len(), pending);

    // An event EventBridge refuses itself (its detail is not JSON): counted, parked after ten
    // refusals, and the customer's later events go on.
    let poison = OutboxRecord::new("subscription.updated", "poison-1", "cus_poison", 1, 0, "{not json".into(), 0);
    let after = OutboxRecord::new(
        "subscription.updated",
        "after-1",
        "cus_poison",
        2,
        0,
        json!({"id": "after-1"}).to_string(),
        0,
    );
    stack
        .state
        .store
        .commit_with_outbox(None, None, &[], &[poison, after])
        .await
        .unwrap();
    let mut parked = 0;
    for _ in 0..billing::domain::records::OUTBOX_MAX_ATTEMPTS {
        parked += listener.publish(&stack.state).await.parked;
    }
    assert_eq!(parked, 1);
    let arrived = listener.arrived().await;
    let ids: Vec<&str> = arrived.iter().map(|(_, d)| d["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"after-1"), "the customer went on after the parked event: {ids:?}");
    assert_eq!(ids.last(), Some(&"after-1"), "and only after it was parked");
    let parked_items = stack.state.store.outbox_under(keys::OUTBOX_PARKED, 100).await.unwrap();
    assert_eq!(parked_items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["poison-1"]);
    assert!(stack.state.store.requeue_outbox("poison-1").await.unwrap());
    assert_eq!(
        outbox(&stack).await.iter().map(|r| (r.id.as_str(), r.attempts)).collect::<Vec<_>>(),
        [("poison-1", 0)]
    );
}

#[tokio::test]
async fn a_grace_period_that_runs_out_publishes_the_lost_features() {
    let stack = Stack::shared_clock("ev-grace", None, |_| {}).await;
    let listener = Listener::on("ev-grace").await;
    let (status, created) =
        crate::checkout::create(&stack, crate::checkout::post_checkout(json!({"plan": "pro", "interval": "month"}))).await;
    assert_eq!(status, 201, "{created}");
    crate::checkout::pay(&stack, created["id"].as_str().unwrap(), "4000000000000341").await;
    deliver_since(&stack, 0).await;
    listener.drain(&stack.state).await;
    advance(&stack, 31).await;
    let renewal = listener.drain(&stack.state).await;
    assert!(
        !kinds(&renewal).contains(&"entitlements.changed"),
        "in the grace period: {renewal:?}"
    );
    // Stripe's dunning may still be retrying: no Stripe event says the grace has run out.
    let leaving = stack.state.store.outbox_under(keys::OUTBOX_LATER, 10).await.unwrap();
    assert_eq!(leaving.len(), 1, "a check waits for the end of the grace");
    let grace = stack.state.config.access.past_due_grace.as_secs() as i64;
    let (status, _) = control(&stack.emulator, "/_emulator/clock/advance", json!({"seconds": grace + 60})).await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let ended = listener.drain(&stack.state).await;
    let access = of(&ended, "entitlements.changed");
    assert_eq!(access["after"], json!(["projects"]), "{ended:?}");
    assert_eq!(access["status"], "past_due");
    assert!(stack.state.store.outbox_under(keys::OUTBOX_LATER, 10).await.unwrap().is_empty());
}
