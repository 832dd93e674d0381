//! Usage metering against moto and the Stripe emulator: the quota under concurrency,
//! idempotent retries, period rollover, the routes, and the reporter's exactly-once delivery to
//! Stripe's meters (a lost answer, a Stripe outage, runs that find nothing new).

use std::sync::Arc;

use billing::domain::plans::Catalog;
use billing::services::usage::UsageError;
use billing::testkit;
use serde_json::{Value, json};

use crate::emulator::control;
use crate::helpers::{Stack, TestClock, body};

/// The embedded catalog with the free plan's `api_calls` quota set to `limit`.
fn catalog_with_free_limit(limit: u64) -> Catalog {
    let mut catalog: Value = serde_json::from_str(billing::domain::plans::EMBEDDED_CATALOG).unwrap();
    let free = catalog["plans"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["free"] == true)
        .expect("the catalog has a free plan");
    assert_eq!(free["usage"]["api_calls"]["limit"], 100, "the free plan's quota is in the catalog");
    free["usage"]["api_calls"]["limit"] = limit.into();
    Catalog::from_json("test", &catalog.to_string()).unwrap()
}

/// Records usage the trusted way, a direct invocation of the usage function
/// (`events/usage-record-direct.json`'s shape), as `(status, body, resets_at)`: 200 and the
/// answer when counted, else the problem's status and the problem.
async fn post_usage(stack: &Stack, user: &str, body_json: Value, key: Option<&str>) -> (u16, Value, Option<String>) {
    let mut payload: Value = serde_json::from_str(&testkit::event_text("usage-record-direct.json")).unwrap();
    payload["user_id"] = user.into();
    payload["feature"] = body_json["feature"].clone();
    payload["quantity"] = body_json["quantity"].clone();
    match key {
        Some(key) => payload["idempotency_key"] = key.into(),
        None => {
            payload.as_object_mut().unwrap().remove("idempotency_key");
        }
    }
    let answer = usage::direct::invoke(&stack.state, payload).await;
    if answer["allowed"] == true {
        return (200, answer, None);
    }
    let problem = answer["problem"].clone();
    assert_eq!(answer["allowed"], false, "{answer}");
    let resets_at = problem.get("resets_at").map(Value::to_string);
    (problem["status"].as_u64().unwrap() as u16, problem, resets_at)
}

async fn get_usage(stack: &Stack, user: &str) -> Value {
    let req = testkit::event_with("usage-get.json", |e| {
        e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user.into();
    });
    let response = usage::handler::handle(&stack.state, req).await.unwrap();
    assert_eq!(response.status(), 200);
    body(&response)
}

/// A paid subscription of `user_123` to `plan`, synced eagerly.
async fn subscribed(stack: &Stack, plan: &str) -> String {
    stack.subscribed_to(json!({"plan": plan, "interval": "month"})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_callers_get_exactly_the_limit() {
    let mut stack = Stack::new("usage-race", vec![]).await;
    stack.state.catalog = catalog_with_free_limit(10);
    let stack = Arc::new(stack);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let stack = stack.clone();
        tasks.push(tokio::spawn(async move {
            stack.state.usage().record("racer", "api_calls", 1, None).await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(UsageError::OverLimit { limit: 10, used: 10, .. }) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((ok, refused), (10, 90));
    assert_eq!(get_usage(&stack, "racer").await["features"]["api_calls"]["used"], 10);
}

#[tokio::test]
async fn a_record_over_the_limit_is_refused_whole_with_the_reset_time() {
    let mut stack = Stack::new("usage-limit", vec![]).await;
    stack.state.catalog = catalog_with_free_limit(10);
    let (status, first, _) = post_usage(&stack, "u1", json!({"feature": "api_calls", "quantity": 7}), None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["used"].as_u64(), first["limit"].as_u64(), first["remaining"].as_u64()),
        (Some(7), Some(10), Some(3))
    );
    let alerts = |summary: serde_json::Value| summary["features"]["api_calls"]["thresholds"].clone();
    assert_eq!(alerts(get_usage(&stack, "u1").await), json!([]), "70 %: no alert crossed");
    let (status, refused, retry_after) = post_usage(&stack, "u1", json!({"feature": "api_calls", "quantity": 4}), None).await;
    assert_eq!((status, refused["type"].as_str()), (429, Some("/errors/usage-limit")), "{refused}");
    assert_eq!((refused["limit"].as_u64(), refused["used"].as_u64()), (Some(10), Some(7)));
    assert_eq!(refused["resets_at"], first["period_end"]);
    assert!(retry_after.is_some());
    let (status, body, _) = post_usage(&stack, "u1", json!({"feature": "api_calls", "quantity": 11}), None).await;
    assert_eq!((status, body["used"].as_u64()), (429, Some(7)), "more than the whole limit");
    let (status, last, _) = post_usage(&stack, "u1", json!({"feature": "api_calls", "quantity": 3}), None).await;
    assert_eq!((status, last["remaining"].as_u64()), (200, Some(0)));
    assert_eq!(
        alerts(get_usage(&stack, "u1").await),
        json!([80, 100]),
        "the alerts crossed this period"
    );
    let (status, body, _) = post_usage(&stack, "u1", json!({"feature": "exports", "quantity": 1}), None).await;
    assert_eq!((status, body["type"].as_str()), (403, Some("/errors/not-in-plan")), "{body}");
}

#[tokio::test]
async fn the_same_key_counts_once_and_answers_as_the_first_time() {
    let stack = Stack::new("usage-idem", vec![]).await;
    let record = json!({"feature": "api_calls", "quantity": 5});
    let (status, first, _) = post_usage(&stack, "u1", record.clone(), Some("k-1")).await;
    assert_eq!(status, 200, "{first}");
    let (_, other, _) = post_usage(&stack, "u1", json!({"feature": "api_calls", "quantity": 2}), Some("k-2")).await;
    assert_eq!(other["used"], 7);
    let (status, again, _) = post_usage(&stack, "u1", record.clone(), Some("k-1")).await;
    assert_eq!((status, &again), (200, &first), "the first answer, not a second count");
    assert_eq!(get_usage(&stack, "u1").await["features"]["api_calls"]["used"], 7);
    let (status, body, _) = post_usage(&stack, "u1", json!({"feature": "api_calls", "quantity": 6}), Some("k-1")).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (409, Some("/errors/idempotency-key-reused")),
        "{body}"
    );
    let (status, body, _) = post_usage(&stack, "u2", record, Some("k-1")).await;
    assert_eq!((status, body["used"].as_u64()), (200, Some(5)), "keys are per user");
}

#[tokio::test]
async fn a_renewal_starts_a_new_counter_and_so_does_a_new_month() {
    use billing::adapters::store::Write;
    let mut stack = Stack::with_config("usage-rollover", vec![], |c| c.usage_cache = std::time::Duration::ZERO).await;
    let clock = TestClock::at(billing::now_epoch());
    stack.state = stack.state.with_clock(clock.clone());
    let id = subscribed(&stack, "starter").await;
    let (status, first, _) = post_usage(&stack, "user_123", json!({"feature": "api_calls", "quantity": 1000}), None).await;
    assert_eq!((status, first["limit"].as_u64()), (200, Some(1000)), "{first}");
    let (status, _, _) = post_usage(&stack, "user_123", json!({"feature": "api_calls", "quantity": 1}), None).await;
    assert_eq!(status, 429);
    // The renewal: the stored subscription moves to the next period.
    let mut record = stack.state.store.subscription("user_123", &id).await.unwrap().unwrap();
    let end = record.current_period_end.unwrap();
    assert_eq!(first["period_end"], end);
    record.current_period_start = Some(end);
    record.current_period_end = Some(end + 30 * 86_400);
    record.version = billing::domain::version::Version::of_payload(end);
    stack.state.store.commit(None, None, &[Write::Subscription(record)]).await.unwrap();
    clock.set(end + 60);
    let (status, renewed, _) = post_usage(&stack, "user_123", json!({"feature": "api_calls", "quantity": 1}), None).await;
    assert_eq!(
        (status, renewed["used"].as_u64(), renewed["period_end"].as_i64()),
        (200, Some(1), Some(end + 30 * 86_400))
    );
    let summary = get_usage(&stack, "user_123").await;
    assert_eq!(
        (summary["period_start"].as_i64(), summary["features"]["api_calls"]["used"].as_u64()),
        (Some(end), Some(1))
    );

    // The free plan counts by calendar month (UTC).
    let december_end = 1_798_761_600; // 2027-01-01T00:00:00Z
    clock.set(december_end - 10);
    let (_, december, _) = post_usage(&stack, "free_user", json!({"feature": "api_calls", "quantity": 100}), None).await;
    assert_eq!(december["period_end"], december_end);
    clock.set(december_end);
    let (status, january, _) = post_usage(&stack, "free_user", json!({"feature": "api_calls", "quantity": 100}), None).await;
    assert_eq!((status, january["used"].as_u64()), (200, Some(100)), "{january}");
}

/// The emulator's summary of `customer`'s events on the `api_calls` meter.
async fn metered_in_stripe(stack: &Stack, customer: &str) -> u64 {
    let world = stack.emulator.shared.world.lock().await;
    world
        .meter_events
        .iter()
        .filter(|e| e.customer == customer && e.event_name == "api_calls")
        .map(|e| e.value)
        .sum::<i64>() as u64
}

async fn run_reporter(stack: &Stack) -> Value {
    stack.run_reporter().await
}

#[tokio::test]
async fn metered_usage_reaches_stripe_once_whatever_fails() {
    let stack = Stack::new("usage-report", vec![]).await;
    subscribed(&stack, "pro").await;
    let customer = stack
        .state
        .store
        .user_items("user_123")
        .await
        .unwrap()
        .customer
        .unwrap()
        .customer_id;
    for quantity in [7, 5] {
        let (status, body, _) = post_usage(&stack, "user_123", json!({"feature": "api_calls", "quantity": quantity}), None).await;
        assert_eq!((status, body["limit"].clone()), (200, Value::Null), "metered, no limit: {body}");
    }
    assert_eq!(get_usage(&stack, "user_123").await["features"]["api_calls"]["metered"], true);
    let summary = run_reporter(&stack).await;
    assert_eq!(
        (summary["sent"].as_u64(), summary["units"].as_u64()),
        (Some(1), Some(12)),
        "one event per counter: {summary}"
    );
    assert_eq!(metered_in_stripe(&stack, &customer).await, 12);
    let again = run_reporter(&stack).await;
    assert_eq!((again["sent"].as_u64(), again["units"].as_u64()), (Some(0), Some(0)), "{again}");

    // Stripe takes the event but the answer is lost: the batch stays sealed and is sent again
    // with its identifier; Stripe counts it once.
    post_usage(&stack, "user_123", json!({"feature": "api_calls", "quantity": 3}), None).await;
    control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/billing/meter_events", "count": 1, "after": true}),
    )
    .await;
    let lost = run_reporter(&stack).await;
    assert_eq!((lost["sent"].as_u64(), lost["failed"].as_u64()), (Some(0), Some(1)), "{lost}");
    let resent = run_reporter(&stack).await;
    assert_eq!((resent["sent"].as_u64(), resent["units"].as_u64()), (Some(1), Some(3)), "{resent}");
    assert_eq!(
        metered_in_stripe(&stack, &customer).await,
        15,
        "the lost answer's event counted once"
    );

    // Stripe unavailable: nothing lost, sent by the next run.
    post_usage(&stack, "user_123", json!({"feature": "api_calls", "quantity": 4}), None).await;
    control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/billing/meter_events", "count": 1, "status": 503}),
    )
    .await;
    let down = run_reporter(&stack).await;
    assert_eq!(down["failed"].as_u64(), Some(1), "{down}");
    assert_eq!(metered_in_stripe(&stack, &customer).await, 15);
    let up = run_reporter(&stack).await;
    assert_eq!(up["units"].as_u64(), Some(4), "{up}");
    assert_eq!(metered_in_stripe(&stack, &customer).await, 19);
    assert_eq!(run_reporter(&stack).await["sent"].as_u64(), Some(0));
}

#[tokio::test]
async fn units_of_a_plan_before_an_upgrade_are_never_billed_as_metered() {
    let stack = Stack::with_config("usage-upgrade", vec![], |c| c.usage_cache = std::time::Duration::ZERO).await;
    subscribed(&stack, "starter").await;
    let customer = stack
        .state
        .store
        .user_items("user_123")
        .await
        .unwrap()
        .customer
        .unwrap()
        .customer_id;
    let (status, first, _) = post_usage(&stack, "user_123", json!({"feature": "api_calls", "quantity": 900}), None).await;
    assert_eq!((status, first["limit"].as_u64()), (200, Some(1000)));
    let change = testkit::event_with("subscription-change.json", |e| {
        e["body"] = json!({"plan": "pro"}).to_string().into()
    });
    let response = subscription::handler::handle(&stack.state, change).await.unwrap();
    assert_eq!(response.status(), 200, "{}", body(&response));
    let (status, metered, _) = post_usage(&stack, "user_123", json!({"feature": "api_calls", "quantity": 5}), None).await;
    assert_eq!((status, metered["limit"].clone()), (200, Value::Null), "{metered}");
    let summary = run_reporter(&stack).await;
    assert_eq!(
        summary["units"].as_u64(),
        Some(5),
        "only the units counted while metered: {summary}"
    );
    assert_eq!(metered_in_stripe(&stack, &customer).await, 5);
    assert_eq!(
        get_usage(&stack, "user_123").await["features"]["api_calls"]["used"],
        905,
        "every unit of the period"
    );
}

#[tokio::test]
async fn a_key_past_its_day_counts_again() {
    use billing::adapters::store::{Counted, KeyedCount, UsageWrite};
    use billing::domain::usage::Period;
    let stack = Stack::new("usage-expired-key", vec![]).await;
    let write = UsageWrite {
        user_id: "u1",
        feature: "api_calls",
        period: Period {
            start: 0,
            end: 4_000_000_000,
        },
        quantity: 2,
        limit: Some(10),
        carried: 0,
        basis: None,
        metering: None,
        now: 1_800_000_000,
    };
    let store = &stack.state.store;
    let now = 1_800_000_000;
    assert!(matches!(
        store.count_usage_once(&write, "r1", "f", now).await.unwrap(),
        KeyedCount::Counted(Counted::Yes { used: 2, .. })
    ));
    assert!(matches!(
        store.count_usage_once(&write, "r1", "f", now + 60).await.unwrap(),
        KeyedCount::Seen(_)
    ));
    let later = now + billing::domain::records::REQUEST_TTL_SECS + 1;
    // The claim is past its day but still stored (TTL sweeps late): a new first use.
    assert!(matches!(
        store.count_usage_once(&write, "r1", "f", later).await.unwrap(),
        KeyedCount::Counted(Counted::Yes { used: 4, .. })
    ));
}
