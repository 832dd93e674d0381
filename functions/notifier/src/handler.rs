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
