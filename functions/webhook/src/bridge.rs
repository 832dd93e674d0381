//! Stripe events delivered by Amazon EventBridge (Stripe's "Send events to Amazon EventBridge"
//! event destination), as an alternative to `POST /webhook`.
//!
//! EventBridge invokes the function directly with its own envelope: `source` is the partner
//! event source (`aws.partner/stripe.com/<id>`), `detail-type` the Stripe event type, and
//! `detail` the Stripe event itself (the snapshot payload). The event goes through the same
//! sync engine as over HTTP ([`crate::handler::apply`]): deduplicated by its id, order-safe.
//!
//! There is no signature on this path: IAM is the boundary. Only the partner rule may invoke
//! the function this way (its resource policy), and an invocation whose `source` is not
//! Stripe's partner source (the configured one, when `STRIPE_PARTNER_EVENT_SOURCE` is set) is
//! refused.
//!
//! | payload | answer |
//! |---|---|
//! | applied, duplicate, stale, ignored | `{"received": true, "outcome": …}` |
//! | not an EventBridge event, or another `source` | the invocation fails (`Refused`), nothing written |
//! | a `detail` that is no Stripe event, livemode mismatch | `{"received": false, "problem": …}`, nothing written (retrying cannot help) |
//! | DynamoDB or Stripe failure, user not resolvable yet | the invocation fails: Lambda and EventBridge retry it |

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
    #[error("refused: not an EventBridge event")]
    NotEventBridge,
    #[error("refused: source {0:?} is not the Stripe partner event source this function takes")]
    Source(String),
    #[error("the event could not be applied")]
    Apply(#[source] WebhookError),
}

/// Whether `source` may deliver Stripe events here.
pub fn accepts(source: &str, configured: Option<&str>) -> bool {
    match configured {
        Some(name) => source == name,
        None => source.starts_with(STRIPE_PARTNER_PREFIX),
    }
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
    let delivery: Delivery = serde_json::from_value(payload).map_err(|_| BridgeError::NotEventBridge)?;
    if !accepts(&delivery.source, state.config.events.stripe_partner_source.as_deref()) {
        return Err(BridgeError::Source(delivery.source));
    }
    let event = match event::parse_value(delivery.detail) {
        Ok(event) => event,
        Err(err) => return Ok(refused(WebhookError::Envelope(err), &delivery.detail_type)),
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
    fn only_stripe_partner_sources_are_taken() {
        assert!(accepts("aws.partner/stripe.com/ed_123", None));
        assert!(!accepts("billing", None));
        assert!(!accepts("aws.events", None));
        assert!(!accepts("my.app/aws.partner/stripe.com", None));
        assert!(accepts("aws.partner/stripe.com/ed_1", Some("aws.partner/stripe.com/ed_1")));
        assert!(!accepts("aws.partner/stripe.com/ed_2", Some("aws.partner/stripe.com/ed_1")));
    }

    #[tokio::test]
    async fn other_payloads_are_refused_before_any_io() {
        // The DynamoDB endpoint is unreachable: reaching the store would fail differently.
        let state = billing::testkit::state(
            billing::testkit::config("billing-test", "http://127.0.0.1:9", None),
            crate::NEEDS,
        )
        .unwrap();
        let not_eventbridge = receive(&state, json!({"user_id": "u"})).await.unwrap_err();
        assert!(matches!(not_eventbridge, BridgeError::NotEventBridge), "{not_eventbridge}");
        let forged = json!({"source": "my.app", "detail-type": "customer.subscription.updated", "detail": {}});
        assert!(matches!(receive(&state, forged).await.unwrap_err(), BridgeError::Source(_)));
        let bad = json!({"source": "aws.partner/stripe.com/ed_1", "detail-type": "x", "detail": {"nope": 1}});
        assert_eq!(receive(&state, bad).await.unwrap()["problem"], "/errors/malformed-event");
    }
}
