//! The usage reporter's queue against moto and the Stripe emulator on a shared
//! clock: the whole queue is worked through, a batch Stripe keeps refusing is parked after a
//! bounded number of runs, and a batch past Stripe's 24-hour identifier window is resent only
//! when Stripe's meter shows none of it. A unit is never billed twice.

use billing::domain::records::{UsageBatch, keys};
use serde_json::{Value, json};

use crate::emulator::control;
use crate::helpers::Stack;

/// A pro subscriber (metered api_calls); its customer id.
async fn metered_customer(stack: &Stack) -> String {
    stack.subscribed_to(json!({"plan": "pro", "interval": "month"})).await;
    stack
        .state
        .store
        .user_items("user_123")
        .await
        .unwrap()
        .customer
        .unwrap()
        .customer_id
}

async fn run_reporter(stack: &Stack) -> Value {
    stack.run_reporter().await
}

/// Units Stripe's meter holds for `customer`.
async fn in_stripe(stack: &Stack, customer: &str) -> i64 {
    let world = stack.emulator.shared.world.lock().await;
    world.meter_events.iter().filter(|e| e.customer == customer).map(|e| e.value).sum()
}

async fn record(stack: &Stack, quantity: u64) {
    let answer = usage::direct::invoke(
        &stack.state,
        json!({"user_id": "user_123", "feature": "api_calls", "quantity": quantity}),
    )
    .await;
    assert_eq!(answer["allowed"], true, "{answer}");
}

async fn advance(stack: &Stack, seconds: i64) {
    control(&stack.emulator, "/_emulator/clock/advance", json!({"seconds": seconds})).await;
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
}

#[tokio::test]
async fn the_whole_queue_is_worked_through_in_one_run() {
    let stack = Stack::shared_clock("rq-whole", None, |_| {}).await;
    let customer = metered_customer(&stack).await;
    let now = stack.state.clock.now();
    // More sealed batches than the reporter used to read (250), as an outage leaves them.
    for i in 0..300u64 {
        let identifier = format!("rq-whole-{i}");
        let batch = UsageBatch {
            pk: keys::batch(&identifier),
            sk: keys::SK_BATCH.into(),
            identifier,
            counter_pk: keys::user("user_123"),
            counter_sk: keys::usage(now + 86_400, "api_calls"),
            customer_id: customer.clone(),
            meter: "api_calls".into(),
            from: i,
            to: i + 1,
            timestamp: now - 60,
            period_end: now + 86_400,
            state: "sealed".into(),
            report: Some(keys::REPORT_SEALED.into()),
            created_at: now - 600 + i as i64,
            refusals: 0,
            parked_reason: None,
            requeued_at: None,
            expires_at: None,
        };
        let item = serde_dynamo::to_item(&batch).unwrap();
        stack
            .state
            .store
            .client()
            .put_item()
            .table_name(stack.state.store.table())
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    let run = run_reporter(&stack).await;
    assert_eq!((run["sent"].as_u64(), run["units"].as_u64()), (Some(300), Some(300)), "{run}");
    assert_eq!(in_stripe(&stack, &customer).await, 300);
    assert!(stack.state.store.sealed_batches(1000).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_batch_stripe_keeps_refusing_is_parked_then_requeued_and_sent() {
    let stack = Stack::shared_clock("rq-parked", None, |_| {}).await;
    let customer = metered_customer(&stack).await;
    record(&stack, 12).await;
    let meter = stack.emulator.shared.world.lock().await.meters.keys().next().unwrap().clone();
    let client = reqwest::Client::new();
    let deactivate = |action: &'static str| {
        client
            .post(format!("{}v1/billing/meters/{meter}/{action}", stack.emulator.base_url()))
            .bearer_auth(billing::testkit::LOCAL_STRIPE_KEY)
            .send()
    };
    assert!(deactivate("deactivate").await.unwrap().status().is_success());
    let mut parked = 0;
    for run in 1..=billing::services::reporter::MAX_REFUSALS {
        let summary = run_reporter(&stack).await;
        parked += summary["parked"].as_u64().unwrap();
        if run < billing::services::reporter::MAX_REFUSALS {
            assert_eq!(
                (summary["failed"].as_u64(), parked),
                (Some(1), 0),
                "run {run}: retried, not parked yet: {summary}"
            );
        }
    }
    assert_eq!(parked, 1, "parked after {} refusals", billing::services::reporter::MAX_REFUSALS);
    let after = run_reporter(&stack).await;
    assert_eq!(
        (after["failed"].as_u64(), after["sent"].as_u64()),
        (Some(0), Some(0)),
        "never retried for ever: {after}"
    );
    let parked = stack.state.store.parked_batches(100).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert!(
        parked[0].parked_reason.as_deref().unwrap_or_default().contains("refused"),
        "{:?}",
        parked[0]
    );
    // After review: the meter is active again and the operator requeues the batch.
    assert!(deactivate("reactivate").await.unwrap().status().is_success());
    assert!(
        stack
            .state
            .store
            .requeue_batch(&parked[0].identifier, stack.state.clock.now())
            .await
            .unwrap()
    );
    let sent = run_reporter(&stack).await;
    assert_eq!(sent["units"].as_u64(), Some(12), "{sent}");
    assert_eq!(in_stripe(&stack, &customer).await, 12);
}

#[tokio::test]
async fn past_stripes_24_hour_identifier_window_a_batch_is_resent_only_when_stripe_has_none_of_it() {
    let stack = Stack::shared_clock("rq-window", None, |_| {}).await;
    let customer = metered_customer(&stack).await;
    // Sent, recorded by Stripe, but the answer is lost: the batch stays queued.
    record(&stack, 7).await;
    control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/billing/meter_events", "after": true, "count": 1}),
    )
    .await;
    let lost = run_reporter(&stack).await;
    assert_eq!(lost["failed"].as_u64(), Some(1), "{lost}");
    assert_eq!(in_stripe(&stack, &customer).await, 7);
    // A day later Stripe no longer remembers the identifier: a plain resend would count it
    // again. The reporter asks the meter first, finds the units, and parks the batch.
    advance(&stack, 86_400 + 120).await;
    let later = run_reporter(&stack).await;
    assert_eq!(later["parked"].as_u64(), Some(1), "{later}");
    assert_eq!(in_stripe(&stack, &customer).await, 7, "never billed twice");

    // Never recorded (Stripe failed before): a day later the meter shows nothing, so it is sent.
    record(&stack, 5).await;
    control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/billing/meter_events", "status": 500, "count": 1}),
    )
    .await;
    let failed = run_reporter(&stack).await;
    assert_eq!(failed["failed"].as_u64(), Some(1), "{failed}");
    advance(&stack, 86_400 + 120).await;
    let resent = run_reporter(&stack).await;
    assert_eq!(resent["units"].as_u64(), Some(5), "{resent}");
    assert_eq!(in_stripe(&stack, &customer).await, 12);
}
