//! Routes of the subscription function: each maps HTTP to one call of the subscriptions
//! service ([`billing::services::subscriptions`]) and its answer back.
//!
//! | route | auth | does |
//! |---|---|---|
//! | `GET /subscription` | user | the user's subscriptions from the table (one read, no Stripe call) |
//! | `POST /subscription/cancel` | user | cancel at period end (default) or now |
//! | `POST /subscription/resume` | user | undo a pending cancel or change; resume a paused subscription |
//! | `POST /subscription/pause` | user | pause collection (`PAUSE_BEHAVIOR`); access is `PAUSED_ACCESS` until resumed |
//! | `POST /subscription/discount` | user | apply a promotion code, by its code, to the live subscription (idempotent) |
//! | `POST /subscription/change` | user | plan, interval, seats: now (prorated) or at period end (a schedule); or a preview |
//! | `GET /invoices` | user | the user's invoices, newest first |
//!
//! Request validation lives in `input.rs`; every 400 about the request itself is decided there,
//! before the service reads or calls anything.

use std::convert::Infallible;

use billing::AppState;
use billing::edge::http::{self, json, method_not_allowed, not_found};
use billing::edge::problem::Problem;
use billing::edge::problem::respond;
use billing::services::subscriptions::{CancelRequest, Changed, DiscountRequest, InvoicesView, PauseRequest, PreviewView, ResumeRequest};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json as value;

use crate::error::RouteError;
use crate::input::{self, CancelBody, ChangeBody, DiscountBody, PauseBody, ResumeBody};

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let response = match state.path(&req).as_slice() {
        ["subscription"] if req.method() == Method::GET => respond(list(state, &req).await),
        ["subscription"] => method_not_allowed(&req, &[Method::GET]),
        ["subscription", "cancel"] if req.method() == Method::POST => respond(cancel(state, &req).await),
        ["subscription", "resume"] if req.method() == Method::POST => respond(resume(state, &req).await),
        ["subscription", "change"] if req.method() == Method::POST => respond(change(state, &req).await),
        ["subscription", "pause"] if req.method() == Method::POST => respond(pause(state, &req).await),
        ["subscription", "discount"] if req.method() == Method::POST => respond(discount(state, &req).await),
        ["subscription", "cancel" | "resume" | "change" | "pause" | "discount"] => method_not_allowed(&req, &[Method::POST]),
        ["invoices"] if req.method() == Method::GET => respond(invoices(state, &req).await),
        ["invoices"] => method_not_allowed(&req, &[Method::GET]),
        _ => not_found(&req),
    };
    Ok(response)
}

/// `GET /subscription`: one Query, no Stripe call.
async fn list(state: &AppState, req: &Request) -> Result<Response<Body>, RouteError> {
    let identity = state.identity.identify(req).await?;
    let subscriptions = state.subscriptions().list(&identity.billable()).await?;
    Ok(json(StatusCode::OK, &value!({ "subscriptions": subscriptions })))
}

/// `POST /subscription/cancel` `{subscription?, at_period_end? = true, feedback?}`.
async fn cancel(state: &AppState, req: &Request) -> Result<Response<Body>, RouteError> {
    let identity = state.identity.identify(req).await?;
    let billable = identity.manager()?;
    let body: CancelBody = input::body(req)?;
    let request = CancelRequest {
        subscription: input::subscription_id(body.subscription.as_deref())?.map(str::to_owned),
        feedback: input::feedback(body.feedback.as_deref())?.map(str::to_owned),
        at_period_end: body.at_period_end.unwrap_or(true),
    };
    let client_key = http::client_key(req)?;
    let subscription = state.subscriptions().cancel(&billable, &request, client_key.as_deref()).await?;
    Ok(json(StatusCode::OK, &value!({ "subscription": subscription })))
}

/// `POST /subscription/resume` `{subscription?}`.
async fn resume(state: &AppState, req: &Request) -> Result<Response<Body>, RouteError> {
    let identity = state.identity.identify(req).await?;
    let billable = identity.manager()?;
    let body: ResumeBody = input::body(req)?;
    let request = ResumeRequest {
        subscription: input::subscription_id(body.subscription.as_deref())?.map(str::to_owned),
    };
    let client_key = http::client_key(req)?;
    let subscription = state.subscriptions().resume(&billable, &request, client_key.as_deref()).await?;
    Ok(json(StatusCode::OK, &value!({ "subscription": subscription })))
}

/// `POST /subscription/pause` `{subscription?, resumes_at?}`.
async fn pause(state: &AppState, req: &Request) -> Result<Response<Body>, RouteError> {
    let identity = state.identity.identify(req).await?;
    let billable = identity.manager()?;
    let body: PauseBody = input::body(req)?;
    let request = PauseRequest {
        subscription: input::subscription_id(body.subscription.as_deref())?.map(str::to_owned),
        resumes_at: body.resumes_at,
    };
    let client_key = http::client_key(req)?;
    let subscription = state.subscriptions().pause(&billable, &request, client_key.as_deref()).await?;
    Ok(json(StatusCode::OK, &value!({ "subscription": subscription })))
}

/// `POST /subscription/discount` `{subscription?, promotion_code}`.
async fn discount(state: &AppState, req: &Request) -> Result<Response<Body>, RouteError> {
    let identity = state.identity.identify(req).await?;
    let billable = identity.manager()?;
    let body: DiscountBody = input::body(req)?;
    let Some(code) = body.promotion_code else {
        return Err(Problem::bad_request("/errors/missing-field", "`promotion_code` is required")
            .with_field("promotion_code")
            .into());
    };
    let request = DiscountRequest {
        subscription: input::subscription_id(body.subscription.as_deref())?.map(str::to_owned),
        promotion_code: code,
    };
    let client_key = http::client_key(req)?;
    let discounted = state.subscriptions().discount(&billable, &request, client_key.as_deref()).await?;
    Ok(json(StatusCode::OK, &discounted))
}

/// `POST /subscription/change` `{subscription?, plan?, interval?, quantity?, proration?, when?,
/// preview?}`.
async fn change(state: &AppState, req: &Request) -> Result<Response<Body>, RouteError> {
    let identity = state.identity.identify(req).await?;
    let billable = identity.manager()?;
    let body: ChangeBody = input::body(req)?;
    let request = input::change(&state.catalog, &body)?;
    let client_key = http::client_key(req)?;
    match state.subscriptions().change(&billable, &request, client_key.as_deref()).await? {
        Changed::Subscription(subscription) => Ok(json(StatusCode::OK, &value!({ "subscription": subscription }))),
        Changed::Preview(preview) => Ok(json(StatusCode::OK, &PreviewView::from(&preview))),
    }
}

/// `GET /invoices?limit=&starting_after=`: the user's invoices from Stripe, newest first.
async fn invoices(state: &AppState, req: &Request) -> Result<Response<Body>, RouteError> {
    let identity = state.identity.identify(req).await?;
    let billable = identity.manager()?;
    let query = input::invoice_query(req)?;
    let page = state
        .subscriptions()
        .invoices(&billable, query.limit, query.starting_after.as_deref())
        .await?;
    Ok(json(
        StatusCode::OK,
        &InvoicesView {
            invoices: &page.invoices,
            has_more: page.has_more,
        },
    ))
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
    async fn routes_methods_and_identity() {
        let state = state();
        let response = handle(&state, testkit::event("unknown-route.json")).await.unwrap();
        assert_eq!(response.status(), 404);
        let response = handle(&state, testkit::event("subscription-get-unauthenticated.json"))
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["content-type"], billing::edge::problem::PROBLEM_JSON);
        let response = handle(
            &state,
            testkit::event_with("subscription-cancel.json", |e| e["requestContext"]["http"]["method"] = "GET".into()),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 405);
    }

    #[tokio::test]
    async fn bad_input_is_rejected_before_any_io() {
        let state = state();
        for (event, body_text, field) in [
            ("subscription-change.json", r#"{"plan": "gold"}"#, "plan"),
            ("subscription-change.json", r#"{"plan": "lifetime"}"#, "plan"),
            ("subscription-change.json", r#"{"plan": "pro", "interval": "week"}"#, "interval"),
            ("subscription-change.json", r#"{"quantity": 0}"#, "quantity"),
            ("subscription-change.json", r#"{"quantity": "many"}"#, "quantity"),
            ("subscription-change.json", r#"{"plan": "pro", "extra": 1}"#, "extra"),
            (
                "subscription-change.json",
                r#"{"plan": "pro", "subscription": "cus_1"}"#,
                "subscription",
            ),
            ("subscription-cancel.json", r#"{"feedback": "meh"}"#, "feedback"),
            ("subscription-cancel.json", r#"{"at_period_end": "yes"}"#, "at_period_end"),
            ("subscription-resume.json", r#"{"subscription": 5}"#, "subscription"),
        ] {
            let req = testkit::event_with(event, |e| e["body"] = body_text.into());
            let response = handle(&state, req).await.unwrap();
            assert_eq!(response.status(), 400, "{body_text}");
            assert_eq!(body(&response)["field"], field, "{body_text}");
        }
        let response = handle(
            &state,
            testkit::event_with("subscription-cancel.json", |e| e["body"] = "not json".into()),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 400);
        for query in ["limit=0", "limit=101", "limit=x", "starting_after=cus_1", "page=2"] {
            let req = testkit::event_with("invoices-get.json", |e| {
                e["rawQueryString"] = query.into();
                let (k, v) = query.split_once('=').unwrap();
                e["queryStringParameters"] = serde_json::json!({ k: v });
            });
            let response = handle(&state, req).await.unwrap();
            assert_eq!(response.status(), 400, "{query}");
        }
    }
}
