//! Routes of the subscription function.
//!
//! | route | auth | does |
//! |---|---|---|
//! | `GET /subscription` | user | the user's subscriptions from the table (one read, no Stripe call) |
//! | `POST /subscription/cancel` | user | cancel at period end (default) or now |
//! | `POST /subscription/resume` | user | undo a pending cancel or change; resume a paused subscription |
//! | `POST /subscription/change` | user | plan, interval, seats: now (prorated) or at period end (a schedule); or a preview |
//! | `GET /invoices` | user | the user's invoices, newest first |
//!
//! Request validation lives in `input.rs`, the Stripe calls in `manage.rs`; every answer of
//! Stripe is written through the sync engine (`billing::services::sync`), so the entitlement
//! check sees a change at once and the later webhook is a duplicate or stale.

use std::convert::Infallible;

use billing::AppState;
use billing::adapters::store::RequestKey;
use billing::adapters::stripe::{GatewayError, SubscriptionUpdate};
use billing::edge::http::{self, json, method_not_allowed, not_found};
use billing::edge::problem::{Problem, respond};
use billing::services::sync::Arrival;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json as value;

use crate::claims::Claim;
use crate::error::SubscriptionError;
use crate::input::{self, CancelBody, ChangeBody, ResumeBody, When};
use crate::manage::{self, Keys, Target};
use crate::view::{self, InvoicesView, PreviewView, SubscriptionView};

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let response = match state.path(&req).as_slice() {
        ["subscription"] if req.method() == Method::GET => respond(list(state, &req).await),
        ["subscription"] => method_not_allowed(&req, &[Method::GET]),
        ["subscription", "cancel"] if req.method() == Method::POST => respond(cancel(state, &req).await),
        ["subscription", "resume"] if req.method() == Method::POST => respond(resume(state, &req).await),
        ["subscription", "change"] if req.method() == Method::POST => respond(change(state, &req).await),
        ["subscription", "cancel" | "resume" | "change"] => method_not_allowed(&req, &[Method::POST]),
        ["invoices"] if req.method() == Method::GET => respond(invoices(state, &req).await),
        ["invoices"] => method_not_allowed(&req, &[Method::GET]),
        _ => not_found(&req),
    };
    Ok(response)
}

/// `GET /subscription`: one Query, no Stripe call.
async fn list(state: &AppState, req: &Request) -> Result<Response<Body>, SubscriptionError> {
    let identity = state.identity.identify(req).await?;
    let items = state.store.user_items(&identity.user_id).await?;
    let subscriptions = view::subscriptions(&items, state.clock.now());
    Ok(json(StatusCode::OK, &value!({ "subscriptions": subscriptions })))
}

/// The subscription as Stripe has it after a change (what was just written through the engine).
fn answer(state: &AppState, user: &str, target: &Target, now: manage::Now) -> Result<Response<Body>, SubscriptionError> {
    let clock = state.clock.now();
    let version = billing::domain::version::Version::of_payload(clock);
    let subscription = now.subscription.ok_or(SubscriptionError::NotFound)?;
    let record = subscription.to_record(user, &state.catalog, version, clock, Some(&target.record), clock);
    let schedule = now
        .schedule
        .map(|s| s.to_record(user, target.id(), &state.catalog, None, version, clock));
    let view = SubscriptionView::new(&record, schedule.as_ref(), clock);
    Ok(json(StatusCode::OK, &value!({ "subscription": view })))
}

/// The subscription as stored (strongly consistent), when nothing was asked of Stripe.
async fn changed(state: &AppState, user: &str, target: &Target) -> Result<Response<Body>, SubscriptionError> {
    let items = state.store.user_items_consistent(user).await?;
    let record = items
        .subscriptions
        .iter()
        .find(|s| s.subscription_id == target.id())
        .ok_or(SubscriptionError::NotFound)?;
    let schedule = items.schedules.iter().find(|s| s.subscription_id == target.id());
    let view = SubscriptionView::new(record, schedule, state.clock.now());
    Ok(json(StatusCode::OK, &value!({ "subscription": view })))
}

/// `POST /subscription/cancel` `{subscription?, at_period_end? = true, feedback?}`.
async fn cancel(state: &AppState, req: &Request) -> Result<Response<Body>, SubscriptionError> {
    let identity = state.identity.identify(req).await?;
    let body: CancelBody = input::body(req)?;
    let requested = input::subscription_id(body.subscription.as_deref())?;
    let feedback = input::feedback(body.feedback.as_deref())?.map(str::to_owned);
    let client_key = http::client_key(req)?;
    let at_period_end = body.at_period_end.unwrap_or(true);

    let (record, customer) = manage::load(state, &identity, requested).await?;
    state.rate_limiter().take(&identity.user_id).await?;
    let claim = Claim::take(state, &identity, client_key.as_deref(), format!("cancel:{body:?}")).await?;
    let result = cancel_claimed(
        state,
        &identity,
        record,
        customer,
        at_period_end,
        feedback,
        client_key.as_deref(),
        &claim,
    )
    .await;
    claim.settle(state, &result).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn cancel_claimed(
    state: &AppState,
    identity: &billing::Identity,
    record: billing::domain::records::SubscriptionRecord,
    customer: String,
    at_period_end: bool,
    feedback: Option<String>,
    client_key: Option<&str>,
    claim: &Claim,
) -> Result<Response<Body>, SubscriptionError> {
    let stripe = state.stripe()?;
    let target = manage::fetch(stripe, record, customer).await?;
    target.require_open()?;
    let current = &target.current;
    if at_period_end && current.cancel_at_period_end && current.schedule_id.is_none() && !claim.retry() {
        // Already set to end at period end: nothing to ask Stripe, nothing to write.
        return changed(state, &identity.user_id, &target).await;
    }
    let engine = state.sync()?;
    let observed = engine.observe(&identity.user_id, target.id()).await?;
    let params = format!("{at_period_end}:{feedback:?}");
    let keys = Keys::new("cancel", identity, &target, client_key, &observed, &params);
    let released;
    if at_period_end {
        released = step(manage::release_schedule(stripe, &target, &keys).await, claim.key)?.unwrap_or(true);
        let update = SubscriptionUpdate {
            cancel_at_period_end: Some(true),
            feedback,
            ..SubscriptionUpdate::default()
        };
        let result = stripe.update_subscription(target.id(), &update, &keys.step("update")).await;
        if let Err(err) = step(result.map_err(SubscriptionError::from), claim.key) {
            return Err(failed(&engine, stripe, observed, &target, released, err).await);
        }
    } else {
        // Stripe cancels the schedule with its subscription.
        released = target.current.schedule_id.is_some();
        let result = crate::cancel::now(state, stripe, &identity.user_id, &target, feedback.as_deref(), &keys).await;
        step(result, claim.key)?;
    }
    let now = manage::record(&engine, stripe, observed, target.id(), released).await?;
    tracing::info!(user = %identity.user_id, subscription = %target.id(), at_period_end, "subscription canceled");
    answer(state, &identity.user_id, &target, now)
}

/// Whether a Stripe step's refusal means a retry of a claimed request finds its first attempt
/// applied: the same client key, the same body (the claim says so), but parameters derived from
/// the state the first attempt changed, so Stripe refuses the key's reuse.
fn applied_before(err: &SubscriptionError, claim: Option<RequestKey>) -> bool {
    claim == Some(RequestKey::Retry) && matches!(err, SubscriptionError::Stripe(GatewayError::IdempotencyReused { .. }))
}

/// A step's result, with a retry's [`applied_before`] refusal taken as done.
fn step<T>(result: Result<T, SubscriptionError>, claim: Option<RequestKey>) -> Result<Option<T>, SubscriptionError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if applied_before(&err, claim) => {
            tracing::info!("a retry of a request whose first attempt took effect");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// After a step failed: when a schedule was released before it, the table learns that now (its
/// pending change is gone in Stripe), then the step's error is answered.
async fn failed(
    engine: &billing::services::sync::Engine<'_>,
    stripe: &billing::adapters::stripe::Stripe,
    observed: billing::services::sync::Observed,
    target: &Target,
    released: bool,
    err: SubscriptionError,
) -> SubscriptionError {
    if released && let Err(record) = manage::record(engine, stripe, observed, target.id(), true).await {
        tracing::warn!(error = %billing::edge::problem::cause_chain(&record), "the released schedule could not be recorded; the webhook will");
    }
    err
}

/// `POST /subscription/resume` `{subscription?}`.
async fn resume(state: &AppState, req: &Request) -> Result<Response<Body>, SubscriptionError> {
    let identity = state.identity.identify(req).await?;
    let body: ResumeBody = input::body(req)?;
    let requested = input::subscription_id(body.subscription.as_deref())?;
    let client_key = http::client_key(req)?;

    let (record, customer) = manage::load(state, &identity, requested).await?;
    state.rate_limiter().take(&identity.user_id).await?;
    let claim = Claim::take(state, &identity, client_key.as_deref(), format!("resume:{body:?}")).await?;
    let result = resume_claimed(state, &identity, record, customer, client_key.as_deref(), &claim).await;
    claim.settle(state, &result).await;
    result
}

async fn resume_claimed(
    state: &AppState,
    identity: &billing::Identity,
    record: billing::domain::records::SubscriptionRecord,
    customer: String,
    client_key: Option<&str>,
    claim: &Claim,
) -> Result<Response<Body>, SubscriptionError> {
    let stripe = state.stripe()?;
    let target = manage::fetch(stripe, record, customer).await?;
    target.require_open()?;
    let paused = target.current.status == "paused";
    let ending = target.ending();
    let pending = manage::change_pending(stripe, &target).await?;
    if !paused && !ending && !pending && !claim.retry() {
        return Err(SubscriptionError::NothingToResume);
    }
    let engine = state.sync()?;
    let observed = engine.observe(&identity.user_id, target.id()).await?;
    let keys = Keys::new("resume", identity, &target, client_key, &observed, "");
    let released = step(manage::release_schedule(stripe, &target, &keys).await, claim.key)?.unwrap_or(true);
    if paused
        && let Err(err) = step(
            stripe
                .resume_subscription(target.id(), &keys.step("resume"))
                .await
                .map_err(SubscriptionError::from),
            claim.key,
        )
    {
        return Err(failed(&engine, stripe, observed, &target, released, err).await);
    }
    if ending {
        // Both: a `cancel_at` at the period end may come without the flag.
        let update = SubscriptionUpdate {
            cancel_at_period_end: Some(false),
            clear_cancel_at: true,
            ..SubscriptionUpdate::default()
        };
        let result = stripe.update_subscription(target.id(), &update, &keys.step("update")).await;
        if let Err(err) = step(result.map_err(SubscriptionError::from), claim.key) {
            return Err(failed(&engine, stripe, observed, &target, released, err).await);
        }
    }
    let now = manage::record(&engine, stripe, observed, target.id(), released).await?;
    tracing::info!(user = %identity.user_id, subscription = %target.id(), paused, ending, pending, "subscription resumed");
    answer(state, &identity.user_id, &target, now)
}

/// `POST /subscription/change` `{subscription?, plan?, interval?, quantity?, proration?, when?,
/// preview?}`.
async fn change(state: &AppState, req: &Request) -> Result<Response<Body>, SubscriptionError> {
    let identity = state.identity.identify(req).await?;
    let body: ChangeBody = input::body(req)?;
    let requested = input::subscription_id(body.subscription.as_deref())?;
    let request = input::change(&state.catalog, &body)?;
    let client_key = http::client_key(req)?;

    let (record, customer) = manage::load(state, &identity, requested).await?;
    // Bad input is refused on the stored state, before any Stripe call.
    manage::target_of(&request, manage::stored_plan(state, &record), record.quantity)?;
    state.rate_limiter().take(&identity.user_id).await?;
    let claim = if request.preview {
        Claim::take(state, &identity, None, String::new()).await?
    } else {
        Claim::take(state, &identity, client_key.as_deref(), format!("change:{body:?}")).await?
    };
    let result = change_claimed(state, &identity, record, customer, &request, client_key.as_deref(), &claim).await;
    claim.settle(state, &result).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn change_claimed(
    state: &AppState,
    identity: &billing::Identity,
    record: billing::domain::records::SubscriptionRecord,
    customer: String,
    request: &input::ChangeRequest<'_>,
    client_key: Option<&str>,
    claim: &Claim,
) -> Result<Response<Body>, SubscriptionError> {
    let stripe = state.stripe()?;
    let target = manage::fetch(stripe, record, customer).await?;
    target.require_open()?;
    let resolved = manage::resolve(state, stripe, &target, request).await?;
    let same =
        target.current.price_id.as_deref() == Some(resolved.item.price.as_str()) && target.current.quantity == resolved.item.quantity;
    if same && !claim.retry() {
        return Err(SubscriptionError::NoChange);
    }
    if target.current.status == "past_due" && request.when == When::Now {
        // The period is not paid: an upgrade would hand out more for it, a downgrade would
        // credit time that was never paid for. A change at the period end bills nothing now.
        return Err(SubscriptionError::PastDue);
    }
    if (request.when == When::PeriodEnd || request.preview) && target.ending() {
        // Stripe has no next invoice to preview for a subscription set to end.
        return Err(SubscriptionError::CancelPending);
    }
    if request.when == When::Now && resolved.interval_changes && !target.current.other_items.is_empty() {
        // Its metered items must go, and Stripe would drop the period's usage with them.
        return Err(SubscriptionError::MeteredIntervalChange);
    }
    let proration = manage::proration(request.proration, state.config.subscription.proration, resolved.upgrade)?;
    if request.preview {
        let preview = manage::preview(stripe, &target, &resolved, request, proration, state.clock.now()).await?;
        return Ok(json(StatusCode::OK, &PreviewView::from(&preview)));
    }

    let engine = state.sync()?;
    let observed = engine.observe(&identity.user_id, target.id()).await?;
    let params = format!(
        "{}:{}:{}:{}:{:?}",
        resolved.item.price,
        resolved.item.quantity,
        proration.as_str(),
        request.when == When::Now,
        request.plan.map(|p| &p.id)
    );
    let keys = Keys::new("change", identity, &target, client_key, &observed, &params);
    let now = match request.when {
        When::Now => {
            let released = step(manage::release_schedule(stripe, &target, &keys).await, claim.key)?.unwrap_or(true);
            if let Err(err) = step(manage::change_now(stripe, &target, &resolved, proration, &keys).await, claim.key) {
                return Err(failed(&engine, stripe, observed, &target, released, err).await);
            }
            let now = manage::record(&engine, stripe, observed, target.id(), released).await?;
            // Features follow the new plan at once (the summary event comes later).
            let refresh = Arrival::Entitlements {
                user_id: identity.user_id.clone(),
                customer_id: target.customer.clone(),
            };
            if let Err(err) = engine.apply(refresh).await {
                tracing::warn!(error = %billing::edge::problem::cause_chain(&err), "entitlements not refreshed after the change; the webhook will");
            }
            now
        }
        When::PeriodEnd => {
            step(
                manage::schedule_change(stripe, identity, &target, &resolved, &keys).await,
                claim.key,
            )?;
            manage::record(&engine, stripe, observed, target.id(), true).await?
        }
    };
    tracing::info!(
        user = %identity.user_id,
        subscription = %target.id(),
        plan = %resolved.plan,
        interval = %resolved.interval,
        quantity = resolved.item.quantity,
        when = ?request.when,
        upgrade = resolved.upgrade,
        "subscription changed"
    );
    answer(state, &identity.user_id, &target, now)
}

/// `GET /invoices?limit=&starting_after=`: the user's invoices from Stripe, newest first.
async fn invoices(state: &AppState, req: &Request) -> Result<Response<Body>, SubscriptionError> {
    let identity = state.identity.identify(req).await?;
    let query = input::invoice_query(req)?;
    state.rate_limiter().take(&identity.user_id).await?;
    let items = state.store.user_items(&identity.user_id).await?;
    let Some(customer) = items.customer.map(|c| c.customer_id) else {
        return Ok(json(
            StatusCode::OK,
            &InvoicesView {
                invoices: &[],
                has_more: false,
            },
        ));
    };
    let stripe = state.stripe()?;
    let page = match stripe.list_invoices(&customer, query.limit, query.starting_after.as_deref()).await {
        Ok(page) => page,
        // A cursor that is not one of this customer's invoices.
        Err(err)
            if query.starting_after.is_some()
                && (err.is_missing_param("starting_after") || matches!(err, GatewayError::NotFound { .. })) =>
        {
            return Err(SubscriptionError::Invalid(
                Problem::bad_request("/errors/invalid-field", "`starting_after` is not one of your invoices").with_field("starting_after"),
            ));
        }
        Err(err) => return Err(err.into()),
    };
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
