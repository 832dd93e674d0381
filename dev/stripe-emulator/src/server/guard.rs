//! The gate in front of every `/v1` request: the API key check, injected faults (errors,
//! delays, lost responses) and `Idempotency-Key` replays.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::StripeError;
use crate::shared::Shared;

/// Largest request body accepted.
const MAX_BODY: usize = 256 * 1024;

fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// API key check, fault injection and idempotency for every `/v1` request.
pub(super) async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
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
