//! Routes of the usage function.
//!
//! | route | auth | does |
//! |---|---|---|
//! | `GET /usage` | user | the period's counters (one Query) |
//! | `POST /usage` | — | `403 /errors/trusted-caller-required`: usage is recorded by trusted callers only |
//!
//! Recording is a direct invocation of this function ([`crate::direct`]) or `billing::usage` in
//! the team's own Lambdas: a user can neither bill someone's invoice by calling in a loop nor
//! dodge a quota by not calling.

use std::convert::Infallible;

use billing::AppState;
use billing::edge::http::{json, method_not_allowed, not_found};
use billing::edge::problem::respond;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::error::UsageFnError;

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let response = match state.path(&req).as_slice() {
        ["usage"] if req.method() == Method::POST => respond(record(&req)),
        ["usage"] if req.method() == Method::GET => respond(summary(state, &req).await),
        ["usage"] => method_not_allowed(&req, &[Method::GET, Method::POST]),
        _ => not_found(&req),
    };
    Ok(response)
}

/// `POST /usage`: refused for everyone, before any read or write. A user's token never records
/// usage (DESIGN.md): a trusted caller invokes the function directly instead.
fn record(_req: &Request) -> Result<Response<Body>, UsageFnError> {
    Err(UsageFnError::TrustedCallerRequired)
}

/// `GET /usage` → `{period_start, period_end, features: {…}}`.
async fn summary(state: &AppState, req: &Request) -> Result<Response<Body>, UsageFnError> {
    let identity = state.identity.identify(req).await?;
    let summary = state.usage().summary(&identity.billable()).await?;
    Ok(json(StatusCode::OK, &summary))
}

#[cfg(test)]
mod tests {
    use billing::testkit;

    use super::*;

    fn state() -> AppState {
        // The DynamoDB endpoint is unreachable: reaching the store would be a 503, not a 4xx.
        testkit::state(testkit::config("billing-test", "http://127.0.0.1:9", None), crate::NEEDS).unwrap()
    }

    fn body(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn a_users_token_never_records_usage() {
        let state = state();
        // The store is unreachable: a 403 here is decided before any read or write.
        for body_text in [
            r#"{"feature": "api_calls", "quantity": 1}"#,
            r#"{"feature": "api_calls", "quantity": 1000000}"#,
            "not json",
        ] {
            let req = testkit::event_with("usage-record.json", |e| e["body"] = body_text.into());
            let response = handle(&state, req).await.unwrap();
            assert_eq!(response.status(), 403, "{body_text}");
            assert_eq!(body(&response)["type"], "/errors/trusted-caller-required");
        }
        let response = handle(&state, testkit::event("usage-record-unauthenticated.json")).await.unwrap();
        assert_eq!(response.status(), 403);
        let response = handle(&state, testkit::event("usage-get.json")).await.unwrap();
        assert_eq!(response.status(), 503, "the store is down: never a guess");
        assert!(response.headers().contains_key("retry-after"));
    }

    #[tokio::test]
    async fn a_direct_invocation_with_bad_input_is_refused_before_any_io() {
        let state = state();
        let payload: serde_json::Value = serde_json::from_str(&testkit::event_text("usage-record-direct.json")).unwrap();
        let mut bad = payload.clone();
        bad["quantity"] = 0.into();
        let answer = crate::direct::invoke(&state, bad).await;
        assert_eq!(
            (answer["allowed"].as_bool(), answer["problem"]["field"].as_str()),
            (Some(false), Some("quantity"))
        );
        // A valid record reaches the store, which is down: refused with a 503 problem, not a guess.
        let answer = crate::direct::invoke(&state, payload).await;
        assert_eq!(answer["allowed"], false);
        assert_eq!(answer["problem"]["status"], 503);
    }
}
