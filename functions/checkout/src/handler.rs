//! Routes of the checkout function.
//!
//! | route | auth | does |
//! |---|---|---|
//! | `GET /plans` | public | the catalog's public view |
//! | `POST /checkout` | user | creates a Stripe Checkout Session → 201 `{id, url}` |
//! | `GET /checkout/{session_id}` | user, own session | eager sync after the return from Checkout |

use std::convert::Infallible;

use billing::gateway::{self, GatewayError, with_retries};
use billing::http::{self, json, method_not_allowed, not_found, path_segments};
use billing::identity::{Identity, IdentityError};
use billing::plans::{Interval, Plan, PlanMode};
use billing::problem::{ApiError, Problem, respond};
use billing::store::{LinkOutcome, StoreError, SubscriptionRecord, UserItems};
use billing::{AppState, config::DuplicatePolicy};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionCustomerCreation, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
    RetrieveCheckoutSession,
};
use stripe_client_core::StripeRequest;
use stripe_shared::{CheckoutSessionMode, CheckoutSessionStatus};

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let segments = path_segments(&req);
    let response = match segments.as_slice() {
        ["plans"] if req.method() == Method::GET => plans(state),
        ["plans"] => method_not_allowed(&req, &[Method::GET]),
        ["checkout"] if req.method() == Method::POST => respond(create(state, &req).await),
        ["checkout"] => method_not_allowed(&req, &[Method::POST]),
        ["checkout", id] if req.method() == Method::GET => respond(sync(state, &req, id).await),
        ["checkout", _] => method_not_allowed(&req, &[Method::GET]),
        _ => not_found(&req),
    };
    Ok(response)
}

/// Everything that can go wrong in this function, mapped to HTTP in [`ApiError::problem`].
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("invalid request: {}", .0.detail)]
    Invalid(Problem),
    #[error("user already has a live subscription to `{plan}`")]
    AlreadySubscribed { plan: String },
    #[error("checkout session not found for this user")]
    SessionNotFound,
    #[error("stripe customer {customer} is linked to another user")]
    CustomerConflict { customer: String },
    #[error("a stripe call failed")]
    Stripe(#[from] GatewayError),
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("stripe returned a checkout session without {0}")]
    Incomplete(&'static str),
}

impl From<Problem> for CheckoutError {
    fn from(problem: Problem) -> Self {
        CheckoutError::Invalid(problem)
    }
}

impl ApiError for CheckoutError {
    fn problem(&self) -> Problem {
        match self {
            CheckoutError::Identity(err) => err.problem(),
            CheckoutError::Invalid(problem) => problem.clone(),
            CheckoutError::AlreadySubscribed { plan } => Problem::new(
                StatusCode::CONFLICT,
                "/errors/already-subscribed",
                "Already subscribed",
                format!("you already have a subscription to `{plan}`; change or manage it in the billing portal (POST /portal)"),
            )
            .with_extension("portal", "/portal"),
            CheckoutError::SessionNotFound => Problem::not_found("no such checkout session"),
            CheckoutError::CustomerConflict { .. } => Problem::new(
                StatusCode::CONFLICT,
                "/errors/customer-conflict",
                "Customer conflict",
                "this checkout belongs to a billing account linked to another user; contact support",
            ),
            CheckoutError::Stripe(GatewayError::Card { .. }) => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "/errors/card-declined",
                "Card declined",
                "the payment method was declined",
            ),
            CheckoutError::Stripe(GatewayError::Unavailable { .. }) => Problem::unavailable(5),
            CheckoutError::Stripe(_) | CheckoutError::Incomplete(_) => Problem::new(
                StatusCode::BAD_GATEWAY,
                "/errors/payment-provider",
                "Payment provider error",
                "the payment provider refused the request; it has been logged",
            ),
            CheckoutError::Store(StoreError::Backend { .. }) => Problem::unavailable(2),
            CheckoutError::Store(_) => Problem::internal(),
        }
    }
}

/// `GET /plans`: the public view of the catalog (no Stripe identifiers).
fn plans(state: &AppState) -> Response<Body> {
    let mut response = json(StatusCode::OK, &state.catalog.public_view());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// A validated `POST /checkout` body.
#[derive(Debug)]
struct CheckoutInput<'a> {
    plan: &'a Plan,
    interval: Interval,
    quantity: u64,
    success_url: String,
    cancel_url: String,
}

const FIELDS: &[&str] = &["plan", "interval", "quantity", "success_url", "cancel_url"];

/// Validates the body against the catalog and the redirect rules. No I/O.
fn parse_input<'a>(state: &'a AppState, body: &serde_json::Map<String, serde_json::Value>) -> Result<CheckoutInput<'a>, Problem> {
    http::only_fields(body, FIELDS)?;
    let plan_id = http::optional_str(body, "plan")?
        .ok_or_else(|| Problem::bad_request("/errors/missing-field", "`plan` is required").with_field("plan"))?;
    let plan = state.catalog.get(plan_id).ok_or_else(|| {
        Problem::bad_request("/errors/unknown-plan", "`plan` names no plan in the catalog (see GET /plans)").with_field("plan")
    })?;
    if plan.free {
        return Err(Problem::bad_request("/errors/unknown-plan", "the free plan needs no checkout").with_field("plan"));
    }
    let interval = match (http::optional_str(body, "interval")?, plan.mode) {
        (None, PlanMode::OneTime) => Interval::OneTime,
        (None, PlanMode::Subscription) => {
            return Err(Problem::bad_request("/errors/missing-field", "`interval` is required: month or year").with_field("interval"));
        }
        (Some(value), _) => Interval::parse(value).filter(|i| plan.price(*i).is_some()).ok_or_else(|| {
            Problem::bad_request(
                "/errors/unknown-interval",
                format!(
                    "plan `{}` is not sold per `{}`",
                    plan.id,
                    value.chars().take(16).collect::<String>()
                ),
            )
            .with_field("interval")
        })?,
    };
    let quantity = match body.get("quantity") {
        None | Some(serde_json::Value::Null) => 1,
        Some(value) => value
            .as_u64()
            .filter(|q| (1..=u64::from(plan.max_quantity)).contains(q))
            .ok_or_else(|| {
                Problem::bad_request(
                    "/errors/invalid-quantity",
                    format!("`quantity` must be a whole number from 1 to {}", plan.max_quantity),
                )
                .with_field("quantity")
            })?,
    };
    let redirects = &state.config.redirects;
    let success = http::redirect_url(redirects, "success_url", http::optional_str(body, "success_url")?)?;
    let cancel = http::redirect_url(redirects, "cancel_url", http::optional_str(body, "cancel_url")?)?;
    let defaulted = |url: url::Url, given: bool, param: &str| if given { url.to_string() } else { with_query(url.as_str(), param) };
    let mut success_url = defaulted(success, body.contains_key("success_url"), "checkout=success");
    if !success_url.contains("{CHECKOUT_SESSION_ID}") {
        // Added verbatim: Stripe substitutes the literal placeholder (a URL library would
        // percent-encode the braces).
        success_url = with_query(&success_url, "session_id={CHECKOUT_SESSION_ID}");
    }
    let cancel_url = defaulted(cancel, body.contains_key("cancel_url"), "checkout=canceled");
    Ok(CheckoutInput {
        plan,
        interval,
        quantity,
        success_url,
        cancel_url,
    })
}

fn with_query(url: &str, pair: &str) -> String {
    let (base, fragment) = url.split_once('#').map_or((url, None), |(b, f)| (b, Some(f)));
    let sep = if base.contains('?') { '&' } else { '?' };
    match fragment {
        Some(fragment) => format!("{base}{sep}{pair}#{fragment}"),
        None => format!("{base}{sep}{pair}"),
    }
}

/// The client's `Idempotency-Key` header, if any (at most 200 visible ASCII characters).
fn client_key(req: &Request) -> Result<Option<String>, Problem> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= 200 && key.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(key.to_owned())),
        _ => Err(
            Problem::bad_request("/errors/invalid-header", "`Idempotency-Key` must be 1-200 visible ASCII characters")
                .with_field("Idempotency-Key"),
        ),
    }
}

fn is_live(status: &str) -> bool {
    matches!(status, "active" | "trialing" | "past_due")
}

fn blocking_subscription<'a>(policy: DuplicatePolicy, items: &'a UserItems, plan: &Plan) -> Option<&'a SubscriptionRecord> {
    let mut live = items.subscriptions.iter().filter(|s| is_live(&s.status));
    match policy {
        DuplicatePolicy::Allow => None,
        DuplicatePolicy::Any => live.next(),
        DuplicatePolicy::SamePlan => live.find(|s| s.plan.as_deref() == Some(plan.id.as_str())),
    }
}

#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    url: &'a str,
}

/// `POST /checkout`.
async fn create(state: &AppState, req: &Request) -> Result<Response<Body>, CheckoutError> {
    let identity = state.identity.identify(req)?;
    let body = http::json_object(req, http::MAX_JSON_BODY)?;
    let input = parse_input(state, &body)?;
    let client_key = client_key(req)?;
    let stripe = state.stripe.as_ref().ok_or(CheckoutError::Incomplete("a configured client"))?;

    let items = state.store.user_items(&identity.user_id).await?;
    if input.plan.mode == PlanMode::Subscription
        && let Some(existing) = blocking_subscription(state.config.checkout.duplicate_policy, &items, input.plan)
    {
        return Err(CheckoutError::AlreadySubscribed {
            plan: existing.plan.clone().unwrap_or_else(|| input.plan.id.clone()),
        });
    }
    let price = input.plan.price(input.interval).ok_or(CheckoutError::Incomplete("a price"))?;
    let price_id = match (&price.price, &price.lookup_key) {
        (Some(id), _) => id.clone(),
        (None, Some(key)) => state.prices.resolve(stripe, key).await?,
        (None, None) => return Err(CheckoutError::Incomplete("a price reference")),
    };
    let customer = items.customer.as_ref().map(|c| c.customer_id.clone());
    let quantity = input.quantity.to_string();
    let key = gateway::idempotency_key(
        "checkout",
        &[
            &identity.user_id,
            &input.plan.id,
            input.interval.as_str(),
            &quantity,
            &input.success_url,
            &input.cancel_url,
            customer.as_deref().unwrap_or_default(),
            identity.email.as_deref().unwrap_or_default(),
            client_key.as_deref().unwrap_or_default(),
        ],
    );

    let metadata = [
        ("user_id".to_owned(), identity.user_id.clone()),
        ("plan".to_owned(), input.plan.id.clone()),
        ("interval".to_owned(), input.interval.as_str().to_owned()),
    ];
    let mut line = CreateCheckoutSessionLineItems::new();
    line.price = Some(price_id);
    line.quantity = Some(input.quantity);
    let mut request = CreateCheckoutSession::new()
        .line_items(vec![line])
        .metadata(metadata.clone())
        .success_url(input.success_url.clone())
        .cancel_url(input.cancel_url.clone());
    if identity.user_id.len() <= 200 {
        request = request.client_reference_id(identity.user_id.clone());
    }
    request = match (&customer, &identity.email) {
        (Some(customer), _) => request.customer(customer.clone()),
        (None, Some(email)) => request.customer_email(email.clone()),
        (None, None) => request,
    };
    request = match input.plan.mode {
        PlanMode::Subscription => {
            let mut data = CreateCheckoutSessionSubscriptionData::new();
            data.metadata = Some(metadata.into_iter().collect());
            // A trial is for first-time subscribers only.
            if input.plan.trial_days > 0 && items.subscriptions.is_empty() {
                data.trial_period_days = Some(input.plan.trial_days);
            }
            request
                .mode(CheckoutSessionMode::Subscription)
                .subscription_data(data)
                .allow_promotion_codes(state.config.checkout.allow_promotion_codes)
        }
        PlanMode::OneTime => {
            let request = request
                .mode(CheckoutSessionMode::Payment)
                .allow_promotion_codes(state.config.checkout.allow_promotion_codes);
            if customer.is_none() {
                request.customer_creation(CreateCheckoutSessionCustomerCreation::Always)
            } else {
                request
            }
        }
    };

    let session = with_retries("create_checkout_session", "price", Some(&key), |strategy| {
        request.customize().request_strategy(strategy).send(stripe)
    })
    .await?;
    let url = session.url.as_deref().ok_or(CheckoutError::Incomplete("a url"))?;
    tracing::info!(user = %identity.user_id, plan = %input.plan.id, interval = %input.interval, session = %session.id, "checkout session created");
    Ok(json(
        StatusCode::CREATED,
        &Created {
            id: session.id.as_str(),
            url,
        },
    ))
}

#[derive(Serialize)]
struct SyncView<'a> {
    session: SessionView<'a>,
    subscription: Option<SubscriptionView<'a>>,
}

#[derive(Serialize)]
struct SessionView<'a> {
    id: &'a str,
    status: Option<&'a str>,
    payment_status: String,
    mode: String,
}

#[derive(Serialize)]
struct SubscriptionView<'a> {
    id: &'a str,
    plan: Option<&'a str>,
    status: &'a str,
    interval: Option<Interval>,
    quantity: u64,
    current_period_end: Option<i64>,
    cancel_at_period_end: bool,
    trial_end: Option<i64>,
}

impl<'a> From<&'a SubscriptionRecord> for SubscriptionView<'a> {
    fn from(r: &'a SubscriptionRecord) -> Self {
        Self {
            id: &r.subscription_id,
            plan: r.plan.as_deref(),
            status: &r.status,
            interval: r.interval,
            quantity: r.quantity,
            current_period_end: r.current_period_end,
            cancel_at_period_end: r.cancel_at_period_end,
            trial_end: r.trial_end,
        }
    }
}

fn valid_session_id(id: &str) -> bool {
    id.starts_with("cs_") && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `GET /checkout/{session_id}`: reads the session from Stripe and, when it is complete,
/// stores the customer mapping and subscription right away (the webhook may come later).
async fn sync(state: &AppState, req: &Request, session_id: &str) -> Result<Response<Body>, CheckoutError> {
    let identity = state.identity.identify(req)?;
    if !valid_session_id(session_id) {
        return Err(CheckoutError::SessionNotFound);
    }
    let stripe = state.stripe.as_ref().ok_or(CheckoutError::Incomplete("a configured client"))?;
    let session = match with_retries("retrieve_checkout_session", "checkout session", None, |strategy| {
        RetrieveCheckoutSession::new(session_id)
            .customize()
            .request_strategy(strategy)
            .send(stripe)
    })
    .await
    {
        Ok(session) => session,
        Err(GatewayError::NotFound { .. }) => return Err(CheckoutError::SessionNotFound),
        Err(err) => return Err(err.into()),
    };
    if !owned_by(&session, &identity) {
        return Err(CheckoutError::SessionNotFound);
    }
    let complete = session.status == Some(CheckoutSessionStatus::Complete);
    let subscription_id = session.subscription.as_ref().map(|s| s.id().to_string());
    if complete && let Some(customer) = session.customer.as_ref().map(|c| c.id().to_string()) {
        let email = session
            .customer_details
            .as_ref()
            .and_then(|d| d.email.as_deref())
            .or(identity.email.as_deref());
        if state
            .store
            .link_customer(&identity.user_id, &customer, email, billing::now_epoch())
            .await?
            == LinkOutcome::Conflict
        {
            tracing::warn!(user = %identity.user_id, %customer, "customer already linked elsewhere");
            return Err(CheckoutError::CustomerConflict { customer });
        }
        if let Some(subscription_id) = &subscription_id {
            sync_subscription(state, stripe, &identity.user_id, subscription_id).await?;
        } else if session.mode == CheckoutSessionMode::Payment
            && session.payment_status == stripe_shared::CheckoutSessionPaymentStatus::Paid
        {
            let plan = session.metadata.as_ref().and_then(|m| m.get("plan"));
            let version = billing::sync::fetched_version(billing::now_epoch());
            if let Some(record) = plan.and_then(|plan| {
                billing::sync::purchase_record(&identity.user_id, session.id.as_str(), &customer, plan, &state.catalog, version)
            }) {
                state.store.put_if_newer(&record, version).await?;
            }
        }
    }
    let items = state.store.user_items(&identity.user_id).await?;
    let current = subscription_id
        .as_deref()
        .and_then(|id| items.subscriptions.iter().find(|s| s.subscription_id == id))
        .or_else(|| items.subscriptions.iter().find(|s| is_live(&s.status)));
    let view = SyncView {
        session: SessionView {
            id: session.id.as_str(),
            status: session.status.as_ref().map(|s| s.as_str()),
            payment_status: session.payment_status.to_string(),
            mode: session.mode.to_string(),
        },
        subscription: current.map(SubscriptionView::from),
    };
    Ok(json(StatusCode::OK, &view))
}

/// Only `metadata.user_id` proves ownership: this service sets it, while a buyer can choose
/// `client_reference_id` (Payment Links, pricing tables).
fn owned_by(session: &stripe_shared::CheckoutSession, identity: &Identity) -> bool {
    session
        .metadata
        .as_ref()
        .and_then(|m| m.get("user_id"))
        .is_some_and(|u| *u == identity.user_id)
}

/// Fetches the subscription and stores it unless the store already holds a newer version.
async fn sync_subscription(state: &AppState, stripe: &stripe::Client, user_id: &str, subscription_id: &str) -> Result<(), CheckoutError> {
    let subscription = with_retries("retrieve_subscription", "subscription", None, |strategy| {
        stripe_billing::subscription::RetrieveSubscription::new(subscription_id)
            .customize()
            .request_strategy(strategy)
            .send(stripe)
    })
    .await?;
    let value = serde_json::to_value(&subscription).map_err(|_| CheckoutError::Incomplete("a serializable subscription"))?;
    let snapshot = billing::sync::parse_subscription(&value).ok_or(CheckoutError::Incomplete("a readable subscription"))?;
    let now = billing::now_epoch();
    let previous = state
        .store
        .get_as::<SubscriptionRecord>(
            &billing::store::keys::user(user_id),
            &billing::store::keys::subscription(subscription_id),
        )
        .await?;
    let version = billing::sync::fetched_version(now);
    let record = snapshot.to_record(user_id, &state.catalog, version, now, previous.as_ref());
    let written = state.store.put_if_newer(&record, version).await?;
    tracing::info!(user = %user_id, subscription = %subscription_id, status = %record.status, written, "eager sync");
    Ok(())
}

#[cfg(test)]
mod tests {
    use billing::testkit;

    use super::*;

    fn state() -> AppState {
        testkit::state(testkit::config("billing-test", "http://127.0.0.1:9", None), crate::NEEDS).unwrap()
    }

    fn body(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn plans_are_public_and_match_the_catalog() {
        let state = state();
        for event in ["plans-get.json", "plans-get-anonymous.json"] {
            let response = handle(&state, testkit::event(event)).await.unwrap();
            assert_eq!(response.status(), 200, "{event}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            let body = body(&response);
            let ids: Vec<&str> = body["plans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap())
                .collect();
            let expected: Vec<&str> = state.catalog.plans().iter().map(|p| p.id.as_str()).collect();
            assert_eq!(ids, expected);
            let pro = &body["plans"][2];
            assert_eq!(pro["prices"]["year"]["amount"], 29000);
            assert_eq!(pro["features"][0], "api_access");
            let text = serde_json::to_string(&body).unwrap();
            assert!(!text.contains("lookup_key") && !text.contains("sk_test"), "{text}");
        }
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_are_problems() {
        let state = state();
        let response = handle(&state, testkit::event("unknown-route.json")).await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()[header::CONTENT_TYPE], billing::problem::PROBLEM_JSON);
        assert_eq!(body(&response)["type"], "/errors/not-found");

        let response = handle(&state, testkit::event("plans-delete.json")).await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET");
        assert_eq!(body(&response)["status"], 405);
    }

    fn input(json: serde_json::Value) -> Result<(String, String, u64, String, String), Problem> {
        let state = state();
        let map = json.as_object().unwrap().clone();
        parse_input(&state, &map).map(|i| (i.plan.id.clone(), i.interval.to_string(), i.quantity, i.success_url, i.cancel_url))
    }

    #[test]
    fn input_defaults_and_placeholders() {
        let (plan, interval, quantity, success, cancel) = input(serde_json::json!({"plan": "pro", "interval": "year"})).unwrap();
        assert_eq!((plan.as_str(), interval.as_str(), quantity), ("pro", "year", 1));
        assert_eq!(
            success,
            "http://localhost:3000/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}"
        );
        assert_eq!(cancel, "http://localhost:3000/billing?checkout=canceled");
        let (_, _, _, success, _) =
            input(serde_json::json!({"plan": "pro", "interval": "month", "success_url": "http://localhost:3000/ok?x=1#top"})).unwrap();
        assert_eq!(success, "http://localhost:3000/ok?x=1&session_id={CHECKOUT_SESSION_ID}#top");
        let (_, interval, _, _, _) = input(serde_json::json!({"plan": "lifetime"})).unwrap();
        assert_eq!(interval, "one_time");
    }

    #[test]
    fn each_bad_input_names_its_field() {
        let cases = [
            (serde_json::json!({}), "plan"),
            (serde_json::json!({"plan": "gold", "interval": "month"}), "plan"),
            (serde_json::json!({"plan": "free", "interval": "month"}), "plan"),
            (serde_json::json!({"plan": 7, "interval": "month"}), "plan"),
            (serde_json::json!({"plan": "pro"}), "interval"),
            (serde_json::json!({"plan": "pro", "interval": "week"}), "interval"),
            (serde_json::json!({"plan": "lifetime", "interval": "month"}), "interval"),
            (serde_json::json!({"plan": "pro", "interval": "month", "quantity": 0}), "quantity"),
            (
                serde_json::json!({"plan": "starter", "interval": "month", "quantity": 6}),
                "quantity",
            ),
            (serde_json::json!({"plan": "pro", "interval": "month", "quantity": 1.5}), "quantity"),
            (
                serde_json::json!({"plan": "pro", "interval": "month", "success_url": "https://evil.example.com/"}),
                "success_url",
            ),
            (
                serde_json::json!({"plan": "pro", "interval": "month", "cancel_url": "javascript:alert(1)"}),
                "cancel_url",
            ),
            (
                serde_json::json!({"plan": "pro", "interval": "month", "success_url": "http://user:pw@localhost:3000/"}),
                "success_url",
            ),
            (serde_json::json!({"plan": "pro", "interval": "month", "extra": true}), "extra"),
        ];
        for (json, field) in cases {
            let problem = input(json.clone()).unwrap_err();
            assert_eq!(problem.status, 400, "{json}");
            assert_eq!(problem.field.as_deref(), Some(field), "{json}: {problem:?}");
        }
    }
}
