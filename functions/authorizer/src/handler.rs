//! One decision. In: API Gateway's Lambda authorizer request (HTTP API, payload format 2.0).
//! Out: a simple response, `{"isAuthorized": bool, "context": {"user", "plan", "status",
//! "feature", "reason"}}`; API Gateway passes `context` on to the integration
//! (`$context.authorizer.<key>`).
//!
//! - No token, or one that does not verify (see `billing::edge::identity`): denied,
//!   `reason: "invalid_token"`.
//! - A route `AUTHORIZER_ROUTES` does not list: allowed for any valid token,
//!   `reason: "authenticated"`; nothing is read.
//! - A listed route: the user's access decided by the rules of `GET /entitlements/{feature}` (one
//!   DynamoDB Query); `reason` is that decision's (`active`, `trialing`, `grace_past_due`,
//!   `free_plan`, `canceled`, …).
//! - The store down: denied, `reason: "unavailable"`, logged and counted (`AuthorizerUnavailable`,
//!   alarmed). Never allowed.
//! - No `routeKey` (not a payload 2.0 request): denied, `reason: "no_route"`.

use std::collections::HashMap;

use billing::AppState;
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};

/// The parts of the authorizer request this function reads (the rest is ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerRequest {
    /// `GET /reports`, as the route is configured on the API.
    #[serde(default)]
    pub route_key: Option<String>,
    /// Lower-case names (HTTP API).
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// The identity sources' values, in the configured order.
    #[serde(default)]
    pub identity_source: Option<Vec<String>>,
}

impl AuthorizerRequest {
    /// The `Authorization` header's value, else the identity source that carries a bearer token.
    pub fn authorization(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| value.as_str())
            .or_else(|| {
                self.identity_source
                    .iter()
                    .flatten()
                    .map(String::as_str)
                    .find(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "))
            })
    }
}

/// The simple response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    pub is_authorized: bool,
    pub context: DecisionContext,
}

/// What the integration receives about the decision (strings only: API Gateway's rule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DecisionContext {
    pub user: String,
    /// The organization the decision was made for (empty: the user's own).
    pub org: String,
    pub plan: String,
    pub status: String,
    pub feature: String,
    pub reason: String,
}

fn deny(user: &str, feature: &str, reason: &str) -> AuthorizerResponse {
    AuthorizerResponse {
        is_authorized: false,
        context: DecisionContext {
            user: user.to_owned(),
            feature: feature.to_owned(),
            reason: reason.to_owned(),
            ..DecisionContext::default()
        },
    }
}

/// The decision for one request.
pub async fn decide(state: &AppState, request: &AuthorizerRequest) -> AuthorizerResponse {
    let route = request.route_key.as_deref().unwrap_or_default();
    if route.is_empty() {
        // Not API Gateway's payload 2.0 (a 1.0 payload, a test invoke): nothing to decide on.
        tracing::warn!("no routeKey in the authorizer request; denied");
        return deny("", "", "no_route");
    }
    let feature = state.config.authorizer_routes.feature_for(route);
    let identity = match request.authorization() {
        Some(value) => state.identity.verify_bearer(value).await,
        None => Err(billing::edge::identity::IdentityError::Missing),
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(err) => {
            tracing::info!(route, error = %err, "token refused");
            return deny("", feature.unwrap_or_default(), "invalid_token");
        }
    };
    let user = identity.user_id.as_str();
    let Some(feature) = feature else {
        return AuthorizerResponse {
            is_authorized: true,
            context: DecisionContext {
                user: user.to_owned(),
                reason: "authenticated".into(),
                ..DecisionContext::default()
            },
        };
    };
    let org = identity.org.as_ref().map(|o| o.org_id.as_str());
    match state.gate().access_in(user, org).await {
        Ok(access) => {
            let decision = access.check(feature);
            tracing::info!(
                route,
                user,
                feature,
                allowed = decision.allowed,
                reason = decision.reason.as_str(),
                "decided"
            );
            AuthorizerResponse {
                is_authorized: decision.allowed,
                context: DecisionContext {
                    user: user.to_owned(),
                    org: org.unwrap_or_default().to_owned(),
                    plan: access.plan.clone().unwrap_or_default(),
                    status: access.status.as_str().to_owned(),
                    feature: feature.to_owned(),
                    reason: decision.reason.as_str().to_owned(),
                },
            }
        }
        Err(err) => {
            tracing::error!(route, user, feature, error = %billing::edge::problem::cause_chain(&err), "entitlements unavailable; denied");
            billing::edge::metrics::emit(&state.config.metrics_namespace, &[("AuthorizerUnavailable", 1.0)]);
            deny(user, feature, "unavailable")
        }
    }
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(state: &AppState, event: LambdaEvent<AuthorizerRequest>) -> Result<AuthorizerResponse, lambda_runtime::Error> {
    Ok(decide(state, &event.payload).await)
}

#[cfg(test)]
mod tests {
    use billing::testkit;

    use super::*;

    fn state() -> AppState {
        // Unreachable DynamoDB: any read fails.
        let mut config = testkit::config("billing-test", "http://127.0.0.1:9", None);
        config.authorizer_routes = billing::domain::routes::RouteFeatures::parse(r#"{"GET /reports": "exports"}"#).unwrap();
        testkit::state(config, crate::NEEDS).unwrap()
    }

    fn request(route: &str, authorization: Option<String>) -> AuthorizerRequest {
        let mut request: AuthorizerRequest = serde_json::from_str(&testkit::event_text("authorizer-gated.json")).unwrap();
        request.route_key = Some(route.to_owned());
        request.headers.remove("authorization");
        if let Some(value) = authorization {
            request.headers.insert("authorization".into(), value);
        }
        request
    }

    fn token(state: &AppState, user: &str) -> String {
        format!("Bearer {}", testkit::token(&state.config, user, None))
    }

    #[tokio::test]
    async fn no_or_bad_tokens_are_denied_before_any_read() {
        let state = state();
        for authorization in [None, Some("Bearer not.a.jwt".to_owned()), Some("Basic dTpw".to_owned())] {
            let answer = decide(&state, &request("GET /reports", authorization.clone())).await;
            assert!(!answer.is_authorized, "{authorization:?}");
            assert_eq!(answer.context.reason, "invalid_token");
            assert_eq!(answer.context.feature, "exports");
        }
    }

    #[tokio::test]
    async fn a_request_without_a_route_key_is_denied() {
        let state = state();
        let mut request = request("GET /profile", Some(token(&state, "user_1")));
        request.route_key = None;
        let answer = decide(&state, &request).await;
        assert!(!answer.is_authorized);
        assert_eq!(answer.context.reason, "no_route");
    }

    #[tokio::test]
    async fn an_unlisted_route_needs_a_valid_token_only() {
        let state = state();
        let answer = decide(&state, &request("GET /profile", Some(token(&state, "user_1")))).await;
        assert!(answer.is_authorized);
        assert_eq!(
            (answer.context.user.as_str(), answer.context.reason.as_str()),
            ("user_1", "authenticated")
        );
    }

    #[tokio::test]
    async fn a_store_that_cannot_answer_denies() {
        let state = state();
        let answer = decide(&state, &request("GET /reports", Some(token(&state, "user_1")))).await;
        assert!(!answer.is_authorized);
        assert_eq!(answer.context.reason, "unavailable");
    }

    #[test]
    fn the_answer_has_api_gateways_simple_shape() {
        let answer = deny("u", "exports", "invalid_token");
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(json["isAuthorized"], false);
        assert_eq!(json["context"]["feature"], "exports");
        assert!(json["context"].as_object().unwrap().values().all(serde_json::Value::is_string));
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_identity_source() {
        let mut request = AuthorizerRequest {
            identity_source: Some(vec!["Bearer abc".into(), "GET /reports".into()]),
            ..AuthorizerRequest::default()
        };
        assert_eq!(request.authorization(), Some("Bearer abc"));
        request.headers.insert("Authorization".into(), "Bearer def".into());
        assert_eq!(request.authorization(), Some("Bearer def"));
    }
}
