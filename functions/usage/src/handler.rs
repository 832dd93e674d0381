//! Routes of the usage function.
//!
//! | route | auth | does |
//! |---|---|---|
//! | `POST /usage` | user | `{feature, quantity}` counted against the period's quota (one conditional write) |
//! | `GET /usage` | user | the period's counters (one Query) |

use std::convert::Infallible;

use billing::AppState;
use billing::edge::http::{self, json, method_not_allowed, not_found};
use billing::edge::problem::{Problem, respond};
use billing::services::usage::UsageError;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use crate::error::UsageFnError;

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let response = match state.path(&req).as_slice() {
        ["usage"] if req.method() == Method::POST => respond(record(state, &req).await),
        ["usage"] if req.method() == Method::GET => respond(summary(state, &req).await),
        ["usage"] => method_not_allowed(&req, &[Method::GET, Method::POST]),
        _ => not_found(&req),
    };
    Ok(response)
}

/// `POST /usage` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    feature: Option<String>,
    quantity: Option<serde_json::Value>,
}

/// `POST /usage` `{feature, quantity}` → `{feature, used, limit, remaining, period_end}`.
async fn record(state: &AppState, req: &Request) -> Result<Response<Body>, UsageFnError> {
    let identity = state.identity.identify(req).await?;
    let body: RecordBody = http::json_body(req, http::MAX_JSON_BODY)?;
    let feature = body
        .feature
        .ok_or_else(|| Problem::bad_request("/errors/missing-field", "`feature` is required").with_field("feature"))?;
    // A quantity of the wrong type (a float, a string, negative) is an invalid quantity.
    let quantity = match body.quantity {
        None => {
            return Err(Problem::bad_request("/errors/missing-field", "`quantity` is required")
                .with_field("quantity")
                .into());
        }
        Some(value) => value.as_u64().ok_or(UsageError::InvalidQuantity)?,
    };
    let key = http::client_key(req)?;
    let recorded = state.usage().record(&identity.user_id, &feature, quantity, key.as_deref()).await?;
    Ok(json(StatusCode::OK, &recorded))
}

/// `GET /usage` → `{period_start, period_end, features: {…}}`.
async fn summary(state: &AppState, req: &Request) -> Result<Response<Body>, UsageFnError> {
    let identity = state.identity.identify(req).await?;
    let summary = state.usage().summary(&identity.user_id).await?;
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
    async fn bad_input_is_refused_before_any_io() {
        let state = state();
        for (text, field) in [
            (r#"{"feature": "API Calls", "quantity": 1}"#, "feature"),
            (r#"{"feature": "api_calls", "quantity": 0}"#, "quantity"),
            (r#"{"feature": "api_calls", "quantity": 1000001}"#, "quantity"),
            (r#"{"feature": "api_calls", "quantity": 1.5}"#, "quantity"),
            (r#"{"feature": "api_calls", "quantity": -1}"#, "quantity"),
            (r#"{"feature": "api_calls", "quantity": "1"}"#, "quantity"),
            (r#"{"feature": "api_calls"}"#, "quantity"),
            (r#"{"quantity": 1}"#, "feature"),
            (r#"{"feature": "api_calls", "quantity": 1, "extra": true}"#, "extra"),
        ] {
            let req = testkit::event_with("usage-record.json", |e| e["body"] = text.into());
            let response = handle(&state, req).await.unwrap();
            assert_eq!(response.status(), 400, "{text}");
            assert_eq!(body(&response)["field"], field, "{text}");
        }
        let req = testkit::event_with("usage-record.json", |e| e["body"] = "not json".into());
        assert_eq!(handle(&state, req).await.unwrap().status(), 400);
        let response = handle(&state, testkit::event("usage-record-unauthenticated.json")).await.unwrap();
        assert_eq!(response.status(), 401);
        let response = handle(&state, testkit::event("usage-get.json")).await.unwrap();
        assert_eq!(response.status(), 503, "the store is down: never a guess");
        assert!(response.headers().contains_key("retry-after"));
    }
}
