//! HTTP surface: the Stripe API under `/v1`, the hosted pages, and `/_emulator` controls.
//! This file holds the routing table and the `/v1` dispatcher; `guard` checks every `/v1`
//! request first, `hosted` serves the pages and `controls` the `/_emulator` endpoints.

mod controls;
mod guard;
mod hosted;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::MutexGuard;

use crate::error::StripeError;
use crate::params::Params;
pub use crate::shared::Shared;
use crate::world::World;
use controls::{
    emulator_advance, emulator_card, emulator_clock, emulator_close_dispute, emulator_config, emulator_customer_card, emulator_deliveries,
    emulator_dispute, emulator_fault, emulator_features, emulator_in_flight, emulator_pause, emulator_pay, emulator_set_config,
    emulator_stats,
};
use guard::guard;
use hosted::{checkout_page, checkout_page_pay, invoice_page, invoice_pdf, portal_page, portal_page_action};

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
        .route("/_emulator/customers/{id}/card", post(emulator_customer_card))
        .route("/_emulator/products/{id}/features", post(emulator_features))
        .route("/_emulator/charges/{id}/dispute", post(emulator_dispute))
        .route("/_emulator/disputes/{id}/close", post(emulator_close_dispute))
        .fallback(|method: Method, uri: Uri| async move { StripeError::unknown_route(method.as_str(), uri.path()) })
        .with_state(shared)
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
    // Expansions deeper than Stripe allows are refused before anything is done.
    if let Err(err) = World::check_expand(&params) {
        return err.into_response();
    }
    let mut world = shared.world.lock().await;
    // A change asked with expansions runs with a copy of the world kept, put back if an
    // expansion is then refused: as in Stripe, a refused request changes nothing.
    let before_change = (method != Method::GET && !params.strings("expand").is_empty()).then(|| world.clone());
    // A request about a customer on a test clock runs on the clock's time.
    let clock = world.request_clock(&segments, &params);
    world.set_scope(clock);
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
        ("GET", ["checkout", "sessions", id, "line_items"]) => world.session_line_items(id, &params),
        ("POST", ["checkout", "sessions", id, "expire"]) => world.expire_session(id),
        ("POST", ["billing_portal", "sessions"]) => world.create_portal_session(&params),
        ("GET", ["subscriptions"]) => world.list_subscriptions(&params),
        ("POST", ["subscriptions"]) => world.create_subscription(&params),
        ("GET", ["subscriptions", id]) => world.subscription(id).map(|s| world.expand_discounts(s, &params)),
        ("POST", ["subscriptions", id]) => world.update_subscription(id, &params).map(|s| world.expand_discounts(s, &params)),
        ("DELETE", ["subscriptions", id]) => world.cancel_subscription_with(id, &params),
        ("POST", ["subscriptions", id, "resume"]) => world.resume_subscription(id, &params),
        ("POST", ["coupons"]) => world.create_coupon(&params),
        ("GET", ["coupons"]) => world.list_coupons(&params),
        ("GET", ["coupons", id]) => world.coupon(id),
        ("POST", ["coupons", id]) => world.update_coupon(id, &params),
        ("POST", ["promotion_codes"]) => world.create_promotion_code(&params),
        ("GET", ["promotion_codes"]) => world.list_promotion_codes(&params),
        ("GET", ["promotion_codes", id]) => world.promotion_code(id, &params),
        ("POST", ["promotion_codes", id]) => world.update_promotion_code(id, &params),
        ("GET", ["payment_methods", id]) => world.payment_method(id),
        ("POST", ["payment_methods", id, "attach"]) => world.attach_payment_method(id, &params),
        ("POST", ["payment_methods", id, "detach"]) => world.detach_payment_method(id),
        ("GET", ["invoices"]) => world.list_invoices(&params),
        ("POST", ["invoices", "create_preview"]) => world.create_preview(&params),
        ("GET", ["invoices", id]) => world.invoice(id),
        ("POST", ["invoices", id, "pay"]) => world.pay_invoice(id, &params),
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
        ("POST", ["test_helpers", "test_clocks"]) => world.create_test_clock(&params),
        ("GET", ["test_helpers", "test_clocks"]) => world.list_test_clocks(&params),
        ("GET", ["test_helpers", "test_clocks", id]) => world.test_clock(id),
        ("DELETE", ["test_helpers", "test_clocks", id]) => world.delete_test_clock(id),
        ("POST", ["test_helpers", "test_clocks", id, "advance"]) => world.advance_test_clock(id, &params),
        _ => Err(StripeError::unknown_route(method.as_str(), &format!("/v1/{path}"))),
    };
    // `expand[]` on every answer, as Stripe applies it.
    let result = result.and_then(|value| world.expand(value, &params));
    if result.is_err()
        && let Some(before) = before_change
    {
        *world = before;
    }
    world.set_scope(None);
    json_result(&shared, &mut world, result)
}

/// Settles the world after a change (events handed to delivery) and answers its JSON or error.
fn json_result(shared: &Shared, world: &mut MutexGuard<'_, World>, result: Result<Value, StripeError>) -> Response {
    shared.settle(world, result.is_ok());
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err(err) => err.into_response(),
    }
}
