//! The admin function (support staff, IAM-authorized): lookups, time-boxed grants merged into
//! every access decision, removals and resyncs, each audited with the caller's ARN; and a
//! user's token refused on every support route.

use std::sync::Arc;

use billing::domain::clock::Clock;
use billing::testkit;
use serde_json::{Value, json};

use crate::helpers::{Stack, TestClock, body};

const SUPPORT_ARN: &str = "arn:aws:sts::123456789012:assumed-role/support/ada";

async fn admin(stack: &Stack, req: lambda_http::Request) -> (u16, Value) {
    let response = admin::handler::handle(&stack.state, req).await.unwrap();
    (response.status().as_u16(), body(&response))
}

/// `events/<name>` for `user` (path and path parameter), with `payload` as the body.
fn as_user(name: &str, user: &str, payload: Option<Value>) -> lambda_http::Request {
    testkit::event_with(name, |e| {
        let path = e["rawPath"].as_str().unwrap().replace("user_123", user);
        e["rawPath"] = path.clone().into();
        e["requestContext"]["http"]["path"] = path.into();
        e["pathParameters"]["user_id"] = user.into();
        if let Some(payload) = payload {
            e["body"] = payload.to_string().into();
        }
    })
}

async fn feature(stack: &Stack, user: &str, feature: &str) -> Value {
    let req = testkit::event_with("entitlements-feature.json", |e| {
        e["rawPath"] = format!("/entitlements/{feature}").into();
        e["requestContext"]["http"]["path"] = format!("/entitlements/{feature}").into();
        e["pathParameters"]["feature"] = feature.into();
        e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user.into();
    });
    let response = entitlements::handler::handle(&stack.state, req).await.unwrap();
    body(&response)
}

async fn authorized(stack: &Stack, user: &str) -> bool {
    let mut request: authorizer::handler::AuthorizerRequest = serde_json::from_str(&testkit::event_text("authorizer-gated.json")).unwrap();
    request.route_key = Some("GET /api/export".into());
    let token = testkit::token(&stack.state.config, user, None);
    request.headers.insert("authorization".into(), format!("Bearer {token}"));
    authorizer::handler::decide(&stack.state, &request).await.is_authorized
}

async fn stack_with_clock(prefix: &str) -> (Stack, Arc<TestClock>) {
    let mut stack = Stack::with_config(prefix, vec![], |config| {
        config.authorizer_routes = billing::domain::routes::RouteFeatures::parse(r#"{"GET /api/*": "api_access"}"#).unwrap();
    })
    .await;
    let clock = TestClock::at(billing::now_epoch());
    let state = std::mem::replace(
        &mut stack.state,
        testkit::state(
            testkit::config("placeholder", "http://127.0.0.1:9", None),
            billing::Needs::default(),
        )
        .unwrap(),
    );
    stack.state = state.with_clock(clock.clone());
    (stack, clock)
}

#[tokio::test]
async fn a_users_token_never_reaches_a_support_route() {
    let stack = Stack::new("admin-jwt", vec![]).await;
    // The same route with a JWT authorizer's context (a user's token): refused before anything.
    let (status, problem) = admin(&stack, testkit::event("admin-get-user-with-jwt.json")).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["type"], "/errors/iam-required");
    // No authorizer at all (`cargo lambda watch`, a hand-made invocation), and a JWT added beside
    // the IAM caller: refused too, on every route, writes included.
    for name in [
        "admin-get-user.json",
        "admin-grant.json",
        "admin-revoke-grant.json",
        "admin-resync.json",
        "admin-get-org.json",
    ] {
        let bare = testkit::event_with(name, |e| e["requestContext"]["authorizer"] = Value::Null);
        assert_eq!(admin(&stack, bare).await.0, 403, "{name} without IAM");
        let mixed = testkit::event_with(name, |e| {
            e["requestContext"]["authorizer"]["jwt"] = json!({"claims": {"sub": "user_123"}, "scopes": null});
        });
        assert_eq!(admin(&stack, mixed).await.0, 403, "{name} with a JWT beside IAM");
    }
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert!(items.grants.is_empty(), "nothing was granted");
    assert!(
        stack.state.store.audit_rows("user_123").await.unwrap().is_empty(),
        "nothing was audited"
    );
}

#[tokio::test]
async fn a_grant_is_merged_into_every_access_decision_and_ends_by_itself() {
    let (stack, clock) = stack_with_clock("admin-grant").await;
    let now = clock.now();
    let user = "user_grant";
    assert_eq!(feature(&stack, user, "api_access").await["allowed"], false);
    assert!(!authorized(&stack, user).await);

    let until = now + 14 * 86_400;
    let payload = json!({"feature": "api_access", "until": until, "reason": "Ticket 77: comp for two weeks"});
    let (status, grant) = admin(&stack, as_user("admin-grant.json", user, Some(payload))).await;
    assert_eq!(status, 201, "{grant}");
    assert_eq!(grant["feature"], "api_access");
    assert_eq!(grant["granted_by"], SUPPORT_ARN);
    assert_eq!(grant["active"], true);

    // Entitlements, the authorizer and billing::gate all see it, with its reason.
    let decision = feature(&stack, user, "api_access").await;
    assert_eq!(decision["allowed"], true, "{decision}");
    assert_eq!(decision["reason"], "grant");
    assert!(authorized(&stack, user).await);
    let gate = stack.state.gate().require_feature(user, "api_access").await.unwrap();
    assert!(gate.allowed);
    // The grant is the user's only: nothing else opened.
    assert_eq!(feature(&stack, user, "priority_support").await["allowed"], false);

    // Support's lookup shows it, and the audit row names the caller.
    let (status, lookup) = admin(&stack, as_user("admin-get-user.json", user, None)).await;
    assert_eq!(status, 200, "{lookup}");
    assert_eq!(lookup["grants"][0]["feature"], "api_access");
    assert_eq!(lookup["access"]["decisions"]["api_access"]["reason"], "grant");
    assert_eq!(lookup["audit"][0]["event_type"], "support.grant");
    assert_eq!(lookup["audit"][0]["actor"], SUPPORT_ARN);

    // At `until` it ends by itself: no job, no write.
    clock.set(until - 1);
    assert_eq!(feature(&stack, user, "api_access").await["allowed"], true);
    clock.set(until);
    assert_eq!(feature(&stack, user, "api_access").await["allowed"], false);
    assert!(!authorized(&stack, user).await);
    assert!(stack.state.gate().require_feature(user, "api_access").await.is_err());
    let (_, lookup) = admin(&stack, as_user("admin-get-user.json", user, None)).await;
    assert_eq!(lookup["grants"][0]["active"], false);
}

#[tokio::test]
async fn bad_grants_are_400_and_write_nothing() {
    let (stack, clock) = stack_with_clock("admin-bad-grant").await;
    let now = clock.now();
    let cases = [
        (json!({"feature": "teleport", "until": now + 86_400, "reason": "x"}), "feature"),
        (json!({"feature": "api_access", "until": now, "reason": "x"}), "until"),
        (
            json!({"feature": "api_access", "until": now + 367 * 86_400, "reason": "x"}),
            "until",
        ),
        (json!({"feature": "api_access", "until": now + 86_400, "reason": "  "}), "reason"),
    ];
    for (payload, field) in cases {
        let (status, problem) = admin(&stack, as_user("admin-grant.json", "user_bad", Some(payload.clone()))).await;
        assert_eq!(status, 400, "{payload}: {problem}");
        assert_eq!(problem["type"], "/errors/invalid-grant");
        assert_eq!(problem["field"], field);
    }
    let (status, problem) = admin(
        &stack,
        as_user("admin-grant.json", "user_bad", Some(json!({"feature": "api_access"}))),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    // An organization's billable id is no user.
    let (status, _) = admin(
        &stack,
        as_user(
            "admin-grant.json",
            "org:acme",
            Some(json!({"feature": "api_access", "until": now + 60, "reason": "x"})),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(stack.state.store.user_items("user_bad").await.unwrap().grants.is_empty());
    assert!(stack.state.store.audit_rows("user_bad").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_grant_removed_ends_at_once_and_removing_twice_is_204() {
    let (stack, clock) = stack_with_clock("admin-revoke").await;
    let user = "user_revoke";
    let payload = json!({"feature": "api_access", "until": clock.now() + 86_400, "reason": "trial extension"});
    assert_eq!(admin(&stack, as_user("admin-grant.json", user, Some(payload))).await.0, 201);
    assert_eq!(feature(&stack, user, "api_access").await["allowed"], true);
    let (status, _) = admin(&stack, as_user("admin-revoke-grant.json", user, None)).await;
    assert_eq!(status, 204);
    assert_eq!(feature(&stack, user, "api_access").await["allowed"], false);
    assert_eq!(admin(&stack, as_user("admin-revoke-grant.json", user, None)).await.0, 204);
    let rows = stack.state.store.audit_rows(user).await.unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        ["support.grant_removed", "support.grant"],
        "one row per change, newest first"
    );
    assert!(rows.iter().all(|r| r.actor.as_deref() == Some(SUPPORT_ARN)));
}

#[tokio::test]
async fn a_grant_never_lowers_a_plan_and_raises_a_quota_to_the_most_generous() {
    let (stack, clock) = stack_with_clock("admin-generous").await;
    let user = "user_free";
    // The free plan gives `projects` with a limit of 1; the catalog's most generous is 100.
    assert_eq!(feature(&stack, user, "projects").await["limit"], 1);
    let payload = json!({"feature": "projects", "until": clock.now() + 86_400, "reason": "migration help"});
    assert_eq!(admin(&stack, as_user("admin-grant.json", user, Some(payload))).await.0, 201);
    let decision = feature(&stack, user, "projects").await;
    assert_eq!(decision["allowed"], true);
    assert_eq!(decision["limit"], 100, "{decision}");
    // A usage counter: its most generous quota, never metered by the grant.
    let payload = json!({"feature": "api_calls", "until": clock.now() + 86_400, "reason": "load test"});
    assert_eq!(admin(&stack, as_user("admin-grant.json", user, Some(payload))).await.0, 201);
    let (_, lookup) = admin(&stack, as_user("admin-get-user.json", user, None)).await;
    let calls = &lookup["usage"]["features"]["api_calls"];
    assert_eq!(calls["metered"], false, "{lookup}");
    assert!(calls["limit"].as_u64().unwrap() > 1_000, "{calls}");
}

#[tokio::test]
async fn support_looks_up_a_paying_user_and_resyncs_them_through_reconcile() {
    let stack = Stack::new("admin-lookup", vec![]).await;
    let subscription = crate::subscription::subscribed(&stack, "pro").await;
    let (status, lookup) = admin(&stack, testkit::event("admin-get-user.json")).await;
    assert_eq!(status, 200, "{lookup}");
    assert!(lookup["links"]["customer_id"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(lookup["subscriptions"][0]["id"], subscription.as_str());
    assert_eq!(lookup["access"]["plan"], "pro");
    assert_eq!(lookup["access"]["decisions"]["api_access"]["reason"], "active");
    assert!(lookup["audit"].as_array().unwrap().len() <= 50);
    assert!(lookup["purchases"].as_array().unwrap().is_empty());

    // The table lost the subscription (a missed webhook, a bad manual edit): resync repairs it.
    let record = stack.state.store.subscription("user_123", &subscription).await.unwrap().unwrap();
    let store = &stack.state.store;
    let key = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .key("pk", key(&record.pk))
        .key("sk", key(&record.sk))
        .send()
        .await
        .unwrap();
    assert_eq!(feature(&stack, "user_123", "api_access").await["allowed"], false);
    let (status, summary) = admin(&stack, testkit::event("admin-resync.json")).await;
    assert_eq!(status, 200, "{summary}");
    assert!(summary["applied"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(feature(&stack, "user_123", "api_access").await["allowed"], true);
    let rows = stack.state.store.audit_rows("user_123").await.unwrap();
    assert!(
        rows.iter()
            .any(|r| r.event_type == "support.resync" && r.actor.as_deref() == Some(SUPPORT_ARN))
    );

    // A user without a customer: 409, nothing to repair.
    let (status, problem) = admin(&stack, as_user("admin-resync.json", "user_nobody", None)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/errors/no-customer");
    // An organization's lookup answers for its billable.
    let (status, org) = admin(&stack, testkit::event("admin-get-org.json")).await;
    assert_eq!(status, 200, "{org}");
    assert_eq!(org["billable"], "org:org_acme");
}
