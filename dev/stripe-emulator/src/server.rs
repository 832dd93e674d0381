//! HTTP surface: the Stripe API under `/v1`, the hosted pages, and `/_emulator` controls.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::MutexGuard;

use crate::error::StripeError;
use crate::model::{CardOutcome, classify_card};
use crate::params::Params;
pub use crate::shared::Shared;
use crate::world::{Chaos, Fault, World};

/// Largest request body accepted.
const MAX_BODY: usize = 256 * 1024;

/// A running emulator.
pub struct Emulator {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
}

impl Emulator {
    /// `http://127.0.0.1:<port>/`, the base for `STRIPE_API_BASE`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// Binds `addr` and serves in background tasks. `world.settings.public_url` is rewritten to
/// the bound address when it was left at its default and the port was 0.
pub async fn start(mut world: World, addr: SocketAddr) -> std::io::Result<Emulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    if world.settings.public_url.is_empty() {
        world.settings.public_url = format!("http://{addr}");
    }
    let (shared, rx) = Shared::new(world);
    let shared = Arc::new(shared);
    tokio::spawn(crate::webhooks::run(shared.clone(), rx));
    let app = router(shared.clone());
    let counter = shared.clone();
    let listener = axum::serve::ListenerExt::tap_io(listener, move |_| counter.count_connection());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "emulator server stopped");
        }
    });
    Ok(Emulator { addr, shared })
}

pub fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .fallback(v1)
        .layer(middleware::from_fn_with_state(shared.clone(), guard));
    Router::new()
        .nest("/v1", api)
        .route("/checkout/{id}", get(checkout_page))
        .route("/checkout/{id}/pay", post(checkout_page_pay))
        .route("/invoices/{id}", get(invoice_page))
        .route("/invoices/{id}/pdf", get(invoice_pdf))
        .route("/portal/{id}", get(portal_page))
        .route("/portal/{id}/action", post(portal_page_action))
        .route("/_emulator/checkout/sessions/{id}/pay", post(emulator_pay))
        .route("/_emulator/clock", get(emulator_clock))
        .route("/_emulator/clock/advance", post(emulator_advance))
        .route("/_emulator/config", get(emulator_config).post(emulator_set_config))
        .route("/_emulator/faults", post(emulator_fault))
        .route("/_emulator/deliveries", get(emulator_deliveries))
        .route("/_emulator/deliveries/in_flight", get(emulator_in_flight))
        .route("/_emulator/stats", get(emulator_stats))
        .route("/_emulator/subscriptions/{id}/pause", post(emulator_pause))
        .route("/_emulator/subscriptions/{id}/card", post(emulator_card))
        .route("/_emulator/products/{id}/features", post(emulator_features))
        .route("/_emulator/charges/{id}/dispute", post(emulator_dispute))
        .route("/_emulator/disputes/{id}/close", post(emulator_close_dispute))
        .fallback(|method: Method, uri: Uri| async move { StripeError::unknown_route(method.as_str(), uri.path()) })
        .with_state(shared)
}

fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// API key check, fault injection and idempotency for every `/v1` request.
async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let key = match bearer_key(request.headers()) {
        Some(key) => key.to_owned(),
        None => {
            return StripeError::unauthorized("You did not provide an API key. Send it as `Authorization: Bearer sk_test_…`.")
                .into_response();
        }
    };
    let mut fail = None;
    let mut lose = false;
    let mut delay = None;
    {
        let mut world = shared.world.lock().await;
        let accepted = match &world.settings.api_key {
            Some(expected) => &key == expected,
            None => key.starts_with("sk_test_") || key.starts_with("rk_test_"),
        };
        shared.count_api_request();
        if !accepted {
            let shown: String = key.chars().take(8).collect();
            return StripeError::unauthorized(format!("Invalid API Key provided: {shown}***")).into_response();
        }
        // Inside the nested `/v1` router the path has lost its prefix.
        let path = format!("/v1{}", request.uri().path());
        let method = request.method().as_str().to_owned();
        if let Some(fault) = world.faults.iter_mut().find(|f| {
            f.count > 0 && f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(&method)) && path.starts_with(&f.path_prefix)
        }) {
            fault.count -= 1;
            if fault.after {
                lose = true;
            } else {
                fail = fault
                    .status
                    .map(|s| StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            }
            delay = (fault.delay_ms > 0).then(|| std::time::Duration::from_millis(fault.delay_ms));
            world.faults.retain(|f| f.count > 0);
        }
    }
    let response = handle_idempotently(shared, request, next, key, fail).await;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if lose { lost_response() } else { response }
}

/// A response whose body never completes: the connection is cut after the request took effect,
/// as when a network drops Stripe's answer.
fn lost_response() -> Response {
    let cut = futures_util::stream::once(async { Err::<Bytes, std::io::Error>(std::io::Error::other("emulated lost response")) });
    let mut response = Response::new(Body::from_stream(cut));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Replays or refuses a repeated `Idempotency-Key`, else runs the request (or answers the
/// injected `fail`) and stores its answer. As Stripe does, a request that ran is stored whatever
/// its outcome, a 500 included; errors from in front of the API (other 5xx) are not.
async fn handle_idempotently(shared: Arc<Shared>, request: Request, next: Next, key: String, fail: Option<StatusCode>) -> Response {
    let idempotency_key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(idempotency_key) = idempotency_key.filter(|_| request.method() == Method::POST) else {
        return match fail {
            Some(status) => StripeError::injected(status).into_response(),
            None => next.run(request).await,
        };
    };
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return StripeError::state("Request body too large.").into_response(),
    };
    // Parameters compared as a set: clients encode maps in any order.
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
    pairs.sort();
    let fingerprint = format!("{} {} {pairs:?}", parts.method, parts.uri.path());
    let store_key = format!("{key}\u{0}{idempotency_key}");
    if let Some(stored) = shared.world.lock().await.idempotency.get(&store_key).cloned() {
        if stored.fingerprint != fingerprint {
            return StripeError::idempotency_mismatch().into_response();
        }
        let mut response = (StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK), stored.body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return response;
    }
    let response = match fail {
        Some(status) => StripeError::injected(status).into_response(),
        None => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    };
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    if !parts.status.is_server_error() || parts.status == StatusCode::INTERNAL_SERVER_ERROR {
        let stored = crate::world::StoredResponse {
            fingerprint,
            status: parts.status.as_u16(),
            body: body.to_vec(),
        };
        shared.world.lock().await.idempotency.insert(store_key, stored);
    }
    Response::from_parts(parts, Body::from(body))
}

/// The Stripe API: one dispatcher over method and path.
async fn v1(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let source = if body.is_empty() {
        uri.query().unwrap_or_default().as_bytes().to_vec()
    } else {
        body.to_vec()
    };
    let params = match Params::parse(&source) {
        Ok(params) => params,
        Err(err) => return err.into_response(),
    };
    let path = uri.path().trim_start_matches("/v1").trim_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').collect();
    let mut world = shared.world.lock().await;
    let result = match (method.as_str(), segments.as_slice()) {
        ("POST", ["customers"]) => world.create_customer(&params),
        ("GET", ["customers"]) => world.list_customers(&params),
        ("GET", ["customers", id]) => world.customer(id).map(|c| c.render()),
        ("POST", ["customers", id]) => world.update_customer(id, &params),
        ("DELETE", ["customers", id]) => world.delete_customer(id),
        ("GET", ["prices"]) => world.list_prices(&params),
        ("GET", ["prices", id]) => world.price(id, &params),
        ("POST", ["prices"]) => world.create_price(&params),
        ("POST", ["prices", id]) => world.update_price(id, &params),
        ("GET", ["products"]) => world.list_products(&params),
        ("GET", ["products", id]) => world.product(id),
        ("GET", ["products", id, "features"]) => world.list_product_features(id),
        ("POST", ["checkout", "sessions"]) => world.create_checkout_session(&params),
        ("GET", ["checkout", "sessions"]) => world.list_sessions(&params),
        ("GET", ["checkout", "sessions", id]) => world.session(id),
        ("POST", ["checkout", "sessions", id, "expire"]) => world.expire_session(id),
        ("POST", ["billing_portal", "sessions"]) => world.create_portal_session(&params),
        ("GET", ["subscriptions"]) => world.list_subscriptions(&params),
        ("GET", ["subscriptions", id]) => world.subscription(id),
        ("POST", ["subscriptions", id]) => world.update_subscription(id, &params),
        ("DELETE", ["subscriptions", id]) => world.cancel_subscription_with(id, &params),
        ("POST", ["subscriptions", id, "resume"]) => world.resume_subscription(id),
        ("GET", ["invoices"]) => world.list_invoices(&params),
        ("POST", ["invoices", "create_preview"]) => world.create_preview(&params),
        ("GET", ["invoices", id]) => world.invoice(id),
        ("GET", ["invoices", id, "lines"]) => world.invoice_lines(id, &params),
        ("GET", ["invoiceitems"]) => world.list_invoice_items(&params),
        ("GET", ["invoiceitems", id]) => world.invoice_item(id),
        ("POST", ["subscription_schedules"]) => world.create_subscription_schedule(&params),
        ("GET", ["subscription_schedules"]) => world.list_subscription_schedules(&params),
        ("GET", ["subscription_schedules", id]) => world.subscription_schedule(id),
        ("POST", ["subscription_schedules", id]) => world.update_subscription_schedule(id, &params),
        ("POST", ["subscription_schedules", id, "release"]) => world.release_subscription_schedule(id, &params),
        ("POST", ["subscription_schedules", id, "cancel"]) => world.cancel_subscription_schedule(id, &params),
        ("GET", ["charges"]) => world.list_charges(&params),
        ("GET", ["charges", id]) => world.charge(id),
        ("POST", ["refunds"]) => world.create_refund(&params),
        ("GET", ["refunds", id]) => world.refund(id),
        ("GET", ["disputes"]) => world.list_disputes(&params),
        ("GET", ["disputes", id]) => world.dispute(id),
        ("GET", ["billing", "meters"]) => world.list_meters(&params),
        ("POST", ["billing", "meters"]) => world.create_meter(&params),
        ("GET", ["billing", "meters", id]) => world.meter(id),
        ("POST", ["billing", "meters", id]) => world.update_meter(id, &params),
        ("POST", ["billing", "meters", id, "deactivate"]) => world.set_meter_active(id, false, &params),
        ("POST", ["billing", "meters", id, "reactivate"]) => world.set_meter_active(id, true, &params),
        ("GET", ["billing", "meters", id, "event_summaries"]) => world.list_meter_event_summaries(id, &params),
        ("POST", ["billing", "meter_events"]) => world.create_meter_event(&params),
        ("GET", ["entitlements", "active_entitlements"]) => world.list_active_entitlements(&params),
        ("GET", ["events"]) => world.list_events(&params),
        ("GET", ["events", id]) => world.event(id),
        _ => Err(StripeError::unknown_route(method.as_str(), &format!("/v1/{path}"))),
    };
    json_result(&shared, &mut world, result)
}

// ------------------------------------------------------------------ hosted pages

async fn checkout_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let world = shared.world.lock().await;
    match world.sessions.get(&id) {
        Some(session) => Html(crate::pages::checkout(&world, session, None)).into_response(),
        None => (StatusCode::NOT_FOUND, Html("<h1>No such checkout session</h1>")).into_response(),
    }
}

#[derive(Deserialize)]
struct CardForm {
    card: String,
    #[serde(default)]
    promotion_code: Option<String>,
}

async fn checkout_page_pay(State(shared): State<Arc<Shared>>, Path(id): Path<String>, axum::Form(form): axum::Form<CardForm>) -> Response {
    let mut world = shared.world.lock().await;
    let result = world.pay_session_with(&id, &form.card, form.promotion_code.as_deref());
    shared.settle(&mut world, result.is_ok());
    match result {
        Ok(redirect) => Redirect::to(&redirect).into_response(),
        Err(err) => match world.sessions.get(&id) {
            Some(session) => (err.status, Html(crate::pages::checkout(&world, session, Some(&err.message)))).into_response(),
            None => err.into_response(),
        },
    }
}

async fn invoice_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let world = shared.world.lock().await;
    match world.invoices.get(&id).filter(|i| i.number.is_some()) {
        Some(invoice) => Html(crate::pages::invoice(&world, invoice)).into_response(),
        None => (StatusCode::NOT_FOUND, Html("<h1>No such invoice</h1>")).into_response(),
    }
}

async fn invoice_pdf(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let world = shared.world.lock().await;
    match world.invoices.get(&id).filter(|i| i.number.is_some()) {
        Some(invoice) => {
            let pdf = crate::pages::invoice_pdf(&world, invoice);
            let disposition = format!("inline; filename=\"Invoice-{}.pdf\"", invoice.number.as_deref().unwrap_or("draft"));
            (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("application/pdf")),
                    (
                        header::CONTENT_DISPOSITION,
                        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("inline")),
                    ),
                ],
                pdf,
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, Html("<h1>No such invoice</h1>")).into_response(),
    }
}

async fn portal_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let world = shared.world.lock().await;
    match world.portal_sessions.get(&id) {
        Some(session) => Html(crate::pages::portal(&world, session, None)).into_response(),
        None => (StatusCode::NOT_FOUND, Html("<h1>No such portal session</h1>")).into_response(),
    }
}

#[derive(Deserialize)]
struct PortalForm {
    subscription: String,
    action: String,
    #[serde(default)]
    price: Option<String>,
}

async fn portal_page_action(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<PortalForm>,
) -> Response {
    let mut world = shared.world.lock().await;
    let Some(session) = world.portal_sessions.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, Html("<h1>No such portal session</h1>")).into_response();
    };
    let owned = world
        .subscriptions
        .get(&form.subscription)
        .is_some_and(|s| s.customer == session.customer);
    let result = if !owned {
        Err(StripeError::no_such("subscription", &form.subscription, "subscription"))
    } else {
        let item = world.subscriptions[&form.subscription]
            .items
            .first()
            .map(|i| i.id.clone())
            .unwrap_or_default();
        let body = match (form.action.as_str(), &form.price) {
            ("cancel", _) => "cancel_at_period_end=true".to_owned(),
            ("resume", _) => "cancel_at_period_end=false".to_owned(),
            ("switch", Some(price)) => format!("items[0][id]={item}&items[0][price]={price}&proration_behavior=create_prorations"),
            _ => String::new(),
        };
        if body.is_empty() {
            Err(StripeError::invalid("action", "Unknown portal action."))
        } else {
            Params::parse(body.as_bytes()).and_then(|p| world.update_subscription(&form.subscription, &p))
        }
    };
    let notice = match &result {
        Ok(_) => "Saved.".to_owned(),
        Err(err) => err.message.clone(),
    };
    shared.settle(&mut world, result.is_ok());
    Html(crate::pages::portal(&world, &session, Some(&notice))).into_response()
}

// ------------------------------------------------------------------ emulator controls

fn json_result(shared: &Shared, world: &mut MutexGuard<'_, World>, result: Result<Value, StripeError>) -> Response {
    shared.settle(world, result.is_ok());
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Deserialize)]
struct PayRequest {
    card: String,
    #[serde(default)]
    promotion_code: Option<String>,
}

async fn emulator_pay(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let request: PayRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return StripeError::missing_param("card").into_response(),
    };
    let mut world = shared.world.lock().await;
    let result = world
        .pay_session_with(&id, &request.card, request.promotion_code.as_deref())
        .and_then(|redirect| Ok(json!({"redirect_url": redirect, "session": world.session(&id)?})));
    json_result(&shared, &mut world, result)
}

async fn emulator_clock(State(shared): State<Arc<Shared>>) -> Response {
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

async fn emulator_advance(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: AdvanceRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return StripeError::invalid("seconds", "Send JSON {\"seconds\": n} or {\"days\": n}.").into_response(),
    };
    let mut world = shared.world.lock().await;
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

async fn emulator_config(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(config_view(&shared, &*shared.world.lock().await)).into_response()
}

async fn emulator_set_config(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
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

async fn emulator_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
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
async fn emulator_in_flight(State(shared): State<Arc<Shared>>) -> Response {
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

async fn emulator_deliveries(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({"deliveries": shared.world.lock().await.deliveries})).into_response()
}

/// Counters for clients' behaviour: TCP connections accepted and Stripe API requests served.
async fn emulator_stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({"connections": shared.connections(), "api_requests": shared.api_requests()})).into_response()
}

async fn emulator_dispute(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut world = shared.world.lock().await;
    let result = world.open_dispute(&id);
    json_result(&shared, &mut world, result)
}

#[derive(Deserialize)]
struct CloseDispute {
    status: String,
}

async fn emulator_close_dispute(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<CloseDispute>(&body) else {
        return StripeError::missing_param("status").into_response();
    };
    let mut world = shared.world.lock().await;
    let result = world.close_dispute(&id, &request.status);
    json_result(&shared, &mut world, result)
}

async fn emulator_pause(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut world = shared.world.lock().await;
    let result = world.pause_subscription(&id);
    json_result(&shared, &mut world, result)
}

async fn emulator_card(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let card = match serde_json::from_slice::<PayRequest>(&body).map(|r| classify_card(&r.card)) {
        Ok(CardOutcome::Card(card)) => card,
        _ => {
            return StripeError::invalid("card", "Send JSON {\"card\": \"4242424242424242\"} with a succeeding test card.").into_response();
        }
    };
    let mut world = shared.world.lock().await;
    let result = world.set_card(&id, card).and_then(|()| world.subscription(&id));
    json_result(&shared, &mut world, result)
}

#[derive(Deserialize)]
struct FeaturesRequest {
    features: Vec<String>,
}

async fn emulator_features(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
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
