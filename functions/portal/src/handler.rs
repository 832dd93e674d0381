//! Routes of the portal function.
//!
//! | route | auth | does |
//! |---|---|---|
//! | `POST /portal` | user | creates a Stripe Billing Portal session → `{url}` |
//! | `PUT /customer/address` | user | sets the caller's billing address on their Stripe customer → `{address}` |

use std::convert::Infallible;

use billing::AppState;
use billing::adapters::store::StoreError;
use billing::adapters::stripe::{GatewayError, NewPortalSession, PortalFlow, idempotency_key};
use billing::domain::address::{Address, AddressInput};
use billing::edge::http::{self, json, method_not_allowed, not_found};
use billing::edge::identity::IdentityError;
use billing::edge::problem::{ApiError, Problem, respond};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let response = match state.path(&req).as_slice() {
        ["portal"] if req.method() == Method::POST => respond(create(state, &req).await),
        ["portal"] => method_not_allowed(&req, &[Method::POST]),
        ["customer", "address"] if req.method() == Method::PUT => respond(update_address(state, &req).await),
        ["customer", "address"] => method_not_allowed(&req, &[Method::PUT]),
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
    #[error(transparent)]
    Rate(#[from] billing::services::ratelimit::RateError),
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
            PortalError::Rate(err) => err.into(),
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
            PortalError::Stripe(err) => err.into(),
            PortalError::Store(err) => err.into(),
        }
    }
}

#[derive(Serialize)]
struct AddressView<'a> {
    address: &'a Address,
}

/// `PUT /customer/address` `{line1, line2?, city?, state?, postal_code?, country}`: validated
/// before any call (400 naming the field); a user without a customer is a 409.
async fn update_address(state: &AppState, req: &Request) -> Result<Response<Body>, PortalError> {
    let identity = state.identity.identify(req).await?;
    let billable = identity.manager()?;
    let body: AddressInput = http::json_body(req, http::MAX_JSON_BODY)?;
    let address = body
        .validate()
        .map_err(|err| Problem::bad_request("/errors/invalid-address", err.to_string()).with_field(err.field))?;
    let client_key = http::client_key(req)?;
    state.rate_limiter().take(&billable).await?;
    let stripe = state.stripe()?;
    let items = state.store.user_items(&billable).await?;
    let customer = items.customer.map(|c| c.customer_id).ok_or(PortalError::NoCustomer)?;
    // One key per request (the client's Idempotency-Key, else API Gateway's request id): setting
    // an address is idempotent anyway, and a key derived from the address would replay an old
    // answer when a user goes back to an earlier address (A, B, A) instead of applying it.
    let request_id = match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        Some(lambda_http::request::RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    let fields = serde_json::to_string(&address).unwrap_or_default();
    let key = match (client_key.as_deref(), request_id) {
        (Some(client), _) => idempotency_key("customer-address", &[&billable, &customer, &fields, client]),
        (None, Some(request)) => idempotency_key("customer-address-request", &[&billable, &customer, &fields, &request]),
        (None, None) => idempotency_key(
            "customer-address-time",
            &[&billable, &customer, &fields, &format!("{:?}", std::time::SystemTime::now())],
        ),
    };
    match stripe.update_customer_address(&customer, &address, &key).await? {
        Some(_) => {
            tracing::info!(user = %billable, %customer, country = %address.country, "billing address updated");
            Ok(json(StatusCode::OK, &AddressView { address: &address }))
        }
        // Deleted in Stripe: no billing account to update.
        None => Err(PortalError::NoCustomer),
    }
}

/// The portal flows a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Flow {
    PaymentMethodUpdate,
    SubscriptionCancel,
    SubscriptionUpdate,
}

impl Flow {
    fn as_str(self) -> &'static str {
        match self {
            Flow::PaymentMethodUpdate => "payment_method_update",
            Flow::SubscriptionCancel => "subscription_cancel",
            Flow::SubscriptionUpdate => "subscription_update",
        }
    }
}

/// `POST /portal` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortalBody {
    return_url: Option<String>,
    flow: Option<Flow>,
}

/// `POST /portal` `{return_url?, flow?}` → `{url}`.
async fn create(state: &AppState, req: &Request) -> Result<Response<Body>, PortalError> {
    let identity = state.identity.identify(req).await?;
    let billable = identity.manager()?;
    let body: PortalBody = http::json_body(req, http::MAX_JSON_BODY)?;
    let return_url = http::redirect_url(&state.config.redirects, "return_url", body.return_url.as_deref())?.to_string();
    state.rate_limiter().take(&billable).await?;
    let stripe = state.stripe()?;

    let items = state.store.user_items(&billable).await?;
    let customer = items
        .customer
        .as_ref()
        .map(|c| c.customer_id.clone())
        .ok_or(PortalError::NoCustomer)?;
    let flow = match body.flow {
        None => None,
        Some(Flow::PaymentMethodUpdate) => Some(PortalFlow::PaymentMethodUpdate),
        Some(flow) => {
            let live = items
                .live_subscriptions()
                .filter(|s| !billing::domain::access::is_custom_amount(&state.catalog, s))
                .max_by_key(|s| s.current_period_end)
                .ok_or(PortalError::NoSubscription { flow: flow.as_str() })?
                .subscription_id
                .clone();
            Some(match flow {
                Flow::SubscriptionCancel => PortalFlow::SubscriptionCancel(live),
                _ => PortalFlow::SubscriptionUpdate(live),
            })
        }
    };
    // Portal sessions are short-lived: the key covers one minute, so a retried request reuses the
    // session while a later visit gets a fresh one.
    let minute = (state.clock.now() / 60).to_string();
    let key = idempotency_key(
        "portal",
        &[&billable, &customer, &return_url, body.flow.map_or("", Flow::as_str), &minute],
    );
    let new = NewPortalSession {
        customer,
        return_url,
        flow,
    };
    let url = match stripe.create_portal_session(&new, &key).await {
        Ok(url) => url,
        // Deleted in the Dashboard; `customer.deleted` removes the link, and the next checkout
        // makes the user a new customer.
        Err(err) if err.is_missing_param("customer") => {
            tracing::warn!(user = %billable, customer = %new.customer, "the linked customer is missing in Stripe");
            return Err(PortalError::NoCustomer);
        }
        Err(err) => return Err(err.into()),
    };
    Ok(json(StatusCode::OK, &serde_json::json!({ "url": url })))
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
        assert_eq!(response.headers()["content-type"], billing::edge::problem::PROBLEM_JSON);
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
