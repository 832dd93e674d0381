//! One EventBridge delivery in (`{"detail-type", "source", "detail", …}`), `{"sent": bool,
//! "skipped"?}` out. A failure (SES, DynamoDB) fails the invocation: Lambda retries it, then
//! the rule's dead-letter queue keeps it (alarmed). What is sent is
//! `billing::services::notify`'s business.

use billing::AppState;
use billing::adapters::mail::Mailer;
use billing::edge::metrics;
use billing::services::notify::{Notified, Notifier, NotifyError};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
struct Delivery {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifierFnError {
    #[error("not an EventBridge delivery of a domain event")]
    NotADelivery,
    #[error("source {0:?} is not this deployment's EVENT_SOURCE")]
    Source(String),
    #[error("the notification failed")]
    Notify(#[from] NotifyError),
}

impl From<NotifierFnError> for lambda_runtime::Diagnostic {
    fn from(err: NotifierFnError) -> Self {
        let error_type = match err {
            NotifierFnError::NotADelivery | NotifierFnError::Source(_) => "Refused",
            NotifierFnError::Notify(_) => "NotifyFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: "the notification failed; see the function's log".into(),
        }
    }
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(state: &AppState, mailer: &Mailer, event: LambdaEvent<Value>) -> Result<Value, NotifierFnError> {
    let delivery: Delivery = serde_json::from_value(event.payload).map_err(|_| NotifierFnError::NotADelivery)?;
    if delivery.source != state.config.events.source {
        return Err(NotifierFnError::Source(delivery.source));
    }
    let notifier = Notifier::new(
        &state.store,
        mailer,
        &state.catalog,
        state.config.events.portal_link.as_ref(),
        state.config.stripe_api_base.as_ref(),
    );
    match notifier.notify(&delivery.detail_type, delivery.detail, state.clock.now()).await {
        Ok(Notified::Sent { message_id, .. }) => {
            metrics::emit(&state.config.metrics_namespace, &[("NotificationsSent", 1.0)]);
            tracing::info!(detail_type = %delivery.detail_type, %message_id, "notification sent");
            Ok(json!({ "sent": true }))
        }
        Ok(Notified::Skipped(why)) => {
            tracing::info!(detail_type = %delivery.detail_type, why, "notification skipped");
            Ok(json!({ "sent": false, "skipped": why }))
        }
        Err(err) => {
            tracing::error!(error = %billing::edge::problem::cause_chain(&err), "notification failed");
            metrics::emit(&state.config.metrics_namespace, &[("NotificationsFailed", 1.0)]);
            Err(err.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use billing::testkit;

    use super::*;

    fn delivery(edit: impl FnOnce(&mut Value)) -> LambdaEvent<Value> {
        let mut payload: Value = serde_json::from_str(&testkit::event_text("notifier-payment-failed.json")).unwrap();
        edit(&mut payload);
        LambdaEvent::new(payload, lambda_runtime::Context::default())
    }

    #[tokio::test]
    async fn other_sources_and_other_types_send_nothing_and_touch_nothing() {
        // DynamoDB and SES are unreachable: any I/O would fail the call.
        let state = testkit::state(testkit::config("billing-test", "http://127.0.0.1:9", None), crate::NEEDS).unwrap();
        let client = aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(&testkit::local_sdk())
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        );
        let mailer = Mailer::new(client, "billing@example.com");
        let forged = handle(&state, &mailer, delivery(|p| p["source"] = "someone.else".into())).await;
        assert!(matches!(forged, Err(NotifierFnError::Source(_))));
        let other = handle(&state, &mailer, delivery(|p| p["detail-type"] = "subscription.updated".into())).await;
        assert_eq!(other.unwrap()["skipped"], "not_notified");
        let not_a_delivery = handle(
            &state,
            &mailer,
            LambdaEvent::new(serde_json::json!({"user_id": "u"}), lambda_runtime::Context::default()),
        )
        .await;
        assert!(matches!(not_a_delivery, Err(NotifierFnError::NotADelivery)));
        // The file's own delivery reaches the store (unreachable here): a failure, retried.
        assert!(matches!(
            handle(&state, &mailer, delivery(|_| {})).await,
            Err(NotifierFnError::Notify(_))
        ));
    }
}
