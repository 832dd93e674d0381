//! Routes of the checkout function: each maps HTTP to one call of the checkout service
//! ([`billing::services::checkout`]) and its answer back.
//!
//! | route | auth | does |
//! |---|---|---|
//! | `GET /plans` | public | the catalog's public view |
//! | `POST /checkout` | user | creates a Stripe Checkout Session → 201 `{id, url}` |
//! | `GET /checkout/{session_id}` | user, own session | eager sync after the return from Checkout |
//!
//! Validation lives in `input.rs`: every 4xx about the request itself is decided there, before
//! the service reads, calls or writes anything.

use std::convert::Infallible;

use billing::AppState;
use billing::adapters::stripe::PriceName;
use billing::domain::plans::Interval;
use billing::domain::records::SubscriptionRecord;
use billing::edge::http::{json, method_not_allowed, not_found};
use billing::edge::identity::{Identity, IdentityError};
use billing::edge::problem::respond;
use billing::services::checkout::Buyer;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::error::RouteError;
use crate::input;

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

/// Who buys: the user, or the organization when an admin acts for it (a member is refused).
fn buyer(identity: &Identity) -> Result<Buyer, IdentityError> {
    Ok(Buyer {
        user_id: identity.manager()?,
        email: identity.email.clone(),
        name: identity.org.as_ref().and_then(|o| o.name.clone()),
    })
}

#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    url: &'a str,
}

/// `POST /checkout`.
async fn create(state: &AppState, req: &Request) -> Result<Response<Body>, RouteError> {
    let identity = state.identity.identify(req).await?;
    let body = input::body(req)?;
    let validated = input::validate(state, &body)?;
    let client_key = billing::edge::http::client_key(req)?;
    let created = state
        .checkouts()
        .create(&buyer(&identity)?, &validated, client_key.as_deref())
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &Created {
            id: &created.id,
            url: &created.url,
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
            status: r.status.as_str(),
            interval: r.interval,
            quantity: r.quantity,
            current_period_end: r.current_period_end,
            cancel_at_period_end: r.cancel_at_period_end,
            trial_end: r.trial_end,
        }
    }
}

/// `GET /checkout/{session_id}`: the eager sync after the return from Checkout.
async fn sync(state: &AppState, req: &Request, session_id: &str) -> Result<Response<Body>, RouteError> {
    let identity = state.identity.identify(req).await?;
    let synced = state.checkouts().sync_session(&buyer(&identity)?, session_id).await?;
    let session = &synced.session;
    let view = SyncView {
        session: SessionView {
            id: &session.id,
            status: session.status.as_deref(),
            payment_status: &session.payment_status,
            mode: &session.mode,
        },
        subscription: synced.subscription.as_ref().map(SubscriptionView::from),
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
