//! Routes of the checkout function.
//!
//! | route | auth | does |
//! |---|---|---|
//! | `GET /plans` | public | the catalog's public view |
//! | `POST /checkout` | user | creates a Stripe Checkout Session → 201 `{id, url}` |
//! | `GET /checkout/{session_id}` | user, own session | eager sync after the return from Checkout |
//!
//! Validation lives in `input.rs`, the Stripe request in `session.rs`; what a completed session
//! writes is the sync engine's business (`billing::services::sync`).

use std::convert::Infallible;

use billing::AppState;
use billing::adapters::stripe::{GatewayError, NewCheckoutSession, PriceName, Stripe};
use billing::domain::objects::CheckoutSessionSnapshot;
use billing::domain::plans::Interval;
use billing::domain::records::{SubscriptionRecord, UserItems};
use billing::edge::http::{json, method_not_allowed, not_found};
use billing::edge::identity::Identity;
use billing::edge::problem::respond;
use billing::services::sync::{Arrival, Outcome, SyncError};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::error::CheckoutError;
use crate::{customer, input, session};

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let segments = state.path(&req);
    let response = match segments.as_slice() {
        ["plans"] if req.method() == Method::GET => plans(state).await,
        ["plans"] => method_not_allowed(&req, &[Method::GET]),
        ["checkout"] if req.method() == Method::POST => respond(create(state, &req).await),
        ["checkout"] => method_not_allowed(&req, &[Method::POST]),
        ["checkout", id] if req.method() == Method::GET => respond(sync(state, &req, id).await),
        ["checkout", _] => method_not_allowed(&req, &[Method::GET]),
        _ => not_found(&req),
    };
    Ok(response)
}

/// `GET /plans`: the public view of the catalog (no Stripe identifiers), with the amounts and
/// currencies Stripe charges (read through the price book, trusted for `PRICE_CACHE_SECONDS`).
/// When Stripe cannot be asked, the last prices read are shown, else the catalog's.
async fn plans(state: &AppState) -> Response<Body> {
    let names: Vec<PriceName<'_>> = state
        .catalog
        .plans()
        .iter()
        .flat_map(|p| p.prices.values())
        .filter_map(PriceName::of)
        .collect();
    let prices = match state.stripe() {
        Ok(stripe) => stripe.display_prices(&names).await,
        Err(_) => Default::default(),
    };
    let view = state.catalog.public_view_priced(|price| {
        let info = prices.get(&PriceName::of(price)?.key())?;
        Some((info.unit_amount?, info.currency.clone()))
    });
    let mut response = json(StatusCode::OK, &view);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    url: &'a str,
}

/// `POST /checkout`.
async fn create(state: &AppState, req: &Request) -> Result<Response<Body>, CheckoutError> {
    let identity = state.identity.identify(req).await?;
    let body = input::body(req)?;
    let validated = input::validate(state, &body)?;
    let client_key = billing::edge::http::client_key(req)?;
    // Every 4xx about the request itself is decided above, before this write.
    state.rate_limiter().take(&identity.user_id).await?;
    let input = match validated {
        input::Validated::Plan(input) => input,
        input::Validated::Custom(custom) => return create_custom(state, req, &identity, &custom).await,
    };
    let stripe = state.stripe()?;

    let items = state.store.user_items(&identity.user_id).await?;
    let price = input.plan.price(input.interval).ok_or(CheckoutError::Incomplete("a price"))?;
    let price_id = match (&price.price, &price.lookup_key) {
        (Some(id), _) => id.clone(),
        (None, Some(key)) => stripe.price_id(key).await?,
        (None, None) => return Err(CheckoutError::Incomplete("a price reference")),
    };
    let mut metered_prices = Vec::new();
    for rule in input.plan.usage.values().filter(|r| r.meter.is_some()) {
        let price = rule
            .prices
            .get(&input.interval)
            .ok_or(CheckoutError::Incomplete("a metered price"))?;
        metered_prices.push(match (&price.price, &price.lookup_key) {
            (Some(id), _) => id.clone(),
            (None, Some(key)) => stripe.price_id(key).await?,
            (None, None) => return Err(CheckoutError::Incomplete("a metered price reference")),
        });
    }
    let offer = Offer {
        identity: &identity,
        input: &input,
        items: &items,
        price_id,
        metered_prices,
        client_key: client_key.as_deref(),
    };
    let mut linked = items.customer.as_ref().map(|c| c.customer_id.clone());
    let mut recovered = false;
    let created = loop {
        let customer = customer::ensure(state, stripe, &identity, linked.take()).await?;
        match offer.session(state, stripe, &customer).await {
            // The linked customer was deleted in Stripe (the webhook may be on its way): unlink it
            // through the engine, which asks Stripe first, then make the user a new one. Once.
            Err(CheckoutError::Stripe(err)) if err.is_missing_param("customer") && !recovered => {
                recovered = true;
                let outcome = state
                    .sync()?
                    .apply(Arrival::Customer {
                        customer_id: customer.clone(),
                    })
                    .await?;
                tracing::warn!(user = %identity.user_id, %customer, outcome = outcome.as_str(), "the linked customer is missing in Stripe; unlinked");
                if outcome != Outcome::Applied && outcome != Outcome::Duplicate {
                    return Err(err.into());
                }
            }
            other => break other?,
        }
    };
    let url = created.url.as_deref().ok_or(CheckoutError::Incomplete("a url"))?;
    tracing::info!(user = %identity.user_id, plan = %input.plan.id, interval = %input.interval, session = %created.id, "checkout session created");
    Ok(json(
        StatusCode::CREATED,
        &Created {
            id: created.id.as_str(),
            url,
        },
    ))
}

/// `POST /checkout` of a custom-amount entry: the amount, currency and interval were checked
/// against the catalog's bounds; the session prices it inline (`price_data`). No duplicate
/// guard (a second donation is welcome) and no trial.
async fn create_custom(
    state: &AppState,
    req: &Request,
    identity: &Identity,
    input: &input::CustomInput<'_>,
) -> Result<Response<Body>, CheckoutError> {
    let client_key = billing::edge::http::client_key(req)?;
    let stripe = state.stripe()?;
    let items = state.store.user_items(&identity.user_id).await?;
    let linked = items.customer.as_ref().map(|c| c.customer_id.clone());
    let customer = customer::ensure(state, stripe, identity, linked).await?;
    let new = session::new_custom_session(&state.config.checkout, identity, input, &customer);
    let key = session::custom_key(identity, input, &new, client_key.as_deref(), state.clock.now());
    let created = open_session(stripe, &new, key).await?;
    let url = created.url.as_deref().ok_or(CheckoutError::Incomplete("a url"))?;
    tracing::info!(user = %identity.user_id, entry = %input.entry.id, amount = input.amount, currency = %input.currency, interval = input.interval.as_str(), session = %created.id, "custom-amount checkout session created");
    Ok(json(
        StatusCode::CREATED,
        &Created {
            id: created.id.as_str(),
            url,
        },
    ))
}

/// What one `POST /checkout` asks for, before a customer is chosen.
struct Offer<'a> {
    identity: &'a Identity,
    input: &'a input::CheckoutInput<'a>,
    items: &'a UserItems,
    price_id: String,
    /// The plan's metered prices at the interval (usage billed through Stripe meters).
    metered_prices: Vec<String>,
    client_key: Option<&'a str>,
}

/// How many replayed sessions that are no longer open one request steps past.
const FRESH_KEY_STEPS: usize = 3;

impl Offer<'_> {
    /// An open session for `customer`: the duplicate guard (table and Stripe), trial
    /// eligibility, then the session under its idempotency key.
    async fn session(&self, state: &AppState, stripe: &Stripe, customer: &str) -> Result<CheckoutSessionSnapshot, CheckoutError> {
        let in_stripe = stripe.list_subscriptions(customer).await?;
        let policy = state.config.checkout.duplicate_policy;
        if let Some(plan) = session::blocking_plan(policy, &state.catalog, self.items, &in_stripe, self.input.plan) {
            return Err(CheckoutError::AlreadySubscribed { plan });
        }
        // A trial is for first-time subscribers: nothing stored, nothing in Stripe.
        // Donations (custom amounts) are no subscriptions to a plan: they do not use up the trial.
        let first_time = !self
            .items
            .subscriptions
            .iter()
            .any(|s| !billing::domain::access::is_custom_amount(&state.catalog, s))
            && in_stripe.iter().all(|s| s.metadata_custom_amount.is_some());
        let new = session::new_session(
            &state.config.checkout,
            self.identity,
            self.input,
            customer,
            first_time,
            self.price_id.clone(),
            self.metered_prices.clone(),
        );
        let key = session::key(self.identity, self.input, &new, self.client_key, state.clock.now());
        open_session(stripe, &new, key).await
    }
}

/// An open session for `new` under `key`. A key that replays a session completed or expired
/// inside its window is never handed out: the next key is derived from it, so a retry walks the
/// same chain.
async fn open_session(stripe: &Stripe, new: &NewCheckoutSession, mut key: String) -> Result<CheckoutSessionSnapshot, CheckoutError> {
    for _ in 0..=FRESH_KEY_STEPS {
        let created = stripe.create_checkout_session(new, &key).await?;
        if created.status.as_deref() == Some("open") {
            return Ok(created);
        }
        tracing::info!(replayed = %created.id, status = ?created.status, "replayed session is not open; creating a fresh one");
        key = session::fresh_key(&key, &created.id);
    }
    Err(CheckoutError::Incomplete("an open session"))
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
    payment_status: &'a str,
    mode: &'a str,
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

/// Only `metadata.user_id` proves ownership: this service sets it, while a buyer can choose
/// `client_reference_id` (Payment Links, pricing tables).
fn owned_by(session: &CheckoutSessionSnapshot, identity: &Identity) -> bool {
    session.metadata_user_id() == Some(identity.user_id.as_str())
}

/// `GET /checkout/{session_id}`: reads the session from Stripe and, when it is complete, hands
/// it to the sync engine, which stores the customer mapping and what was bought right away (the
/// webhook may come later).
async fn sync(state: &AppState, req: &Request, session_id: &str) -> Result<Response<Body>, CheckoutError> {
    let identity = state.identity.identify(req).await?;
    if !valid_session_id(session_id) {
        return Err(CheckoutError::SessionNotFound);
    }
    state.rate_limiter().take(&identity.user_id).await?;
    let engine = state.sync()?;
    let fetched = match engine.fetch_checkout_session(session_id).await {
        Ok(fetched) => fetched,
        Err(SyncError::Stripe(GatewayError::NotFound { .. })) => return Err(CheckoutError::SessionNotFound),
        Err(err) => return Err(err.into()),
    };
    if !owned_by(fetched.object(), &identity) {
        return Err(CheckoutError::SessionNotFound);
    }
    let session = fetched.object().clone();
    if session.is_complete() {
        let outcome = engine.apply(fetched).await?;
        tracing::info!(user = %identity.user_id, session = %session.id, outcome = outcome.as_str(), "eager sync");
        if outcome == Outcome::Conflict {
            return Err(CheckoutError::CustomerConflict);
        }
    }
    // Strongly consistent: the read follows the engine's own write.
    let items = state.store.user_items_consistent(&identity.user_id).await?;
    let current = session
        .subscription
        .as_deref()
        .and_then(|id| items.subscriptions.iter().find(|s| s.subscription_id == id))
        .or_else(|| items.live_subscriptions().next());
    let view = SyncView {
        session: SessionView {
            id: &session.id,
            status: session.status.as_deref(),
            payment_status: &session.payment_status,
            mode: &session.mode,
        },
        subscription: current.map(SubscriptionView::from),
    };
    Ok(json(StatusCode::OK, &view))
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
        assert_eq!(response.headers()[header::CONTENT_TYPE], billing::edge::problem::PROBLEM_JSON);
        assert_eq!(body(&response)["type"], "/errors/not-found");

        let response = handle(&state, testkit::event("plans-delete.json")).await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET");
        assert_eq!(body(&response)["status"], 405);
    }
}
