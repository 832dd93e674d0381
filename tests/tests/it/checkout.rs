//! The checkout and portal handlers against the Stripe emulator and moto, driven by the
//! `events/*.json` that `cargo lambda invoke` uses.

use billing::adapters::store::LinkOutcome;
use billing::domain::records::keys;
use billing::testkit;
use serde_json::{Value, json};

use crate::emulator::control;
use crate::helpers::{Stack, body};

pub(crate) fn post_checkout(body: Value) -> lambda_http::Request {
    testkit::event_with("checkout-create.json", |e| e["body"] = body.to_string().into())
}

fn as_user(event: &str, user: &str, edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    testkit::event_with(event, |e| {
        e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user.into();
        edit(e);
    })
}

pub(crate) fn get_checkout(session_id: &str) -> lambda_http::Request {
    testkit::event_with("checkout-get.json", |e| {
        e["rawPath"] = format!("/checkout/{session_id}").into();
        e["requestContext"]["http"]["path"] = format!("/checkout/{session_id}").into();
        e["pathParameters"]["session_id"] = session_id.into();
    })
}

pub(crate) async fn create(stack: &Stack, req: lambda_http::Request) -> (u16, Value) {
    let response = checkout::handler::handle(&stack.state, req).await.unwrap();
    (response.status().as_u16(), body(&response))
}

pub(crate) async fn pay(stack: &Stack, session_id: &str, card: &str) {
    let (status, body) = control(
        &stack.emulator,
        &format!("/_emulator/checkout/sessions/{session_id}/pay"),
        json!({"card": card}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn checkout_creates_a_subscription_session_for_the_plan_price() {
    let stack = Stack::new("co-happy", vec![]).await;
    let (status, created) = create(&stack, testkit::event("checkout-create.json")).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(created["url"].as_str().unwrap().contains(id));

    let world = stack.emulator.shared.world.lock().await;
    let session = &world.sessions[id];
    assert_eq!(session.mode, "subscription");
    assert_eq!(session.client_reference_id.as_deref(), Some("user_123"));
    // The user's customer is made (with the JWT email and our metadata) and linked first.
    let customer = &world.customers[session.customer.as_deref().expect("a customer on every session")];
    assert_eq!(customer.email.as_deref(), Some("ada@example.com"));
    assert_eq!(customer.metadata["user_id"], "user_123");
    assert_eq!(session.customer_email, None);
    assert_eq!(session.metadata["user_id"], "user_123");
    assert_eq!(session.metadata["plan"], "pro");
    assert_eq!(session.subscription_metadata["user_id"], "user_123");
    assert_eq!(world.prices[&session.line_items[0].price].lookup_key.as_deref(), Some("pro_month"));
    assert_eq!(session.trial_period_days, None, "pro has no trial");
    assert!(!session.allow_promotion_codes, "off unless configured");
    assert_eq!(
        session.success_url,
        "http://localhost:3000/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}"
    );
    let customer = customer.id.clone();
    drop(world);
    assert_eq!(
        stack.item_count().await,
        3,
        "the link, both ways, and the user's rate counter of Stripe-calling requests; nothing else"
    );
    assert_eq!(
        stack.state.store.customer_owner(&customer).await.unwrap().as_deref(),
        Some("user_123")
    );
}

#[tokio::test]
async fn trial_days_come_from_the_plan_and_pay_to_trialing() {
    let stack = Stack::new("co-trial", vec![]).await;
    let (status, created) = create(&stack, post_checkout(json!({"plan": "starter", "interval": "year", "quantity": 3}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(stack.emulator.shared.world.lock().await.sessions[id].trial_period_days, Some(14));
    pay(&stack, id, "4242424242424242").await;

    let response = checkout::handler::handle(&stack.state, get_checkout(id)).await.unwrap();
    let synced = body(&response);
    assert_eq!(response.status(), 200, "{synced}");
    assert_eq!(synced["session"]["status"], "complete");
    assert_eq!(synced["subscription"]["status"], "trialing");
    assert_eq!(synced["subscription"]["plan"], "starter");
    assert_eq!(synced["subscription"]["interval"], "year");
    assert_eq!(synced["subscription"]["quantity"], 3);

    let items = stack.state.store.user_items("user_123").await.unwrap();
    let customer = items.customer.expect("customer mapping written by the eager sync");
    assert_eq!(
        stack.state.store.customer_owner(&customer.customer_id).await.unwrap().as_deref(),
        Some("user_123")
    );
    assert_eq!(items.subscriptions.len(), 1);
}

#[tokio::test]
async fn an_existing_customer_is_reused() {
    let stack = Stack::new("co-reuse", vec![]).await;
    let customer = stripe_core::customer::CreateCustomer::new()
        .email("ada@example.com")
        .send(stack.stripe())
        .await
        .unwrap();
    assert_eq!(
        stack
            .state
            .store
            .link_customer("user_123", customer.id.as_str(), None, 1)
            .await
            .unwrap(),
        LinkOutcome::Linked
    );
    let (status, created) = create(&stack, testkit::event("checkout-create.json")).await;
    assert_eq!(status, 201);
    let world = stack.emulator.shared.world.lock().await;
    let session = &world.sessions[created["id"].as_str().unwrap()];
    assert_eq!(session.customer.as_deref(), Some(customer.id.as_str()));
    assert_eq!(session.customer_email, None);
}

#[tokio::test]
async fn a_retried_request_creates_one_session() {
    let mut stack = Stack::new("co-idem", vec![]).await;
    stack.hold_clock();
    let (_, first) = create(&stack, testkit::event("checkout-create.json")).await;
    let (_, second) = create(&stack, testkit::event("checkout-create.json")).await;
    assert_eq!(first["id"], second["id"]);
    assert_eq!(stack.emulator.shared.world.lock().await.sessions.len(), 1);

    // A client-supplied Idempotency-Key makes a deliberate new attempt distinct.
    let (_, third) = create(
        &stack,
        testkit::event_with("checkout-create.json", |e| e["headers"]["idempotency-key"] = "attempt-2".into()),
    )
    .await;
    assert_ne!(first["id"], third["id"]);
}

#[tokio::test]
async fn a_lost_response_is_retried_under_its_key_and_a_500_under_a_fresh_one() {
    let stack = Stack::new("co-retry", vec![]).await;
    // The first attempt creates the session but its response is lost (the connection drops):
    // the retry must carry the same idempotency key, or a second session would appear.
    let fault = json!({"path_prefix": "/v1/checkout/sessions", "count": 1, "method": "POST", "after": true});
    let (queued, body) = control(&stack.emulator, "/_emulator/faults", fault).await;
    assert_eq!(queued, 200, "the emulator takes a lost-answer fault: {body}");
    let (status, created) = create(&stack, testkit::event("checkout-create.json")).await;
    assert_eq!(status, 201, "{created}");
    let world = stack.emulator.shared.world.lock().await;
    assert_eq!(world.sessions.len(), 1, "the retry replayed the first attempt");
    assert!(world.sessions.contains_key(created["id"].as_str().unwrap()));
    drop(world);

    // Stripe keeps a 500 under its key: the retry takes a fresh key, or it would replay the 500.
    control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/checkout/sessions", "status": 500, "count": 1, "method": "POST"}),
    )
    .await;
    let (status, _) = create(&stack, post_checkout(json!({"plan": "pro", "interval": "year"}))).await;
    assert_eq!(status, 201);

    control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/checkout/sessions", "status": 503, "count": 10, "method": "POST"}),
    )
    .await;
    let (status, problem) = create(&stack, post_checkout(json!({"plan": "starter", "interval": "year"}))).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "/errors/unavailable");
}

#[tokio::test]
async fn stripe_refusals_become_a_safe_502() {
    let stack = Stack::new("co-502", vec![]).await;
    control(
        &stack.emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/checkout/sessions", "status": 400, "count": 1}),
    )
    .await;
    let (status, problem) = create(&stack, testkit::event("checkout-create.json")).await;
    assert_eq!(status, 502);
    assert_eq!(problem["type"], "/errors/payment-provider");
    assert!(
        !problem.to_string().contains("Injected"),
        "Stripe's message is not passed through: {problem}"
    );
}

#[tokio::test]
async fn bad_input_writes_nothing_and_calls_no_one() {
    let stack = Stack::new("co-bad", vec![]).await;
    let cases: Vec<(lambda_http::Request, u16, Option<&str>)> = vec![
        (post_checkout(json!({"plan": "gold", "interval": "month"})), 400, Some("plan")),
        (post_checkout(json!({"plan": "pro", "interval": "week"})), 400, Some("interval")),
        (
            post_checkout(json!({"plan": "pro", "interval": "month", "quantity": 0})),
            400,
            Some("quantity"),
        ),
        (
            post_checkout(json!({"plan": "pro", "interval": "month", "quantity": 101})),
            400,
            Some("quantity"),
        ),
        (
            post_checkout(json!({"plan": "pro", "interval": "month", "success_url": "https://evil.example.com/x"})),
            400,
            Some("success_url"),
        ),
        (
            post_checkout(json!({"plan": "pro", "interval": "month", "cancel_url": "//evil.example.com"})),
            400,
            Some("cancel_url"),
        ),
        (
            testkit::event_with("checkout-create.json", |e| e["body"] = "plan=pro".into()),
            400,
            None,
        ),
        (
            testkit::event_with("checkout-create.json", |e| e["headers"]["content-type"] = "text/plain".into()),
            415,
            None,
        ),
        (
            testkit::event_with("checkout-create.json", |e| {
                e["body"] = format!("{{\"plan\": \"{}\"}}", "x".repeat(20_000)).into()
            }),
            413,
            None,
        ),
        (
            testkit::event_with("checkout-create.json", |e| e["headers"]["idempotency-key"] = "".into()),
            400,
            Some("Idempotency-Key"),
        ),
        (testkit::event("checkout-create-unauthenticated.json"), 401, None),
        (
            testkit::event_with("checkout-create-unauthenticated.json", |e| {
                e["headers"]["authorization"] = "Bearer not-a-jwt".into()
            }),
            401,
            None,
        ),
    ];
    for (i, (req, status, field)) in cases.into_iter().enumerate() {
        let (got, problem) = create(&stack, req).await;
        assert_eq!(got, status, "case {i}: {problem}");
        assert_eq!(problem["status"], status, "case {i}");
        assert_eq!(problem["field"].as_str(), field, "case {i}: {problem}");
    }
    assert_eq!(stack.stripe_requests().await, 0, "no Stripe call for bad input");
    assert_eq!(stack.item_count().await, 0, "nothing written");
}

#[tokio::test]
async fn a_second_subscription_to_the_same_plan_is_refused() {
    let stack = Stack::new("co-dup", vec![]).await;
    let (_, created) = create(&stack, testkit::event("checkout-create.json")).await;
    let id = created["id"].as_str().unwrap();
    pay(&stack, id, "4242424242424242").await;
    checkout::handler::handle(&stack.state, get_checkout(id)).await.unwrap();

    let sessions = stack.emulator.shared.world.lock().await.sessions.len();
    let (status, problem) = create(&stack, post_checkout(json!({"plan": "pro", "interval": "year"}))).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/errors/already-subscribed");
    assert_eq!(problem["portal"], "/portal");
    assert_eq!(
        stack.emulator.shared.world.lock().await.sessions.len(),
        sessions,
        "no session for a refused duplicate"
    );

    // Another plan is allowed under the default policy, and uses the stored customer, no trial.
    let (status, created) = create(&stack, post_checkout(json!({"plan": "starter", "interval": "month"}))).await;
    assert_eq!(status, 201, "{created}");
    let world = stack.emulator.shared.world.lock().await;
    let session = &world.sessions[created["id"].as_str().unwrap()];
    assert!(session.customer.is_some());
    assert_eq!(session.trial_period_days, None, "trials are for first-time subscribers");
}

#[tokio::test]
async fn sessions_are_visible_to_their_owner_only() {
    let stack = Stack::new("co-own", vec![]).await;
    let (_, created) = create(&stack, testkit::event("checkout-create.json")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let open = checkout::handler::handle(&stack.state, get_checkout(&id)).await.unwrap();
    let open_body = body(&open);
    assert_eq!(open.status(), 200);
    assert_eq!(open_body["session"]["status"], "open");
    assert_eq!(open_body["subscription"], Value::Null);
    pay(&stack, &id, "4242424242424242").await;

    let req = as_user("checkout-get.json", "intruder", |e| {
        e["rawPath"] = format!("/checkout/{id}").into();
    });
    let before = stack.state_item_count().await;
    let response = checkout::handler::handle(&stack.state, req).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        stack.state_item_count().await,
        before,
        "another user's look writes nothing (but its count of Stripe calls)"
    );
    for missing in ["cs_test_doesnotexist", "not-a-session-id"] {
        let response = checkout::handler::handle(&stack.state, get_checkout(missing)).await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
}

#[tokio::test]
async fn one_time_plans_use_payment_mode() {
    let stack = Stack::new("co-once", vec![]).await;
    let (status, created) = create(&stack, post_checkout(json!({"plan": "lifetime"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let world = stack.emulator.shared.world.lock().await;
    assert_eq!(world.sessions[id].mode, "payment");
    assert!(
        world.sessions[id].customer.is_some(),
        "the user's customer, made before the session"
    );
    drop(world);
    pay(&stack, id, "4242424242424242").await;
    let response = checkout::handler::handle(&stack.state, get_checkout(id)).await.unwrap();
    let synced = body(&response);
    assert_eq!(synced["subscription"]["plan"], "lifetime", "{synced}");
    assert_eq!(synced["subscription"]["interval"], "one_time");
    assert_eq!(synced["subscription"]["status"], "active");
}

#[tokio::test]
async fn portal_needs_a_customer_and_returns_a_url() {
    let stack = Stack::new("portal", vec![]).await;
    let response = portal::handler::handle(&stack.state, testkit::event("portal-create.json"))
        .await
        .unwrap();
    let problem = body(&response);
    assert_eq!(response.status(), 409, "{problem}");
    assert_eq!(problem["type"], "/errors/no-customer");
    assert_eq!(stack.stripe_requests().await, 0);

    let (_, created) = create(&stack, testkit::event("checkout-create.json")).await;
    let id = created["id"].as_str().unwrap();
    pay(&stack, id, "4242424242424242").await;
    checkout::handler::handle(&stack.state, get_checkout(id)).await.unwrap();

    let response = portal::handler::handle(&stack.state, testkit::event("portal-create.json"))
        .await
        .unwrap();
    let portal = body(&response);
    assert_eq!(response.status(), 200, "{portal}");
    assert!(portal["url"].as_str().unwrap().contains("/portal/bps_"));

    let req = testkit::event_with("portal-create.json", |e| {
        e["body"] = json!({"flow": "subscription_cancel"}).to_string().into()
    });
    let response = portal::handler::handle(&stack.state, req).await.unwrap();
    assert_eq!(response.status(), 200, "{}", body(&response));
    let world = stack.emulator.shared.world.lock().await;
    let flows: Vec<Option<String>> = world.portal_sessions.values().map(|s| s.flow.clone()).collect();
    assert!(flows.contains(&Some("subscription_cancel".to_owned())), "{flows:?}");
    assert!(
        world
            .portal_sessions
            .values()
            .all(|s| s.return_url.as_deref() == Some("http://localhost:3000/billing"))
    );
    let _ = keys::SK_CUSTOMER;
}
