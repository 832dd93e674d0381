//! One run: any payload in (the table stream's batch only wakes it; a scheduled `{}` sweeps),
//! `{"published", "unchanged", "refused", "parked", "left", "oldest_age_secs", "put_requests"}`
//! out, the same figures as CloudWatch metrics. A run in which EventBridge refused an event
//! fails after doing all it could, so the invocation lands in the function's dead-letter queue
//! (alarmed); the refused events stay in the outbox and the next run puts them again. What a
//! run does is `billing::services::publisher`'s business.

use billing::AppState;
use billing::adapters::bus::Bus;
use billing::edge::metrics;
use billing::services::publisher::{PublishError, PublishSummary};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum PublisherFnError {
    #[error("the run could not read or update the outbox")]
    Run(#[from] PublishError),
    #[error("eventbridge refused {0} domain event(s); they stay in the outbox")]
    Refused(usize),
}

/// What the invoker sees of a failed run: its kind only; the cause chain is in the log.
impl From<PublisherFnError> for lambda_runtime::Diagnostic {
    fn from(err: PublisherFnError) -> Self {
        let (error_type, error_message) = match &err {
            PublisherFnError::Run(_) => ("StoreUnavailable", "the publish run failed; see the function's log".to_owned()),
            PublisherFnError::Refused(_) => ("EventsRefused", err.to_string()),
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message,
        }
    }
}

/// The metrics of one run.
pub fn run_metrics(summary: &PublishSummary) -> Vec<(&'static str, f64)> {
    vec![
        ("DomainEventsPublished", summary.published as f64),
        ("DomainEventsRefused", summary.refused as f64),
        ("DomainEventsParked", summary.parked as f64),
        ("DomainEventsLeft", summary.left as f64),
        ("OutboxOldestAgeSeconds", summary.oldest_age_secs as f64),
    ]
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(state: &AppState, bus: &Bus, event: LambdaEvent<Value>) -> Result<PublishSummary, PublisherFnError> {
    let summary = match state.publisher(bus).run().await {
        Ok(summary) => summary,
        Err(err) => {
            tracing::error!(error = %billing::edge::problem::cause_chain(&err), "publish run failed");
            metrics::emit(&state.config.metrics_namespace, &[("PublishRunsFailed", 1.0)]);
            return Err(err.into());
        }
    };
    metrics::emit(&state.config.metrics_namespace, &run_metrics(&summary));
    tracing::info!(
        published = summary.published,
        unchanged = summary.unchanged,
        refused = summary.refused,
        parked = summary.parked,
        left = summary.left,
        oldest_age_secs = summary.oldest_age_secs,
        "publish run"
    );
    if summary.refused > 0 {
        return Err(PublisherFnError::Refused(summary.refused));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_figure_is_a_metric() {
        let summary = PublishSummary {
            published: 4,
            refused: 1,
            parked: 2,
            oldest_age_secs: 9,
            ..PublishSummary::default()
        };
        let metrics = run_metrics(&summary);
        assert!(metrics.contains(&("DomainEventsPublished", 4.0)));
        assert!(metrics.contains(&("DomainEventsRefused", 1.0)));
        assert!(metrics.contains(&("DomainEventsParked", 2.0)));
        assert!(metrics.contains(&("OutboxOldestAgeSeconds", 9.0)));
        let diagnostic: lambda_runtime::Diagnostic = PublisherFnError::Refused(1).into();
        assert_eq!(diagnostic.error_type, "EventsRefused");
    }
}
