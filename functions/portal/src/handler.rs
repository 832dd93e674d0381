//! Routes of the portal function.
//!
//! | route | auth | does |
//! |---|---|---|
//! | `POST /portal` | user | creates a Stripe Billing Portal session → `{url}` |

use std::convert::Infallible;

use billing::AppState;
use billing::gateway::{self, GatewayError, with_retries};
use billing::http::{self, json, method_not_allowed, not_found, path_segments};
use billing::identity::IdentityError;
use billing::problem::{ApiError, Problem, respond};
use billing::store::StoreError;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use stripe_billing::billing_portal_session::{
    CreateBillingPortalSession, CreateBillingPortalSessionFlowData, CreateBillingPortalSessionFlowDataSubscriptionCancel,
    CreateBillingPortalSessionFlowDataSubscriptionUpdate, CreateBillingPortalSessionFlowDataType,
};
use stripe_client_core::StripeRequest;

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let response = match path_segments(&req).as_slice() {
        ["portal"] if req.method() == Method::POST => respond(create(state, &req).await),
        ["portal"] => method_not_allowed(&req, &[Method::POST]),
        _ => not_found(&req),
    };
    Ok(response)
}

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("invalid request: {}", .0.detail)]
    Invalid(Problem),
    #[error("user has no stripe customer")]
    NoCustomer,
    #[error("user has no live subscription for flow {flow}")]
    NoSubscription { flow: &'static str },
    #[error("a stripe call failed")]
    Stripe(#[from] GatewayError),
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("stripe client missing")]
    NoClient,
}

impl From<Problem> for PortalError {
    fn from(problem: Problem) -> Self {
        PortalError::Invalid(problem)
    }
}

impl ApiError for PortalError {
    fn problem(&self) -> Problem {
        match self {
            PortalError::Identity(err) => err.problem(),
            PortalError::Invalid(problem) => problem.clone(),
            PortalError::NoCustomer => Problem::new(
                StatusCode::CONFLICT,
                "/errors/no-customer",
                "No billing account",
                "there is no billing account for this user yet: subscribe first (POST /checkout)",
            )
            .with_extension("checkout", "/checkout"),
            PortalError::NoSubscription { flow } => Problem::new(
                StatusCode::CONFLICT,
                "/errors/no-subscription",
                "No subscription",
                format!("the `{flow}` flow needs a live subscription; subscribe first (POST /checkout)"),
            ),
            PortalError::Stripe(GatewayError::Unavailable { .. }) => Problem::unavailable(5),
            PortalError::Stripe(_) | PortalError::NoClient => Problem::new(
                StatusCode::BAD_GATEWAY,
                "/errors/payment-provider",
                "Payment provider error",
                "the payment provider refused the request; it has been logged",
            ),
            PortalError::Store(StoreError::Backend { .. }) => Problem::unavailable(2),
            PortalError::Store(_) => Problem::internal(),
        }
    }
}

/// The portal flows a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    PaymentMethodUpdate,
    SubscriptionCancel,
    SubscriptionUpdate,
}

impl Flow {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "payment_method_update" => Some(Flow::PaymentMethodUpdate),
            "subscription_cancel" => Some(Flow::SubscriptionCancel),
            "subscription_update" => Some(Flow::SubscriptionUpdate),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Flow::PaymentMethodUpdate => "payment_method_update",
            Flow::SubscriptionCancel => "subscription_cancel",
            Flow::SubscriptionUpdate => "subscription_update",
        }
    }
}

/// `POST /portal` `{return_url?, flow?}` → `{url}`.
async fn create(state: &AppState, req: &Request) -> Result<Response<Body>, PortalError> {
    let identity = state.identity.identify(req)?;
    let body = http::json_object(req, http::MAX_JSON_BODY)?;
    http::only_fields(&body, &["return_url", "flow"])?;
    let return_url = http::redirect_url(&state.config.redirects, "return_url", http::optional_str(&body, "return_url")?)?.to_string();
    let flow = match http::optional_str(&body, "flow")? {
        None => None,
        Some(value) => Some(Flow::parse(value).ok_or_else(|| {
            Problem::bad_request(
                "/errors/invalid-field",
                "`flow` must be payment_method_update, subscription_cancel or subscription_update",
            )
            .with_field("flow")
        })?),
    };
    let stripe = state.stripe.as_ref().ok_or(PortalError::NoClient)?;

    let items = state.store.user_items(&identity.user_id).await?;
    let customer = items
        .customer
        .as_ref()
        .map(|c| c.customer_id.clone())
        .ok_or(PortalError::NoCustomer)?;
    let mut request = CreateBillingPortalSession::new()
        .customer(customer.clone())
        .return_url(return_url.clone());
    if let Some(flow) = flow {
        let mut data = CreateBillingPortalSessionFlowData::new(match flow {
            Flow::PaymentMethodUpdate => CreateBillingPortalSessionFlowDataType::PaymentMethodUpdate,
            Flow::SubscriptionCancel => CreateBillingPortalSessionFlowDataType::SubscriptionCancel,
            Flow::SubscriptionUpdate => CreateBillingPortalSessionFlowDataType::SubscriptionUpdate,
        });
        if flow != Flow::PaymentMethodUpdate {
            let live = items
                .subscriptions
                .iter()
                .filter(|s| matches!(s.status.as_str(), "active" | "trialing" | "past_due"))
                .max_by_key(|s| s.current_period_end)
                .ok_or(PortalError::NoSubscription { flow: flow.as_str() })?;
            match flow {
                Flow::SubscriptionCancel => {
                    data.subscription_cancel = Some(CreateBillingPortalSessionFlowDataSubscriptionCancel::new(
                        live.subscription_id.clone(),
                    ))
                }
                _ => {
                    data.subscription_update = Some(CreateBillingPortalSessionFlowDataSubscriptionUpdate::new(
                        live.subscription_id.clone(),
                    ))
                }
            }
        }
        request = request.flow_data(data);
    }
    // Portal sessions are short-lived: the key covers one minute, so a retried request reuses the
    // session while a later visit gets a fresh one.
    let minute = (billing::now_epoch() / 60).to_string();
    let key = gateway::idempotency_key(
        "portal",
        &[&identity.user_id, &customer, &return_url, flow.map_or("", Flow::as_str), &minute],
    );
    let session = with_retries("create_portal_session", "customer", Some(&key), |strategy| {
        request.customize().request_strategy(strategy).send(stripe)
    })
    .await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "url": session.url })))
}

#[cfg(test)]
mod tests {
    use billing::testkit;

    use super::*;

    #[tokio::test]
    async fn unknown_routes_are_problem_404s() {
        let state = testkit::state(testkit::config("billing-test", "http://127.0.0.1:9", None), crate::NEEDS).unwrap();
        let response = handle(&state, testkit::event("unknown-route.json")).await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], billing::problem::PROBLEM_JSON);
    }

    #[tokio::test]
    async fn bad_input_is_rejected_before_any_io() {
        // The DynamoDB endpoint is unreachable: reaching the store would be a 503, not a 4xx.
        let state = testkit::state(testkit::config("billing-test", "http://127.0.0.1:9", None), crate::NEEDS).unwrap();
        for (body, status, field) in [
            (r#"{"return_url": "https://evil.example.com/"}"#, 400, Some("return_url")),
            (r#"{"flow": "delete_everything"}"#, 400, Some("flow")),
            (r#"{"nope": 1}"#, 400, Some("nope")),
            (r#"[1]"#, 400, None),
            (r#"{"#, 400, None),
        ] {
            let mut event: serde_json::Value = serde_json::from_str(&testkit::event_text("portal-create.json")).unwrap();
            event["body"] = body.into();
            let req = lambda_http::request::from_str(&event.to_string()).unwrap();
            let response = handle(&state, req).await.unwrap();
            assert_eq!(response.status(), status, "{body}");
            let problem: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
            assert_eq!(problem["field"].as_str(), field, "{body}");
        }
    }
}
