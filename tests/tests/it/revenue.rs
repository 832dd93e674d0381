//! Revenue safety: each way a customer could keep paid value without paying, as a
//! regression test against moto and the Stripe emulator. The functions and the emulator share
//! one clock ([`Stack::shared_clock`]), so trial ends and renewals happen for both at once.

use billing::testkit;
use serde_json::{Value, json};

use crate::checkout::{create, get_checkout, pay, post_checkout};
use crate::emulator::control;
use crate::helpers::{Stack, body};
use crate::webhook::deliver;

fn as_user(event: &str, user: &str, payload: Option<Value>, key: Option<&str>) -> lambda_http::Request {
    testkit::event_with(event, |e| {
        e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user.into();
        if let Some(payload) = payload {
            e["body"] = payload.to_string().into();
        }
        if let Some(key) = key {
            e["headers"]["idempotency-key"] = key.into();
        }
    })
}

pub(crate) async fn subscription_call(stack: &Stack, event: &str, user: &str, payload: Value, key: Option<&str>) -> (u16, Value) {
    let response = subscription::handler::handle(&stack.state, as_user(event, user, Some(payload), key))
        .await
        .unwrap();
    (response.status().as_u16(), body(&response))
}

/// A paid subscription of `user_123` (checkout, paid, synced eagerly). Returns its id.
async fn subscribed(stack: &Stack, checkout: Value) -> String {
    stack.subscribed_to(checkout).await
}

/// Moves the shared clock and hands every event it caused to the webhook, in order.
async fn advance(stack: &Stack, seconds: i64) {
    let from = stack.emulator.shared.world.lock().await.events.len();
    let (status, answer) = control(&stack.emulator, "/_emulator/clock/advance", json!({"seconds": seconds})).await;
    assert_eq!(status, 200, "{answer}");
    // The functions' clock reads the emulator's file at most every 100 ms.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    deliver_since(stack, from).await;
}

async fn deliver_since(stack: &Stack, from: usize) {
    let events: Vec<Value> = stack.emulator.shared.world.lock().await.events[from..]
        .iter()
        .map(|e| e.render())
        .collect();
    for event in events {
        let (status, answer) = deliver(stack, &event.to_string()).await;
        assert_eq!(status, 200, "{event} → {answer}");
    }
}

/// The trusted record (a direct invocation of the usage function).
async fn record(stack: &Stack, user: &str, quantity: u64) -> Value {
    let payload = json!({"user_id": user, "feature": "api_calls", "quantity": quantity});
    usage::direct::invoke(&stack.state, payload).await
}

/// Positive invoice items of `subscription` no invoice has billed.
async fn uncollected(stack: &Stack, subscription: &str) -> Vec<i64> {
    let world = stack.emulator.shared.world.lock().await;
    world
        .invoice_items
        .values()
        .filter(|i| i.subscription.as_deref() == Some(subscription) && i.invoice.is_none() && i.amount > 0)
        .map(|i| i.amount)
        .collect()
}

/// A starter subscriber (14-day trial) whose trial has ended and whose first paid period began.
/// The subscription's latest invoice. Invoices issued in the same second are told apart by
/// their number (one sequence per customer), never by the map's (random-id) order.
fn last_invoice<'w>(world: &'w stripe_emulator::world::World, subscription: &str) -> &'w stripe_emulator::model::Invoice {
    world
        .invoices
        .values()
        .filter(|i| i.subscription.as_deref() == Some(subscription))
        .max_by_key(|i| (i.created, i.number.clone()))
        .expect("the subscription has an invoice")
}

async fn starter_after_trial(stack: &Stack) -> String {
    let id = subscribed(stack, json!({"plan": "starter", "interval": "month"})).await;
    advance(stack, 15 * 86_400).await;
    let status = stack.emulator.shared.world.lock().await.subscriptions[&id].status.clone();
    assert_eq!(status, "active");
    id
}

// ------------------------------------------------------------------ 1a

#[tokio::test]
async fn cancel_now_after_an_upgrade_bills_the_proration() {
    let stack = Stack::shared_clock("rev-cancel-upgrade", None, |_| {}).await;
    let id = starter_after_trial(&stack).await;
    let (status, answer) = subscription_call(&stack, "subscription-change.json", "user_123", json!({"quantity": 4}), None).await;
    assert_eq!(status, 200, "{answer}");
    let pending = uncollected(&stack, &id).await;
    assert!(
        pending.iter().sum::<i64>() > 0,
        "the upgrade left a positive proration to bill: {pending:?}"
    );
    let (status, answer) = subscription_call(
        &stack,
        "subscription-cancel.json",
        "user_123",
        json!({"at_period_end": false}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        uncollected(&stack, &id).await,
        Vec::<i64>::new(),
        "every positive item is on the final invoice"
    );
    let world = stack.emulator.shared.world.lock().await;
    let last = last_invoice(&world, &id);
    assert!(
        last.lines.iter().any(|l| l.proration && l.amount > 0),
        "the upgrade's proration is billed"
    );
    assert_eq!(last.status, "paid");
}

#[tokio::test]
async fn cancel_now_with_cancel_prorate_still_credits_the_unused_time() {
    let stack = Stack::shared_clock("rev-cancel-credit", None, |c| c.subscription.cancel_prorate = true).await;
    let id = starter_after_trial(&stack).await;
    let (status, answer) = subscription_call(
        &stack,
        "subscription-cancel.json",
        "user_123",
        json!({"at_period_end": false}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let world = stack.emulator.shared.world.lock().await;
    let last = last_invoice(&world, &id);
    assert!(
        last.lines.iter().any(|l| l.proration && l.amount < 0),
        "a credit for the unused time"
    );
    let customer = &world.subscriptions[&id].customer;
    assert!(world.customers[customer].balance < 0, "credited to the customer's balance");
}

#[tokio::test]
async fn a_cancel_at_period_end_bills_pending_prorations_when_the_period_ends() {
    let stack = Stack::shared_clock("rev-cancel-end", None, |_| {}).await;
    let id = starter_after_trial(&stack).await;
    let (status, _) = subscription_call(&stack, "subscription-change.json", "user_123", json!({"quantity": 3}), None).await;
    assert_eq!(status, 200);
    let (status, _) = subscription_call(&stack, "subscription-cancel.json", "user_123", json!({}), None).await;
    assert_eq!(status, 200);
    assert!(!uncollected(&stack, &id).await.is_empty());
    advance(&stack, 31 * 86_400).await;
    let world = stack.emulator.shared.world.lock().await;
    assert_eq!(world.subscriptions[&id].status, "canceled");
    drop(world);
    assert_eq!(
        uncollected(&stack, &id).await,
        Vec::<i64>::new(),
        "collected at the end of the period, as Stripe does"
    );
}

// ------------------------------------------------------------------ 1b

#[tokio::test]
async fn a_period_restart_does_not_grant_a_spent_quota_again() {
    // Read what the user may count on every record, so each change is seen at once.
    let stack = Stack::shared_clock("rev-quota-restart", None, |c| c.usage_cache = std::time::Duration::ZERO).await;
    starter_after_trial(&stack).await;
    assert_eq!(record(&stack, "user_123", 1000).await["allowed"], true);
    let refused = record(&stack, "user_123", 1).await;
    assert_eq!(refused["problem"]["type"], "/errors/usage-limit", "{refused}");
    for interval in ["year", "month"] {
        let (status, answer) = subscription_call(&stack, "subscription-change.json", "user_123", json!({"interval": interval}), None).await;
        assert_eq!(status, 200, "{answer}");
        let after = record(&stack, "user_123", 1).await;
        assert_eq!(after["allowed"], false, "after → {interval}: {after}");
        assert_eq!(
            (after["used"].as_u64(), after["limit"].as_u64()),
            (Some(1000), Some(1000)),
            "{after}"
        );
    }
    let summary = usage::handler::handle(&stack.state, as_user("usage-get.json", "user_123", None, None))
        .await
        .unwrap();
    assert_eq!(
        body(&summary)["features"]["api_calls"]["used"],
        1000,
        "the spent quota shows in the new period"
    );
    // A renewal is a new paid period: the quota starts again.
    advance(&stack, 31 * 86_400).await;
    assert_eq!(record(&stack, "user_123", 1).await["allowed"], true);
}

// ------------------------------------------------------------------ 1c

#[tokio::test]
async fn a_users_token_records_nothing_and_a_direct_invocation_counts() {
    let stack = Stack::shared_clock("rev-trusted", None, |_| {}).await;
    let req = as_user(
        "usage-record.json",
        "user_123",
        Some(json!({"feature": "api_calls", "quantity": 1_000_000})),
        None,
    );
    let response = usage::handler::handle(&stack.state, req).await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(body(&response)["type"], "/errors/trusted-caller-required");
    assert_eq!(stack.item_count().await, 0, "nothing recorded");
    // events/usage-record-direct.json, as `cargo lambda invoke usage` sends it.
    let payload: Value = serde_json::from_str(&testkit::event_text("usage-record-direct.json")).unwrap();
    let answer = usage::direct::invoke(&stack.state, payload.clone()).await;
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(
        (answer["feature"].as_str(), answer["used"].as_u64(), answer["limit"].as_u64()),
        (Some("api_calls"), Some(1), Some(100))
    );
    assert_eq!(answer["remaining"], 99);
    assert!(answer["period_end"].is_i64());
    let again = usage::direct::invoke(&stack.state, payload).await;
    assert_eq!(again, answer, "its idempotency key counts once");
}

// ------------------------------------------------------------------ 1d

#[tokio::test]
async fn metered_units_stop_at_the_ceiling() {
    let mut catalog: Value = serde_json::from_str(billing::domain::plans::EMBEDDED_CATALOG).unwrap();
    let pro = catalog["plans"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["id"] == "pro")
        .unwrap();
    pro["usage"]["api_calls"]["ceiling"] = 50.into();
    let stack = Stack::shared_clock("rev-ceiling", Some(&catalog.to_string()), |_| {}).await;
    subscribed(&stack, json!({"plan": "pro", "interval": "month"})).await;
    assert_eq!(record(&stack, "user_123", 40).await["allowed"], true);
    let over = record(&stack, "user_123", 20).await;
    assert_eq!(over["allowed"], false);
    assert_eq!(over["problem"]["type"], "/errors/usage-ceiling", "{over}");
    assert_eq!((over["used"].as_u64(), over["limit"].as_u64()), (Some(40), Some(50)));
    assert_eq!(record(&stack, "user_123", 10).await["allowed"], true);
    assert_eq!(record(&stack, "user_123", 1).await["allowed"], false);
    let default = billing::domain::plans::Catalog::embedded().unwrap();
    assert_eq!(
        default.get("pro").unwrap().usage["api_calls"].ceiling,
        Some(billing::domain::plans::DEFAULT_METERED_CEILING),
        "every metered counter has a ceiling"
    );
}

// ------------------------------------------------------------------ 1f

#[tokio::test]
async fn usage_before_a_cancel_now_is_billed_and_none_is_metered_after() {
    let stack = Stack::shared_clock("rev-cancel-usage", None, |_| {}).await;
    let id = subscribed(&stack, json!({"plan": "pro", "interval": "month"})).await;
    // Counted while metered and not reported yet; the process now holds the pro allowance.
    assert_eq!(record(&stack, "user_123", 30).await["allowed"], true);
    let (status, answer) = subscription_call(
        &stack,
        "subscription-cancel.json",
        "user_123",
        json!({"at_period_end": false}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let customer = {
        let world = stack.emulator.shared.world.lock().await;
        let last = last_invoice(&world, &id);
        let usage: u64 = last
            .lines
            .iter()
            .filter(|l| !l.proration && l.invoice_item.is_none())
            .map(|l| l.quantity)
            .sum();
        assert_eq!(usage, 30, "the units counted before the cancel are on its final invoice");
        world.subscriptions[&id].customer.clone()
    };
    // The process's cached allowance still says pro: the write itself refuses to meter, and the
    // record is judged again on the free plan.
    let after = record(&stack, "user_123", 5).await;
    assert_eq!(
        (after["allowed"].as_bool(), after["limit"].as_u64()),
        (Some(true), Some(100)),
        "{after}"
    );
    let items = stack.state.store.user_items_consistent("user_123").await.unwrap();
    let metered: u64 = items
        .usage
        .iter()
        .filter(|c| c.customer_id.as_deref() == Some(&customer))
        .map(|c| c.metered)
        .sum();
    assert_eq!(metered, 30, "nothing metered after the cancel");
}

#[tokio::test]
async fn a_cancel_now_whose_usage_cannot_be_reported_is_refused_and_changes_nothing() {
    let stack = Stack::shared_clock("rev-cancel-unreported", None, |_| {}).await;
    let id = subscribed(&stack, json!({"plan": "pro", "interval": "month"})).await;
    assert_eq!(record(&stack, "user_123", 7).await["allowed"], true);
    let fault = json!({"path_prefix": "/v1/billing/meter_events", "status": 500, "count": 5});
    control(&stack.emulator, "/_emulator/faults", fault).await;
    let (status, answer) = subscription_call(
        &stack,
        "subscription-cancel.json",
        "user_123",
        json!({"at_period_end": false}),
        None,
    )
    .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(stack.emulator.shared.world.lock().await.subscriptions[&id].status, "active");
    // The metering opened again: the subscription goes on billing its usage.
    let after = record(&stack, "user_123", 1).await;
    assert_eq!((after["allowed"].as_bool(), after["limit"].as_u64()), (Some(true), None), "{after}");
}

// ------------------------------------------------------------------ 1g

/// Two plans whose order flips between currencies: `alpha` costs more than `beta` in USD, less
/// in EUR.
const FLIPPED: &str = r#"{"plans": [
  {"id": "free", "name": "Free", "free": true, "features": ["projects"]},
  {"id": "alpha", "name": "Alpha", "max_quantity": 5, "features": ["projects"],
   "prices": {"month": {"lookup_key": "alpha_month", "amount": 2900, "currency": "usd", "currency_options": {"eur": 1000}}}},
  {"id": "beta", "name": "Beta", "max_quantity": 5, "features": ["projects", "exports"],
   "prices": {"month": {"lookup_key": "beta_month", "amount": 2000, "currency": "usd", "currency_options": {"eur": 2500}}}}
]}"#;

#[tokio::test]
async fn upgrades_are_judged_in_the_subscriptions_currency() {
    let stack = Stack::shared_clock("rev-currency", Some(FLIPPED), |_| {}).await;
    subscribed(&stack, json!({"plan": "alpha", "interval": "month", "currency": "eur"})).await;
    // Cheaper in USD, dearer in EUR: an upgrade for this EUR subscription, so never unprorated.
    let change = json!({"plan": "beta", "proration": "none"});
    let (status, answer) = subscription_call(&stack, "subscription-change.json", "user_123", change, None).await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("proration")), "{answer}");
    let (status, answer) = subscription_call(&stack, "subscription-change.json", "user_123", json!({"plan": "beta"}), None).await;
    assert_eq!(status, 200, "{answer}");
    let world = stack.emulator.shared.world.lock().await;
    let charged: Vec<(&str, i64)> = world.invoice_items.values().map(|i| (i.currency.as_str(), i.amount)).collect();
    assert!(
        charged.iter().all(|(c, _)| *c == "eur"),
        "billed in the subscription's currency: {charged:?}"
    );
    assert!(
        charged.iter().map(|(_, a)| a).sum::<i64>() > 0,
        "the upgrade is charged: {charged:?}"
    );
}

// ------------------------------------------------------------------ 1h

#[tokio::test]
async fn stripe_calling_routes_are_rate_limited_per_user() {
    let stack = Stack::shared_clock("rev-rate", None, |c| c.rate_limit_per_minute = 3).await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let response = subscription::handler::handle(&stack.state, as_user("invoices-get.json", "user_123", None, None))
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        last = Some(response);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let last = last.unwrap();
    assert!(last.headers().contains_key("retry-after"));
    assert_eq!(body(&last)["type"], "/errors/rate-limited");
    let (status, problem) = create(&stack, post_checkout(json!({"plan": "pro", "interval": "month"}))).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (429, Some("/errors/rate-limited")),
        "the allowance is per user, across routes"
    );
    let other = subscription::handler::handle(&stack.state, as_user("invoices-get.json", "someone_else", None, None))
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another user is not limited");
}

// ------------------------------------------------------------------ 1i

/// Every API Gateway event of `events/`, with the function that serves it.
const ROUTES: &[(&str, &str)] = &[
    ("checkout", "checkout-create.json"),
    ("checkout", "checkout-create-custom-amount.json"),
    ("checkout", "checkout-get.json"),
    ("checkout", "plans-get.json"),
    ("portal", "portal-create.json"),
    ("portal", "customer-address-update.json"),
    ("subscription", "subscription-cancel.json"),
    ("subscription", "subscription-change.json"),
    ("subscription", "subscription-change-preview.json"),
    ("subscription", "subscription-downgrade.json"),
    ("subscription", "subscription-resume.json"),
    ("subscription", "subscription-get.json"),
    ("subscription", "invoices-get.json"),
    ("usage", "usage-record.json"),
    ("usage", "usage-get.json"),
    ("entitlements", "entitlements-get.json"),
    ("entitlements", "entitlements-feature.json"),
    ("webhook", "webhook-customer.subscription.updated.json"),
];

async fn through_guard(stack: &Stack, function: &str, req: lambda_http::Request) -> lambda_http::Response<lambda_http::Body> {
    use billing::edge::runtime::guarded;
    let state = &stack.state;
    match function {
        "checkout" => guarded(|r| checkout::handler::handle(state, r))(req).await,
        "portal" => guarded(|r| portal::handler::handle(state, r))(req).await,
        "subscription" => guarded(|r| subscription::handler::handle(state, r))(req).await,
        "usage" => guarded(|r| usage::handler::handle(state, r))(req).await,
        "entitlements" => guarded(|r| entitlements::handler::handle(state, r))(req).await,
        "webhook" => guarded(|r| webhook::handler::handle(state, r))(req).await,
        other => panic!("no function {other}"),
    }
    .unwrap()
}

#[tokio::test]
async fn a_body_that_is_not_base64_or_a_control_character_in_a_header_is_refused_by_every_route() {
    let stack = Stack::shared_clock("rev-malformed", None, |_| {}).await;
    let id = subscribed(&stack, json!({"plan": "pro", "interval": "month"})).await;
    let (items, calls) = (stack.item_count().await, stack.stripe_requests().await);
    for (function, event) in ROUTES {
        let req = testkit::event_with(event, |e| {
            e["isBase64Encoded"] = true.into();
            e["body"] = "{\"at_period_end\": true} is not base64!".into();
        });
        let response = through_guard(&stack, function, req).await;
        assert_eq!(response.status(), 400, "{event}");
        assert_eq!(body(&response)["type"], "/errors/malformed-body", "{event}");
        let req = testkit::event_with(event, |e| e["headers"]["idempotency-key"] = "a\u{1}b".into());
        let response = through_guard(&stack, function, req).await;
        assert_eq!(response.status(), 400, "{event}");
        assert_eq!(body(&response)["type"], "/errors/invalid-header", "{event}");
    }
    assert_eq!(stack.item_count().await, items, "nothing written");
    assert_eq!(stack.stripe_requests().await, calls, "no Stripe call");
    assert!(
        !stack.emulator.shared.world.lock().await.subscriptions[&id].cancel_at_period_end,
        "nothing canceled"
    );
}

// ------------------------------------------------------------------ 1j

#[tokio::test]
async fn a_refused_request_does_not_use_up_its_idempotency_key() {
    let stack = Stack::shared_clock("rev-keys", None, |_| {}).await;
    subscribed(&stack, json!({"plan": "pro", "interval": "month"})).await;
    let same = json!({"plan": "pro", "interval": "month"});
    for attempt in 0..2 {
        let (status, answer) = subscription_call(&stack, "subscription-change.json", "user_123", same.clone(), Some("k-1")).await;
        assert_eq!(
            (status, answer["type"].as_str()),
            (400, Some("/errors/no-change")),
            "attempt {attempt}: judged again"
        );
    }
    let (status, answer) = subscription_call(&stack, "subscription-resume.json", "user_123", json!({}), Some("k-2")).await;
    assert_eq!((status, answer["type"].as_str()), (409, Some("/errors/nothing-to-resume")));
    let (status, answer) = subscription_call(&stack, "subscription-resume.json", "user_123", json!({}), Some("k-2")).await;
    assert_eq!(status, 409, "a retry is judged again: {answer}");
    // The key that served only refusals serves a valid request.
    let (status, answer) = subscription_call(&stack, "subscription-change.json", "user_123", json!({"quantity": 2}), Some("k-1")).await;
    assert_eq!(status, 200, "{answer}");
    let (status, again) = subscription_call(&stack, "subscription-change.json", "user_123", json!({"quantity": 2}), Some("k-1")).await;
    assert_eq!(status, 200, "a retry of an applied request answers the state: {again}");
    let (status, answer) = subscription_call(&stack, "subscription-change.json", "user_123", json!({"quantity": 3}), Some("k-1")).await;
    assert_eq!((status, answer["type"].as_str()), (409, Some("/errors/idempotency-key-reused")));
}

// ------------------------------------------------------------------ past due

/// A pro subscription of `quantity` seats paid with the card that fails later, a renewal past:
/// `past_due`. Its id.
async fn past_due(stack: &Stack, quantity: u64) -> String {
    let (status, created) = create(
        stack,
        post_checkout(json!({"plan": "pro", "interval": "month", "quantity": quantity})),
    )
    .await;
    assert_eq!(status, 201);
    let session = created["id"].as_str().unwrap().to_owned();
    pay(stack, &session, "4000000000000341").await;
    checkout::handler::handle(&stack.state, get_checkout(&session)).await.unwrap();
    let id = stack.emulator.shared.world.lock().await.sessions[&session]
        .subscription
        .clone()
        .unwrap();
    advance(stack, 31 * 86_400).await;
    assert_eq!(stack.emulator.shared.world.lock().await.subscriptions[&id].status, "past_due");
    id
}

#[tokio::test]
async fn no_change_now_on_top_of_an_unpaid_invoice() {
    let stack = Stack::shared_clock("rev-past-due", None, |_| {}).await;
    past_due(&stack, 2).await;
    let (status, answer) = subscription_call(&stack, "subscription-change.json", "user_123", json!({"quantity": 5}), None).await;
    assert_eq!(
        (status, answer["type"].as_str()),
        (402, Some("/errors/payment-past-due")),
        "{answer}"
    );
    let (status, answer) = subscription_call(&stack, "subscription-change.json", "user_123", json!({"quantity": 1}), None).await;
    assert_eq!(status, 402, "nor a downgrade now, whose credit would pay for unpaid time: {answer}");
    let (status, answer) = subscription_call(
        &stack,
        "subscription-change.json",
        "user_123",
        json!({"quantity": 1, "when": "period_end"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "a change at the period end bills nothing now: {answer}");
}

#[tokio::test]
async fn dunning_ends_a_subscription_with_a_pending_schedule_in_the_table_too() {
    let stack = Stack::shared_clock("rev-dunning-schedule", None, |_| {}).await;
    let id = past_due(&stack, 3).await;
    let (status, answer) = subscription_call(&stack, "subscription-change.json", "user_123", json!({"quantity": 2}), None).await;
    assert_eq!(status, 402, "no change now while past due: {answer}");
    let (status, answer) = subscription_call(
        &stack,
        "subscription-change.json",
        "user_123",
        json!({"quantity": 4, "when": "period_end"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    advance(&stack, 8 * 86_400).await;
    assert_eq!(
        stack.emulator.shared.world.lock().await.subscriptions[&id].status,
        "canceled",
        "dunning ended it"
    );
    let items = stack.state.store.user_items_consistent("user_123").await.unwrap();
    let stored = items.subscriptions.iter().find(|s| s.subscription_id == id).unwrap();
    assert_eq!(stored.status, "canceled", "{stored:?}");
}

#[tokio::test]
async fn a_preview_leaves_the_shared_clock_where_it_is() {
    let stack = Stack::shared_clock("rev-preview-clock", None, |_| {}).await;
    subscribed(&stack, json!({"plan": "pro", "interval": "month"})).await;
    let before = stack.state.clock.now();
    let (status, answer) = subscription_call(
        &stack,
        "subscription-change.json",
        "user_123",
        json!({"plan": "starter", "preview": true}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let after = stack.state.clock.now();
    assert!(
        after - before < 5,
        "the emulator previews on a copy whose clock is nobody's: {before} → {after}"
    );
}
