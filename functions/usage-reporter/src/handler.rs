//! One scheduled run: `{}` in, `{"sent", "units", "pending", "failed", "rejected_units",
//! "late_units", "parked"}` out,
//! the same figures as CloudWatch metrics (embedded metric format). What a run does is
//! `billing::services::reporter`'s business.

use billing::AppState;
use billing::edge::metrics;
use billing::services::reporter::RunSummary;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ReporterFnError {
    #[error("the reporter has no stripe client")]
    Stripe(#[from] billing::adapters::stripe::GatewayError),
    #[error("the run could not read its queue")]
    Run(#[from] billing::adapters::store::StoreError),
}

/// What the invoker (EventBridge Scheduler, `cargo lambda invoke`) sees of a failed run: its
/// kind only; the cause chain is in the log.
impl From<ReporterFnError> for lambda_runtime::Diagnostic {
    fn from(err: ReporterFnError) -> Self {
        let error_type = match err {
            ReporterFnError::Stripe(_) => "NotConfigured",
            ReporterFnError::Run(_) => "StoreUnavailable",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: "the usage report run failed; see the function's log".into(),
        }
    }
}

/// The metrics of one run.
pub fn run_metrics(summary: &RunSummary) -> Vec<(&'static str, f64)> {
    vec![
        ("UsageEventsSent", summary.sent as f64),
        ("UsageUnitsSent", summary.units as f64),
        ("UsagePending", summary.pending as f64),
        ("UsageBatchesFailed", summary.failed as f64),
        ("UsageUnitsRejected", summary.rejected_units as f64),
        ("UsageUnitsLate", summary.late_units as f64),
        ("UsageBatchesParked", summary.parked as f64),
    ]
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(state: &AppState, event: LambdaEvent<Value>) -> Result<RunSummary, ReporterFnError> {
    let reporter = state.reporter()?;
    let summary = match reporter.run().await {
        Ok(summary) => summary,
        Err(err) => {
            tracing::error!(error = %billing::edge::problem::cause_chain(&err), "usage report run failed");
            metrics::emit(&state.config.metrics_namespace, &[("UsageReportRunsFailed", 1.0)]);
            return Err(err.into());
        }
    };
    metrics::emit(&state.config.metrics_namespace, &run_metrics(&summary));
    tracing::info!(
        sent = summary.sent,
        units = summary.units,
        pending = summary.pending,
        failed = summary.failed,
        rejected_units = summary.rejected_units,
        parked = summary.parked,
        "usage report run"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_is_a_metric() {
        let summary = RunSummary {
            sent: 2,
            units: 30,
            pending: 1,
            failed: 1,
            rejected_units: 4,
            late_units: 0,
            parked: 3,
        };
        let metrics = run_metrics(&summary);
        assert_eq!(metrics.len(), 7);
        assert!(metrics.contains(&("UsageUnitsRejected", 4.0)));
        assert!(metrics.contains(&("UsageBatchesParked", 3.0)));
    }
}
