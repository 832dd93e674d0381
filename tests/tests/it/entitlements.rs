//! The entitlements handler against moto, behind a counting proxy: every check is ONE DynamoDB
//! request and no Stripe request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use billing::testkit;
use serde_json::Value;

use crate::helpers::{Stack, body, moto_endpoint};
use crate::webhook::{deliver, stripe_event, with_created};

/// A loopback HTTP proxy in front of moto that counts requests and records their
/// `X-Amz-Target` (the DynamoDB operation).
pub struct CountingProxy {
    pub url: String,
    pub count: Arc<AtomicUsize>,
    pub targets: Arc<std::sync::Mutex<Vec<String>>>,
}

pub async fn counting_proxy() -> CountingProxy {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    let count = Arc::new(AtomicUsize::new(0));
    let targets = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c, t) = (count.clone(), targets.clone());
    let upstream = moto_endpoint().to_owned();
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (c, t, upstream, client) = (c.clone(), t.clone(), upstream.clone(), client.clone());
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
            t.lock().unwrap().push(target);
            let mut request = client
                .request(method, format!("{upstream}{}", uri.path_and_query().map_or("/", |p| p.as_str())))
                .body(body);
            for (name, value) in &headers {
                if name != "host" && name != "content-length" {
                    request = request.header(name, value);
                }
            }
            match request.send().await {
                Ok(response) => {
                    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
                    let mut out = HeaderMap::new();
                    for (name, value) in response.headers() {
                        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
                            out.insert(name.clone(), value.clone());
                        }
                    }
                    let bytes = response.bytes().await.unwrap_or_default();
                    (status, out, bytes)
                }
                Err(_) => (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new()),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    CountingProxy { url, count, targets }
}

fn feature(name: &str) -> lambda_http::Request {
    let path = format!("/entitlements/{name}");
    testkit::event_with("entitlements-feature.json", |e| {
        e["rawPath"] = path.clone().into();
        e["requestContext"]["http"]["path"] = path.clone().into();
    })
}

async fn check(state: &billing::AppState, name: &str) -> Value {
    let response = entitlements::handler::handle(state, feature(name)).await.unwrap();
    assert_eq!(response.status(), 200);
    body(&response)
}

#[tokio::test]
async fn a_check_is_one_dynamodb_request_and_no_stripe_request() {
    let stack = Stack::new("ent-one", vec![]).await;
    for event in [
        "checkout.session.completed",
        "customer.subscription.created",
        "entitlements.active_entitlement_summary.updated",
    ] {
        let (status, body) = deliver(&stack, &stripe_event(event)).await;
        assert_eq!(status, 200, "{event}: {body}");
    }
    let proxy = counting_proxy().await;
    let mut config = stack.state.config.clone();
    config.dynamodb_endpoint = Some(proxy.url.parse().unwrap());
    let state = testkit::state(config, entitlements::NEEDS).unwrap();
    let stripe_before = stack.stripe_requests().await;

    let decision = check(&state, "api_access").await;
    assert_eq!(
        decision,
        serde_json::json!({"feature": "api_access", "allowed": true, "reason": "active"})
    );
    assert_eq!(proxy.count.load(Ordering::SeqCst), 1);
    assert_eq!(proxy.targets.lock().unwrap().as_slice(), ["DynamoDB_20120810.Query"]);

    let response = entitlements::handler::handle(&state, testkit::event("entitlements-get.json"))
        .await
        .unwrap();
    let summary = body(&response);
    assert_eq!(proxy.count.load(Ordering::SeqCst), 2, "the summary is one request too");
    assert_eq!(summary["user"], "user_123");
    assert_eq!(summary["plan"], "pro");
    assert_eq!(summary["status"], "active");
    assert_eq!(summary["limits"]["seats"], 100);
    assert!(summary["features"].as_array().unwrap().contains(&Value::from("priority_support")));
    assert!(summary["current_period_end"].is_i64() && summary["as_of"].is_i64());
    assert_eq!(summary["cancel_at_period_end"], false);
    assert_eq!(stack.stripe_requests().await, stripe_before, "no Stripe call on the hot path");
}

#[tokio::test]
async fn a_user_without_subscription_gets_the_free_plan() {
    let stack = Stack::new("ent-free", vec![]).await;
    assert_eq!(
        check(&stack.state, "projects").await,
        serde_json::json!({"feature": "projects", "allowed": true, "reason": "free_plan", "limit": 1})
    );
    assert_eq!(
        check(&stack.state, "api_access").await,
        serde_json::json!({"feature": "api_access", "allowed": false, "reason": "no_subscription"})
    );
    let response = entitlements::handler::handle(&stack.state, testkit::event("entitlements-get.json"))
        .await
        .unwrap();
    let summary = body(&response);
    assert_eq!((summary["plan"].as_str(), summary["status"].as_str()), (Some("free"), Some("none")));
}

#[tokio::test]
async fn past_due_within_grace_then_expired_then_canceled() {
    let stack = Stack::new("ent-grace", vec![]).await;
    let now = billing::now_epoch();
    deliver(&stack, &stripe_event("checkout.session.completed")).await;
    // The renewal failed a day ago.
    let (status, _) = deliver(
        &stack,
        &with_created(&stripe_event("customer.subscription.updated-past_due"), now - 86_400),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(check(&stack.state, "api_access").await["reason"], "grace_past_due");

    // The same stored state under a 12-hour grace: expired.
    let mut config = stack.state.config.clone();
    config.access.past_due_grace = std::time::Duration::from_secs(12 * 3600);
    let short = testkit::state(config, entitlements::NEEDS).unwrap();
    assert_eq!(
        check(&short, "api_access").await,
        serde_json::json!({"feature": "api_access", "allowed": false, "reason": "past_due_grace_expired"})
    );

    deliver(&stack, &with_created(&stripe_event("customer.subscription.deleted"), now)).await;
    assert_eq!(
        check(&stack.state, "api_access").await,
        serde_json::json!({"feature": "api_access", "allowed": false, "reason": "canceled"})
    );
    assert_eq!(
        check(&stack.state, "projects").await["reason"],
        "free_plan",
        "the free plan applies again"
    );
}
