//! Routes of the entitlements function. Each answer is ONE DynamoDB Query and no Stripe call.
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /entitlements` | user | `{user, plan, status, features, limits, current_period_end, cancel_at_period_end, trial_end, as_of}` |
//! | `GET /entitlements/{feature}` | user | `{feature, allowed, reason, limit?}` |

use std::convert::Infallible;

use billing::AppState;
use billing::edge::http::{json, method_not_allowed, not_found};
use billing::edge::identity::IdentityError;
use billing::edge::problem::{ApiError, Problem, respond};
use billing::services::gate::GateError;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let response = match state.path(&req).as_slice() {
        ["entitlements"] if req.method() == Method::GET => respond(summary(state, &req).await),
        ["entitlements", feature] if req.method() == Method::GET => respond(feature_check(state, &req, feature).await),
        ["entitlements"] | ["entitlements", _] => method_not_allowed(&req, &[Method::GET]),
        _ => not_found(&req),
    };
    Ok(response)
}

#[derive(Debug, thiserror::Error)]
pub enum EntitlementsError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Gate(#[from] GateError),
}

impl ApiError for EntitlementsError {
    fn problem(&self) -> Problem {
        match self {
            EntitlementsError::Identity(err) => err.problem(),
            EntitlementsError::Gate(err) => err.into(),
        }
    }
}

fn private(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

#[derive(Serialize)]
struct Summary<'a> {
    user: &'a str,
    /// The organization the answer is for (absent: the user's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<&'a str>,
    #[serde(flatten)]
    access: &'a billing::domain::access::Access,
    as_of: i64,
}

/// `GET /entitlements`.
async fn summary(state: &AppState, req: &Request) -> Result<Response<Body>, EntitlementsError> {
    let identity = state.identity.identify(req).await?;
    let org = identity.org.as_ref().map(|o| o.org_id.as_str());
    let access = state
        .gate()
        .access_in(&identity.user_id, org)
        .await
        .map_err(GateError::Unavailable)?;
    Ok(private(json(
        StatusCode::OK,
        &Summary {
            user: &identity.user_id,
            org_id: org,
            access: &access,
            as_of: state.clock.now(),
        },
    )))
}

#[derive(Serialize)]
struct FeatureView<'a> {
    feature: &'a str,
    allowed: bool,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
}

/// `GET /entitlements/{feature}`: 200 whether allowed or not (the answer is the body).
async fn feature_check(state: &AppState, req: &Request, feature: &str) -> Result<Response<Body>, EntitlementsError> {
    let identity = state.identity.identify(req).await?;
    let org = identity.org.as_ref().map(|o| o.org_id.as_str());
    let decision = state.gate().check_in(&identity.user_id, org, feature).await?;
    let view = FeatureView {
        feature,
        allowed: decision.allowed,
        reason: decision.reason.as_str(),
        limit: decision.limit,
    };
    Ok(private(json(StatusCode::OK, &view)))
}

#[cfg(test)]
mod tests {
    use billing::testkit;

    use super::*;

    fn state() -> AppState {
        // Unreachable DynamoDB: the store is "unavailable" for these tests.
        testkit::state(testkit::config("billing-test", "http://127.0.0.1:9", None), crate::NEEDS).unwrap()
    }

    fn status_and_body(response: Response<Body>) -> (u16, serde_json::Value) {
        (
            response.status().as_u16(),
            serde_json::from_slice(response.body().as_ref()).unwrap_or_default(),
        )
    }

    #[tokio::test]
    async fn no_identity_is_401() {
        let req = testkit::event_with("entitlements-get.json", |e| {
            e["requestContext"].as_object_mut().unwrap().remove("authorizer");
        });
        let (status, body) = status_and_body(handle(&state(), req).await.unwrap());
        assert_eq!(status, 401);
        assert_eq!(body["type"], "/errors/unauthorized");
    }

    #[tokio::test]
    async fn malformed_feature_keys_are_400_before_any_read() {
        for feature in ["Has%20Space", "UPPER", &"x".repeat(101), "semi;colon"] {
            let path = format!("/entitlements/{feature}");
            let req = testkit::event_with("entitlements-feature.json", |e| {
                e["rawPath"] = path.clone().into();
                e["requestContext"]["http"]["path"] = path.clone().into();
            });
            let (status, body) = status_and_body(handle(&state(), req).await.unwrap());
            assert_eq!(status, 400, "{feature}: {body}");
            assert_eq!(body["field"], "feature");
        }
    }

    #[tokio::test]
    async fn an_unavailable_store_is_503_never_allowed() {
        for event in ["entitlements-get.json", "entitlements-feature.json"] {
            let response = handle(&state(), testkit::event(event)).await.unwrap();
            assert_eq!(response.headers()[header::RETRY_AFTER], "2");
            let (status, body) = status_and_body(response);
            assert_eq!(status, 503, "{event}");
            assert!(body.get("allowed").is_none());
        }
    }

    #[tokio::test]
    async fn routes_match_behind_a_named_stage_and_a_custom_domain_mapping() {
        let with_path = |path: &str, stage: &str| {
            let (path, stage) = (path.to_owned(), stage.to_owned());
            testkit::event_with("entitlements-feature.json", move |e| {
                e["rawPath"] = path.clone().into();
                e["requestContext"]["http"]["path"] = path.into();
                e["requestContext"]["stage"] = stage.into();
            })
        };
        // Matched: the (unreachable) store answers 503, where an unmatched path is a 404.
        let (status, _) = status_and_body(handle(&state(), with_path("/prod/entitlements/exports", "prod")).await.unwrap());
        assert_eq!(status, 503);
        let (status, _) = status_and_body(
            handle(&state(), with_path("/billing/entitlements/exports", "$default"))
                .await
                .unwrap(),
        );
        assert_eq!(status, 404, "a mapping prefix is only stripped when configured");
        let mut config = testkit::config("billing-test", "http://127.0.0.1:9", None);
        config.api_base_path = Some("billing".into());
        let mapped = testkit::state(config, crate::NEEDS).unwrap();
        let (status, _) = status_and_body(
            handle(&mapped, with_path("/billing/entitlements/exports", "$default"))
                .await
                .unwrap(),
        );
        assert_eq!(status, 503);
    }
}
