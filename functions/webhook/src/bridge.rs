//! Stripe events delivered by Amazon EventBridge (Stripe's "Send events to Amazon EventBridge"
//! event destination), as an alternative to `POST /webhook`.
//!
//! EventBridge invokes the function directly with its own envelope: `source` is the partner
//! event source (`aws.partner/stripe.com/<id>`), `detail-type` the Stripe event type, and
//! `detail` the Stripe event itself (the snapshot payload). The event goes through the same
//! sync engine as over HTTP ([`crate::handler::apply`]): deduplicated by its id, order-safe.
//!
//! There is no signature on this path, so nothing in the payload is trusted:
//!
//! - The path is off unless `STRIPE_PARTNER_EVENT_SOURCE` names the partner event source (the
//!   template sets it with the rule), and an invocation whose `source` is not that name is
//!   refused. Only the partner rule may invoke the function this way (its resource policy).
//! - Even then, `source` is a field a caller writes: what is applied is Stripe's own copy of
//!   the event, read by its id (`GET /v1/events/{id}`, with the connected account's header for
//!   a connected account's event). A made-up event names no event Stripe has, and a tampered
//!   one is replaced by Stripe's.
//!
//! | payload | answer |
//! |---|---|
//! | applied, duplicate, stale, ignored | `{"received": true, "outcome": …}` |
//! | the path is off, not an EventBridge event, or another `source` | the invocation fails (`Refused`), nothing written |
//! | a `detail` that is no Stripe event, an event Stripe does not have, livemode mismatch | `{"received": false, "problem": …}`, nothing written (retrying cannot help) |
//! | DynamoDB or Stripe failure, user not resolvable yet | the invocation fails: Lambda retries it (reconcile repairs what is lost after) |

use billing::AppState;
use billing::config::STRIPE_PARTNER_PREFIX;
use billing::domain::event;
use billing::edge::metrics;
use billing::edge::problem::ApiError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::handler::WebhookError;

/// The part of EventBridge's envelope this path reads.
#[derive(Debug, Deserialize)]
struct Delivery {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("refused: the EventBridge input is off (STRIPE_PARTNER_EVENT_SOURCE is not set)")]
    Off,
    #[error("refused: not an EventBridge event")]
    NotEventBridge,
    #[error("refused: source {0:?} is not the Stripe partner event source this function takes")]
    Source(String),
    #[error("the event could not be applied")]
    Apply(#[source] WebhookError),
}

/// Whether `source` may deliver Stripe events here: the configured partner source only.
pub fn accepts(source: &str, configured: &str) -> bool {
    source == configured && source.starts_with(STRIPE_PARTNER_PREFIX)
}

/// Handles one direct invocation.
pub async fn invoke(state: &AppState, payload: Value) -> Result<Value, lambda_http::Error> {
    match receive(state, payload).await {
        Ok(answer) => Ok(answer),
        Err(err) => {
            let chain = billing::edge::problem::cause_chain(&err);
            match &err {
                BridgeError::Apply(_) => {
                    metrics::emit(&state.config.metrics_namespace, &[("WebhookBridgeFailures", 1.0)]);
                    tracing::error!(error = %chain, "eventbridge delivery failed; retried");
                }
                _ => tracing::warn!(error = %chain, "direct invocation refused"),
            }
            Err(err.to_string().into())
        }
    }
}

async fn receive(state: &AppState, payload: Value) -> Result<Value, BridgeError> {
    let configured = state.config.events.stripe_partner_source.as_deref().ok_or(BridgeError::Off)?;
    let delivery: Delivery = serde_json::from_value(payload).map_err(|_| BridgeError::NotEventBridge)?;
    if !accepts(&delivery.source, configured) {
        return Err(BridgeError::Source(delivery.source));
    }
    let handed = match event::parse_value(delivery.detail) {
        Ok(event) => event,
        Err(err) => return Ok(refused(WebhookError::Envelope(err), &delivery.detail_type)),
    };
    let stripe = match state.stripe() {
        Ok(stripe) => stripe,
        Err(err) => return Err(BridgeError::Apply(err.into())),
    };
    let copy = match &handed.account {
        Some(account) => {
            stripe
                .for_account(account)
                .map_err(|e| BridgeError::Apply(e.into()))?
                .retrieve_event(&handed.id)
                .await
        }
        None => stripe.retrieve_event(&handed.id).await,
    };
    let event = match copy {
        Ok(Some(event)) => event,
        Ok(None) => {
            tracing::warn!(event = %handed.id, detail_type = %delivery.detail_type, "eventbridge delivery names an event stripe does not have; refused");
            return Ok(json!({ "received": false, "problem": "/errors/unknown-event" }));
        }
        Err(err) => return Err(BridgeError::Apply(err.into())),
    };
    match crate::handler::apply(state, &event).await {
        Ok(outcome) => Ok(json!({ "received": true, "outcome": outcome.as_str() })),
        Err(err @ WebhookError::Livemode { .. }) => Ok(refused(err, &delivery.detail_type)),
        Err(err @ WebhookError::Sync(billing::services::sync::SyncError::Shape { .. })) => Ok(refused(err, &delivery.detail_type)),
        Err(err) => Err(BridgeError::Apply(err)),
    }
}

/// The answer to an event that can never apply: acknowledged (retrying cannot help), logged.
fn refused(err: WebhookError, detail_type: &str) -> Value {
    let problem = err.problem();
    tracing::warn!(error = %err, %detail_type, kind = problem.kind, "eventbridge delivery refused");
    json!({ "received": false, "problem": problem.kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_stripe_partner_source_is_taken() {
        let configured = "aws.partner/stripe.com/ed_1";
        assert!(accepts("aws.partner/stripe.com/ed_1", configured));
        assert!(!accepts("aws.partner/stripe.com/ed_2", configured));
        assert!(!accepts("billing", configured));
        assert!(!accepts("billing", "billing"), "only a Stripe partner source");
    }

    #[tokio::test]
    async fn other_payloads_are_refused_before_any_io() {
        // The DynamoDB endpoint is unreachable: reaching the store would fail differently.
        let mut config = billing::testkit::config("billing-test", "http://127.0.0.1:9", None);
        let off = billing::testkit::state(config.clone(), crate::NEEDS).unwrap();
        let file: Value = serde_json::from_str(&billing::testkit::event_text("webhook-eventbridge.json")).unwrap();
        assert!(
            matches!(receive(&off, file.clone()).await.unwrap_err(), BridgeError::Off),
            "off unless configured"
        );
        config.events.stripe_partner_source = file["source"].as_str().map(str::to_owned);
        let state = billing::testkit::state(config, crate::NEEDS).unwrap();
        let not_eventbridge = receive(&state, json!({"user_id": "u"})).await.unwrap_err();
        assert!(matches!(not_eventbridge, BridgeError::NotEventBridge), "{not_eventbridge}");
        let forged = json!({"source": "my.app", "detail-type": "customer.subscription.updated", "detail": {}});
        assert!(matches!(receive(&state, forged).await.unwrap_err(), BridgeError::Source(_)));
        let bad = json!({"source": file["source"], "detail-type": "x", "detail": {"nope": 1}});
        assert_eq!(receive(&state, bad).await.unwrap()["problem"], "/errors/malformed-event");
    }
}
