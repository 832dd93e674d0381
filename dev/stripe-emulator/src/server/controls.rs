//! The `/_emulator` controls for tests and local runs: pay a session, move the clock, change
//! the config, inject faults, read deliveries and counters, and stand in for the dashboard and
//! the card networks (pause a subscription, change its card or add one to a customer, open and
//! close disputes, attach features to a product).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json_result;
use crate::error::StripeError;
use crate::model::{CardOutcome, classify_card};
use crate::shared::Shared;
use crate::world::{Chaos, Fault, World};

#[derive(Deserialize)]
struct PayRequest {
    /// Absent (or empty): pay without a card, which only a session with
    /// `payment_method_collection=if_required` and nothing due now allows.
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    promotion_code: Option<String>,
}

pub(super) async fn emulator_pay(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let request: PayRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return StripeError::missing_param("card").into_response(),
    };
    let mut world = shared.world.lock().await;
    let result = world
        .pay_session_with(&id, request.card.as_deref().unwrap_or_default(), request.promotion_code.as_deref())
        .and_then(|redirect| Ok(json!({"redirect_url": redirect, "session": world.session(&id)?})));
    json_result(&shared, &mut world, result)
}

pub(super) async fn emulator_clock(State(shared): State<Arc<Shared>>) -> Response {
    let now = shared.world.lock().await.now();
    axum::Json(json!({"now": now})).into_response()
}

#[derive(Deserialize)]
struct AdvanceRequest {
    #[serde(default)]
    seconds: i64,
    #[serde(default)]
    days: i64,
}

pub(super) async fn emulator_advance(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: AdvanceRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return StripeError::invalid("seconds", "Send JSON {\"seconds\": n} or {\"days\": n}.").into_response(),
    };
    let mut world = shared.world.lock().await;
    world.set_scope(None);
    let seconds = request.seconds.saturating_add(request.days.saturating_mul(crate::model::DAY));
    let result = world.advance(seconds).map(|now| json!({"now": now}));
    json_result(&shared, &mut world, result)
}

#[derive(Deserialize, Default)]
struct ConfigRequest {
    webhook_urls: Option<Vec<String>>,
    webhook_secrets: Option<Vec<String>>,
    chaos: Option<Chaos>,
    delivery_retries: Option<u32>,
    delivery_backoff_ms: Option<u64>,
    dunning_days: Option<i64>,
}

fn config_view(shared: &Shared, world: &World) -> Value {
    let s = &world.settings;
    json!({
        "webhook_urls": s.webhook_urls, "webhook_secrets": s.webhook_secrets.len(), "chaos": world.chaos,
        "delivery_retries": s.delivery_retries, "delivery_backoff_ms": s.delivery_backoff_ms, "dunning_days": s.dunning_days,
        "api_requests": shared.api_requests(), "now": world.now()
    })
}

pub(super) async fn emulator_config(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(config_view(&shared, &*shared.world.lock().await)).into_response()
}

pub(super) async fn emulator_set_config(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: ConfigRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(err) => return StripeError::invalid("config", format!("Invalid config JSON: {err}")).into_response(),
    };
    if let Some(secrets) = &request.webhook_secrets
        && secrets.iter().any(|s| !s.starts_with("whsec_"))
    {
        return StripeError::invalid("webhook_secrets", "Webhook secrets start with whsec_.").into_response();
    }
    let mut world = shared.world.lock().await;
    if let Some(urls) = request.webhook_urls {
        world.settings.webhook_urls = urls;
    }
    if let Some(secrets) = request.webhook_secrets {
        world.settings.webhook_secrets = secrets;
    }
    if let Some(chaos) = request.chaos {
        world.chaos = chaos;
    }
    if let Some(retries) = request.delivery_retries {
        world.settings.delivery_retries = retries;
    }
    if let Some(backoff) = request.delivery_backoff_ms {
        world.settings.delivery_backoff_ms = backoff;
    }
    if let Some(days) = request.dunning_days {
        world.settings.dunning_days = days.clamp(1, 60);
    }
    axum::Json(config_view(&shared, &world)).into_response()
}

pub(super) async fn emulator_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) if fault.status.map_or(fault.delay_ms > 0 || fault.after, |s| (400..=599).contains(&s)) && fault.delay_ms <= 30_000 => {
            shared.world.lock().await.faults.push(fault.clone());
            axum::Json(json!({"queued": fault})).into_response()
        }
        _ => StripeError::invalid(
            "fault",
            "Send JSON {\"path_prefix\": \"/v1/…\", \"status\": 500 or \"delay_ms\": 1000 or \"after\": true, \"count\": 1, \"method\": \"POST\"?}.",
        )
        .into_response(),
    }
}

/// `{"in_flight": n, "undelivered": m}`: batches of events whose delivery is not finished (0:
/// every event was delivered, dropped by chaos, or ran out of retries), and deliveries that ran
/// out of retries (missed webhooks, for reconcile to repair).
pub(super) async fn emulator_in_flight(State(shared): State<Arc<Shared>>) -> Response {
    let in_flight = shared.in_flight();
    let undelivered = shared
        .world
        .lock()
        .await
        .deliveries
        .iter()
        .filter(|d| !d.delivered && !d.dropped)
        .count();
    axum::Json(json!({"in_flight": in_flight, "undelivered": undelivered})).into_response()
}

pub(super) async fn emulator_deliveries(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({"deliveries": shared.world.lock().await.deliveries})).into_response()
}

/// Counters for clients' behaviour: TCP connections accepted and Stripe API requests served.
pub(super) async fn emulator_stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({"connections": shared.connections(), "api_requests": shared.api_requests()})).into_response()
}

pub(super) async fn emulator_dispute(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut world = shared.world.lock().await;
    let result = world.open_dispute(&id);
    json_result(&shared, &mut world, result)
}

#[derive(Deserialize)]
struct CloseDispute {
    status: String,
}

pub(super) async fn emulator_close_dispute(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<CloseDispute>(&body) else {
        return StripeError::missing_param("status").into_response();
    };
    let mut world = shared.world.lock().await;
    let result = world.close_dispute(&id, &request.status);
    json_result(&shared, &mut world, result)
}

pub(super) async fn emulator_pause(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut world = shared.world.lock().await;
    let result = on_clock(&mut world, &["subscriptions", &id], |world| world.pause_subscription(&id));
    json_result(&shared, &mut world, result)
}

pub(super) async fn emulator_card(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let number = serde_json::from_slice::<PayRequest>(&body)
        .ok()
        .and_then(|r| r.card)
        .unwrap_or_default();
    let card = match classify_card(&number) {
        CardOutcome::Card(card) => card,
        _ => {
            return StripeError::invalid("card", "Send JSON {\"card\": \"4242424242424242\"} with a succeeding test card.").into_response();
        }
    };
    let mut world = shared.world.lock().await;
    let result = on_clock(&mut world, &["subscriptions", &id], |world| {
        world.set_card(&id, &number, card).and_then(|()| world.subscription(&id))
    });
    json_result(&shared, &mut world, result)
}

/// What the Billing Portal's "add a card" does: `{"card": "4242424242424242"}` becomes the
/// customer's `invoice_settings.default_payment_method`.
pub(super) async fn emulator_customer_card(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let number = serde_json::from_slice::<PayRequest>(&body)
        .ok()
        .and_then(|r| r.card)
        .unwrap_or_default();
    let mut world = shared.world.lock().await;
    let result = on_clock(&mut world, &["customers", &id], |world| world.add_customer_card(&id, &number));
    json_result(&shared, &mut world, result)
}

/// Runs a control on the test clock of the object `path` names (as the `/v1` dispatcher would).
fn on_clock<T>(world: &mut World, path: &[&str], f: impl FnOnce(&mut World) -> T) -> T {
    let clock = world.request_clock(path, &crate::params::Params::empty());
    world.set_scope(clock);
    let result = f(world);
    world.set_scope(None);
    result
}

#[derive(Deserialize)]
struct FeaturesRequest {
    features: Vec<String>,
}

pub(super) async fn emulator_features(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let request: FeaturesRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return StripeError::missing_param("features").into_response(),
    };
    let mut world = shared.world.lock().await;
    let result = world
        .attach_features(&id, &request.features)
        .and_then(|()| world.list_product_features(&id));
    json_result(&shared, &mut world, result)
}
