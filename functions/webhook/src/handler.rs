//! `POST /webhook`: verify, parse, apply.
//!
//! | outcome | status |
//! |---|---|
//! | applied, duplicate, stale, ignored type | 200 |
//! | bad/missing signature, stale timestamp, malformed body, > 1 MiB, livemode mismatch | 400, nothing written |
//! | DynamoDB or Stripe failure, user not resolvable yet | 500 (Stripe retries), nothing half-written |
//!
//! What an event changes is the sync engine's business (`billing::services::sync`).

use std::convert::Infallible;

use billing::AppState;
use billing::domain::event::{self, EnvelopeError};
use billing::edge::http::{json, method_not_allowed, not_found};
use billing::edge::metrics;
use billing::edge::problem::{ApiError, Problem, respond};
use billing::edge::signature::{self, SignatureError};
use billing::services::sync::SyncError;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let response = match state.path(&req).as_slice() {
        ["webhook"] if req.method() == Method::POST => {
            let result = receive(state, &req).await;
            let forged = matches!(result, Err(WebhookError::Signature(SignatureError::NoMatchingSignature)));
            let response = respond(result);
            metrics::emit(
                &state.config.metrics_namespace,
                &response_metrics(response.status().as_u16(), forged),
            );
            response
        }
        ["webhook"] => method_not_allowed(&req, &[Method::POST]),
        _ => not_found(&req),
    };
    Ok(response)
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("signature rejected: {}", .0.reason())]
    Signature(#[from] SignatureError),
    #[error("malformed event: {}", .0.reason())]
    Envelope(#[from] EnvelopeError),
    #[error("event livemode {event} does not match the configured key (livemode {configured})")]
    Livemode { event: bool, configured: bool },
    #[error("the event could not be applied")]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Stripe(#[from] billing::adapters::stripe::GatewayError),
}

impl ApiError for WebhookError {
    fn problem(&self) -> Problem {
        let bad = |kind, detail: &str| Problem::bad_request(kind, detail.to_owned());
        match self {
            WebhookError::Signature(SignatureError::NoSecrets) => Problem::internal(),
            WebhookError::Signature(err) => bad("/errors/invalid-signature", err.reason()),
            WebhookError::Envelope(err) => bad("/errors/malformed-event", err.reason()),
            WebhookError::Livemode { .. } => bad(
                "/errors/livemode-mismatch",
                "the event's livemode does not match this endpoint's key",
            ),
            WebhookError::Sync(SyncError::Shape { .. }) => bad("/errors/malformed-event", "the event's object cannot be read"),
            // Stripe retries anything but a 2xx: a 500 asks for exactly that.
            WebhookError::Sync(_) | WebhookError::Stripe(_) => Problem::internal(),
        }
    }
}

/// Verifies the signature. When no signature matches, the secrets may have been rolled in the
/// Dashboard since this process read them: they are read again (at most once a minute) before
/// the request is refused.
async fn verify(state: &AppState, header: Option<&str>, payload: &[u8]) -> Result<(), SignatureError> {
    let tolerance = state.config.webhook_tolerance;
    match signature::verify(header, payload, &state.webhook_secrets.current(), tolerance, billing::now_epoch()) {
        Err(SignatureError::NoMatchingSignature) => match state.webhook_secrets.refresh(state.clock.now()).await {
            Ok(true) => {
                tracing::info!("webhook secrets changed; verifying again");
                signature::verify(header, payload, &state.webhook_secrets.current(), tolerance, billing::now_epoch()).map(|_| ())
            }
            Ok(false) => Err(SignatureError::NoMatchingSignature),
            Err(err) => {
                tracing::warn!(error = %billing::edge::problem::cause_chain(&err), "webhook secrets could not be read again");
                Err(SignatureError::NoMatchingSignature)
            }
        },
        other => other.map(|_| ()),
    }
}

/// An event still failing this long after it was created is counted (`FailingOldEvents`).
pub const STALE_FAILURE_SECS: i64 = 86_400;

/// The metrics of one answered request: `WebhookRequests`, and `Webhook4xx` or `Webhook5xx`;
/// `WebhookBadSignatures` when a well-formed signature matched none of the secrets (even after
/// reading them again). The alarms read `Webhook5xx` and `WebhookBadSignatures`: anyone on the
/// internet can make the endpoint answer 400, but only rolled secrets (or forgeries with a
/// plausible header) make signatures stop matching.
pub fn response_metrics(status: u16, bad_signature: bool) -> Vec<(&'static str, f64)> {
    let mut metrics = vec![("WebhookRequests", 1.0)];
    match status {
        400..=499 => metrics.push(("Webhook4xx", 1.0)),
        500..=599 => metrics.push(("Webhook5xx", 1.0)),
        _ => {}
    }
    if bad_signature {
        metrics.push(("WebhookBadSignatures", 1.0));
    }
    metrics
}

async fn receive(state: &AppState, req: &Request) -> Result<Response<Body>, WebhookError> {
    let payload = signature::payload_bytes(req.body())?;
    let header = signature::header_value(req.headers())?;
    verify(state, header, payload).await?;
    let event = event::parse(payload)?;
    let outcome = apply(state, &event).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "received": true, "outcome": outcome.as_str() }),
    ))
}

/// Applies a verified event (from `POST /webhook`, or from EventBridge: [`crate::bridge`]).
pub async fn apply(state: &AppState, event: &event::Envelope) -> Result<billing::services::sync::Outcome, WebhookError> {
    if event.livemode != state.livemode {
        return Err(WebhookError::Livemode {
            event: event.livemode,
            configured: state.livemode,
        });
    }
    let outcome = match state.sync()?.apply(event).await {
        Ok(outcome) => outcome,
        Err(err) => {
            if event.created < state.clock.now() - STALE_FAILURE_SECS {
                // Stripe gives up after three days: an event still failing after one is an alarm.
                metrics::emit(&state.config.metrics_namespace, &[("FailingOldEvents", 1.0)]);
            }
            return Err(err.into());
        }
    };
    tracing::info!(event = %event.id, event_type = %event.event_type, outcome = outcome.as_str(), "webhook processed");
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use billing::testkit;

    use super::*;

    fn state() -> AppState {
        // The DynamoDB endpoint is unreachable: any store access would be a 500, not a 400.
        testkit::state(testkit::config("billing-test", "http://127.0.0.1:9", None), crate::NEEDS).unwrap()
    }

    #[tokio::test]
    async fn signature_problems_are_400_before_any_io() {
        let state = state();
        let payload = testkit::event_text("stripe/customer.subscription.created.json");
        let now = billing::now_epoch();
        for header in [
            None,
            Some("t=1,v1=00".to_owned()),
            Some(signature::sign_header(&["whsec_wrong"], now, payload.as_bytes())),
        ] {
            let mut event = billing::edge::local_events::api_gateway_event(&payload, header.as_deref().unwrap_or(""));
            if header.is_none() {
                event["headers"].as_object_mut().unwrap().remove("stripe-signature");
            }
            let req = billing::edge::runtime::request_from_json(&event.to_string()).unwrap();
            let response = handle(&state, req).await.unwrap();
            assert_eq!(response.status(), 400, "{header:?}");
            assert_eq!(response.headers()["content-type"], billing::edge::problem::PROBLEM_JSON);
        }
    }

    #[test]
    fn each_answer_counts_once_and_rejections_and_failures_apart() {
        assert_eq!(response_metrics(200, false), vec![("WebhookRequests", 1.0)]);
        assert_eq!(response_metrics(400, false), vec![("WebhookRequests", 1.0), ("Webhook4xx", 1.0)]);
        assert_eq!(
            response_metrics(400, true),
            vec![("WebhookRequests", 1.0), ("Webhook4xx", 1.0), ("WebhookBadSignatures", 1.0)]
        );
        assert_eq!(response_metrics(500, false), vec![("WebhookRequests", 1.0), ("Webhook5xx", 1.0)]);
    }

    #[tokio::test]
    async fn other_routes_and_methods() {
        let state = state();
        assert_eq!(handle(&state, testkit::event("unknown-route.json")).await.unwrap().status(), 404);
        let get = testkit::event_with("webhook-customer.subscription.updated.json", |e| {
            e["requestContext"]["http"]["method"] = "GET".into()
        });
        assert_eq!(handle(&state, get).await.unwrap().status(), 405);
    }
}
