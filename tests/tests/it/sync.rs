//! The sync engine and the Stripe port against moto and the emulator: the race of a fetch with a
//! change Stripe makes right after serving it, fetched arrivals, the Events API, and pooled
//! connections.

use std::sync::Arc;

use billing::domain::clock::Clock;
use billing::domain::event;
use billing::services::sync::{Arrival, Outcome};
use billing::testkit;
use serde_json::{Value, json};

use crate::checkout::{create, get_checkout, pay};
use crate::emulator::control;
use crate::helpers::{Stack, body};

/// A clock that reads `before` until the emulator has served one more API request than it had
/// when the clock was made, then `before + 1`: Stripe serves a fetch within second `before`, and
/// a clock read after the response lands in the next second.
struct TicksWhenStripeAnswers {
    emulator: Arc<stripe_emulator::shared::Shared>,
    served_before: u64,
    before: i64,
}

impl TicksWhenStripeAnswers {
    fn new(stack: &Stack, before: i64) -> Arc<Self> {
        Arc::new(Self {
            emulator: stack.emulator.shared.clone(),
            served_before: stack.emulator.shared.api_requests(),
            before,
        })
    }
}

impl std::fmt::Debug for TicksWhenStripeAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicksWhenStripeAnswers").field("before", &self.before).finish()
    }
}

impl Clock for TicksWhenStripeAnswers {
    fn now(&self) -> i64 {
        if self.emulator.api_requests() > self.served_before {
            self.before + 1
        } else {
            self.before
        }
    }
}

/// Pays a `pro` monthly checkout of `user_123` in the emulator (no webhooks are delivered) and
/// returns (session id, subscription id).
async fn paid_checkout(stack: &Stack) -> (String, String) {
    let (status, created) = create(stack, testkit::event("checkout-create.json")).await;
    assert_eq!(status, 201, "{created}");
    let session = created["id"].as_str().unwrap().to_owned();
    pay(stack, &session, "4242424242424242").await;
    let subscription = stack.emulator.shared.world.lock().await.sessions[&session]
        .subscription
        .clone()
        .unwrap();
    (session, subscription)
}

/// Cancels `subscription` in the emulator now and returns its `customer.subscription.deleted`
/// event, dated `created`: the second in which Stripe made the change.
async fn cancel_in_stripe(stack: &Stack, subscription: &str, created: i64) -> event::Envelope {
    let mut world = stack.emulator.shared.world.lock().await;
    world.cancel_subscription(subscription).unwrap();
    let mut deleted = world
        .events
        .iter()
        .rev()
        .find(|e| e.event_type == "customer.subscription.deleted")
        .unwrap()
        .render();
    deleted["created"] = created.into();
    event::parse(deleted.to_string().as_bytes()).unwrap()
}

async fn status(stack: &Stack, subscription: &str) -> String {
    stack
        .state
        .store
        .subscription("user_123", subscription)
        .await
        .unwrap()
        .map(|s| s.status.to_string())
        .unwrap_or_default()
}

fn refresh(subscription: &str) -> Arrival<'static> {
    Arrival::Subscription {
        user_id: "user_123".into(),
        subscription_id: subscription.into(),
    }
}

#[tokio::test]
async fn a_change_stripe_makes_right_after_serving_a_fetch_is_not_lost() {
    let mut stack = Stack::new("sync-race", vec![]).await;
    let (_, subscription) = paid_checkout(&stack).await;

    // The fetch starts in second C and Stripe serves it; our clock reads C + 1 once the response
    // is in. Then, still in second C, Stripe cancels the subscription.
    let c = billing::now_epoch();
    let clock = TicksWhenStripeAnswers::new(&stack, c);
    stack.state = stack.state.with_clock(clock);
    let engine = stack.state.sync().unwrap();
    assert_eq!(engine.apply(refresh(&subscription)).await.unwrap(), Outcome::Applied);
    assert_eq!(status(&stack, &subscription).await, "active");
    let deleted = cancel_in_stripe(&stack, &subscription, c).await;

    // Stamped with the time after the response (C + 1), the fetch would outrank this event
    // (version C) and the cancellation would be dropped as stale for good.
    assert_eq!(engine.apply(&deleted).await.unwrap(), Outcome::Applied);
    assert_eq!(status(&stack, &subscription).await, "canceled");
}

/// Holds the emulator's answer to the next `GET /v1/subscriptions/{id}` back for `ms` after it
/// was served: the fetch reads the state of that moment and arrives late.
async fn slow_next_fetch(stack: &Stack, subscription: &str, ms: u64) {
    let (status, body) = control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": format!("/v1/subscriptions/{subscription}"), "method": "GET", "delay_ms": ms, "count": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_older_fetch_never_lands_over_state_written_while_it_was_in_flight() {
    let stack = Stack::new("sync-slow-fetch", vec![]).await;
    let (_, subscription) = paid_checkout(&stack).await;
    let engine = stack.state.sync().unwrap();
    assert_eq!(engine.apply(refresh(&subscription)).await.unwrap(), Outcome::Applied);

    // L1 fetches "active", and its answer is slow. Meanwhile Stripe cancels the subscription and
    // the cancellation is stored. L1's answer, older than what is stored now, must not land.
    slow_next_fetch(&stack, &subscription, 700).await;
    let slow = engine.apply(refresh(&subscription));
    let cancel = async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let deleted = cancel_in_stripe(&stack, &subscription, billing::now_epoch()).await;
        engine.apply(&deleted).await.unwrap()
    };
    let (slow, canceled) = tokio::join!(slow, cancel);
    assert_eq!(canceled, Outcome::Applied);
    assert_eq!(slow.unwrap(), Outcome::Applied, "the slow fetch read again and fetched again");
    assert_eq!(status(&stack, &subscription).await, "canceled");
}

#[tokio::test]
async fn a_payload_stored_while_a_fetch_was_in_flight_is_not_overwritten_by_it() {
    let stack = Stack::new("sync-slow-payload", vec![]).await;
    let (_, subscription) = paid_checkout(&stack).await;
    let engine = stack.state.sync().unwrap();
    assert_eq!(engine.apply(refresh(&subscription)).await.unwrap(), Outcome::Applied);

    slow_next_fetch(&stack, &subscription, 700).await;
    let slow = engine.apply(refresh(&subscription));
    let update = async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let mut world = stack.emulator.shared.world.lock().await;
        let params = stripe_emulator::params::Params::parse(b"cancel_at_period_end=true").unwrap();
        world.update_subscription(&subscription, &params).unwrap();
        let updated = world
            .events
            .iter()
            .rev()
            .find(|e| e.event_type == "customer.subscription.updated")
            .unwrap()
            .render();
        drop(world);
        let updated = event::parse(updated.to_string().as_bytes()).unwrap();
        engine.apply(&updated).await.unwrap()
    };
    let (slow, updated) = tokio::join!(slow, update);
    assert_eq!((slow.unwrap(), updated), (Outcome::Applied, Outcome::Applied));
    let stored = stack.state.store.subscription("user_123", &subscription).await.unwrap().unwrap();
    assert!(stored.cancel_at_period_end, "Stripe's current state, not the slow fetch's");
}

#[tokio::test]
async fn the_eager_sync_racing_a_cancellation_ends_canceled() {
    let mut stack = Stack::new("sync-eager-race", vec![]).await;
    let (session, subscription) = paid_checkout(&stack).await;
    let c = billing::now_epoch();
    let clock = TicksWhenStripeAnswers::new(&stack, c);
    stack.state = stack.state.with_clock(clock);

    let response = checkout::handler::handle(&stack.state, get_checkout(&session)).await.unwrap();
    let synced = body(&response);
    assert_eq!(
        (response.status().as_u16(), synced["subscription"]["status"].as_str()),
        (200, Some("active")),
        "{synced}"
    );

    // `customer.subscription.deleted` of second C arrives through the webhook.
    let deleted = cancel_in_stripe(&stack, &subscription, c).await;
    let payload = serde_json::to_string(&json!({
        "id": deleted.id, "object": "event", "type": deleted.event_type, "created": deleted.created, "livemode": false,
        "api_version": deleted.api_version, "data": {"object": deleted.object}
    }))
    .unwrap();
    let (code, outcome) = crate::webhook::deliver(&stack, &payload).await;
    assert_eq!((code, outcome["outcome"].as_str()), (200, Some("applied")), "{outcome}");
    assert_eq!(status(&stack, &subscription).await, "canceled");
}

#[tokio::test]
async fn fetched_state_lands_above_the_stored_version_it_read() {
    let mut stack = Stack::new("sync-fetched", vec![]).await;
    let (_, subscription) = paid_checkout(&stack).await;
    let events = stack
        .emulator
        .shared
        .world
        .lock()
        .await
        .events
        .iter()
        .map(|e| e.render())
        .collect::<Vec<Value>>();
    let created = events.iter().find(|e| e["type"] == "customer.subscription.created").unwrap();
    let c = created["created"].as_i64().unwrap();
    let created = event::parse(created.to_string().as_bytes()).unwrap();

    stack.state = stack
        .state
        .with_clock(Arc::new(Fixed(c + billing::domain::version::CLOCK_SKEW_MARGIN)));
    let engine = stack.state.sync().unwrap();
    assert_eq!(engine.apply(&created).await.unwrap(), Outcome::Applied);
    let stored = stack.state.store.subscription("user_123", &subscription).await.unwrap().unwrap();

    // A fetch stamped in the stored payload's second lands above it.
    assert_eq!(engine.apply(refresh(&subscription)).await.unwrap(), Outcome::Applied);
    let above = stack.state.store.subscription("user_123", &subscription).await.unwrap().unwrap();
    assert!(above.version > stored.version && above.version.second() == stored.version.second());

    // A fetch whose stamp is older than what it read (our clock behind), finding the same state:
    // nothing to write, the version stays.
    stack.state = stack.state.with_clock(Arc::new(Fixed(c - 60)));
    let engine = stack.state.sync().unwrap();
    assert_eq!(engine.apply(refresh(&subscription)).await.unwrap(), Outcome::Applied);
    let again = stack.state.store.subscription("user_123", &subscription).await.unwrap().unwrap();
    assert_eq!(again, above);
    // A payload of that second (another event) cannot be ordered against it: Stripe is asked
    // again, and what it says lands above.
    let mut same_second = created.clone();
    same_second.id = format!("{}_again", created.id);
    assert_eq!(engine.apply(&same_second).await.unwrap(), Outcome::Applied);
    let latest = stack.state.store.subscription("user_123", &subscription).await.unwrap().unwrap();
    assert!(latest.version > again.version && latest.version.second() == c);
    assert_eq!(engine.apply(&created).await.unwrap(), Outcome::Duplicate);
}

#[derive(Debug)]
struct Fixed(i64);

impl Clock for Fixed {
    fn now(&self) -> i64 {
        self.0
    }
}

#[tokio::test]
async fn the_port_lists_events_oldest_first_and_pages_back() {
    let stack = Stack::new("sync-events", vec![]).await;
    paid_checkout(&stack).await;
    let stripe = stack.state.stripe().unwrap();
    let all = billing::services::sync::handled_event_types();
    assert!(
        stripe.list_events(&all, 0, None, None, 10).await.is_err(),
        "more than 20 types in one request: Stripe refuses it"
    );
    let groups = billing::services::sync::handled_event_type_groups();
    assert!(groups.iter().all(|g| g.len() <= 20) && groups.concat() == all, "{groups:?}");
    let types = groups[0].clone();
    let first = stripe.list_events(&types, 0, None, None, 2).await.unwrap();
    assert_eq!(first.events.len(), 2);
    assert!(first.has_more);
    assert!(first.events[0].created <= first.events[1].created);
    let rest = stripe.list_events(&types, 0, None, first.last_id.as_deref(), 100).await.unwrap();
    assert!(!rest.has_more);
    let all: Vec<&str> = rest.events.iter().chain(&first.events).map(|e| e.event_type.as_str()).collect();
    assert!(
        all.contains(&"checkout.session.completed") && all.contains(&"invoice.paid"),
        "{all:?}"
    );
    assert!(!all.contains(&"customer.created"), "only the types asked for");
    let none = stripe.list_events(&types, billing::now_epoch() + 60, None, None, 10).await.unwrap();
    assert!(none.events.is_empty());
}

#[tokio::test]
async fn a_warm_process_reuses_one_stripe_connection() {
    let stack = Stack::new("sync-pool", vec![]).await;
    let stripe = stack.state.stripe().unwrap();
    let before = stack.emulator.shared.connections();
    for _ in 0..10 {
        stripe.price_id("pro_month").await.unwrap();
        assert!(stripe.retrieve_subscription("sub_missing").await.unwrap().is_none());
        // async-stripe's typed requests go through the same pool.
        stripe_product::price::ListPrice::new().limit(1).send(stripe.http()).await.unwrap();
    }
    assert_eq!(stack.emulator.shared.connections() - before, 1, "one connection for 20 calls");
    assert!(stack.stripe_requests().await >= 20);
}

#[tokio::test]
async fn warm_up_opens_the_connections_during_init() {
    let stack = Stack::new("sync-warm", vec![]).await;
    let before = stack.emulator.shared.connections();
    stack.state.warm_up().await;
    assert_eq!(stack.emulator.shared.connections() - before, 1);
    stack.state.stripe().unwrap().price_id("pro_year").await.unwrap();
    assert_eq!(stack.emulator.shared.connections() - before, 1, "the first request reuses it");
}
