//! One run. The payload says which:
//! - `{}` or `{"mode": "events"}` (the schedule): events since the checkpoint (see
//!   `billing::services::reconcile`); an EventBridge scheduled-event envelope counts as `{}`;
//! - `{"mode": "full"}`: every Stripe customer's subscriptions and entitlements, fetched again
//!   (resumed across runs until done);
//! - `{"customer": "cus_…"}` or `{"user": "…"}`: that one customer's.
//!
//! The answer is the run's summary (`{"events_seen", "applied", "duplicate", "stale", "ignored",
//! "failed", "checkpoint", …}`); the same figures go to CloudWatch (embedded metric format).

use billing::AppState;
use billing::edge::metrics;
use billing::services::reconcile::RunSummary;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub use crate::error::ReconcileFnError;

/// What a payload asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    Events,
    Full,
    Customer(String),
    User(String),
}

/// Reads the invoke payload; anything else is refused, naming the problem.
pub fn parse(payload: &Value) -> Result<Run, ReconcileFnError> {
    let bad = |problem: &str| Err(ReconcileFnError::Payload(problem.to_owned()));
    let Some(object) = payload.as_object() else {
        return match payload {
            Value::Null => Ok(Run::Events),
            _ => bad("expected a JSON object"),
        };
    };
    // EventBridge's scheduled event (a rule rather than the Scheduler): the events run.
    if object.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return Ok(Run::Events);
    }
    if let Some(field) = object.keys().find(|k| !["mode", "customer", "user"].contains(&k.as_str())) {
        return bad(&format!("unknown field `{field}` (expected `mode`, `customer` or `user`)"));
    }
    let text = |name: &str| match object.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ReconcileFnError::Payload(format!("`{name}` must be a string"))),
    };
    match (text("mode")?, text("customer")?, text("user")?) {
        (None | Some("events"), None, None) => Ok(Run::Events),
        (Some("full"), None, None) => Ok(Run::Full),
        (Some(other), None, None) => bad(&format!("`mode` must be `events` or `full`, not {other:?}")),
        (None, Some(customer), None) => {
            if billing::domain::ids::CustomerId::parse(customer).is_some() {
                Ok(Run::Customer(customer.to_owned()))
            } else {
                bad("`customer` must be a Stripe customer id (`cus_…`)")
            }
        }
        (None, None, Some(user)) => {
            if (1..=256).contains(&user.len()) && !user.chars().any(char::is_control) {
                Ok(Run::User(user.to_owned()))
            } else {
                bad("`user` must be 1 to 256 characters without control characters")
            }
        }
        _ => bad("send one of `mode`, `customer` or `user`"),
    }
}

/// The run's metrics. Event runs feed the drift alarm (`ReconcileApplied`) and report how far
/// behind the checkpoint is; snapshot runs write every snapshot, so theirs are counted apart.
pub fn run_metrics(run: &Run, summary: &RunSummary, now: i64) -> Vec<(&'static str, f64)> {
    match run {
        Run::Events => {
            let mut metrics = summary.metrics();
            if let Some(checkpoint) = summary.checkpoint {
                metrics.push(("ReconcileCheckpointAgeSeconds", (now - checkpoint).max(0) as f64));
            }
            metrics
        }
        Run::Full | Run::Customer(_) | Run::User(_) => vec![
            ("ReconcileSnapshotsWritten", summary.applied as f64),
            ("ReconcileSnapshotsFailed", summary.failed as f64),
        ],
    }
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(state: &AppState, event: LambdaEvent<Value>) -> Result<RunSummary, ReconcileFnError> {
    let run = parse(&event.payload)?;
    let reconciler = state.reconciler()?;
    let result = match &run {
        Run::Events => reconciler.events().await,
        Run::Full => reconciler.sweep().await,
        Run::Customer(customer) => reconciler.customer(customer).await,
        Run::User(user) => reconciler.user(user).await,
    };
    let summary = match result {
        Ok(summary) => summary,
        Err(err) => {
            tracing::error!(?run, error = %billing::edge::problem::cause_chain(&err), "reconcile run failed");
            metrics::emit(&state.config.metrics_namespace, &[("ReconcileRunsFailed", 1.0)]);
            return Err(err.into());
        }
    };
    metrics::emit(&state.config.metrics_namespace, &run_metrics(&run, &summary, state.clock.now()));
    tracing::info!(
        ?run,
        events_seen = summary.events_seen,
        applied = summary.applied,
        duplicate = summary.duplicate,
        stale = summary.stale,
        ignored = summary.ignored,
        failed = summary.failed,
        checkpoint = summary.checkpoint,
        complete = summary.complete,
        "reconcile run"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payloads_choose_the_run() {
        assert_eq!(parse(&json!({})).unwrap(), Run::Events);
        assert_eq!(parse(&Value::Null).unwrap(), Run::Events);
        assert_eq!(parse(&json!({"mode": "events"})).unwrap(), Run::Events);
        assert_eq!(parse(&json!({"mode": "full"})).unwrap(), Run::Full);
        assert_eq!(
            parse(&json!({"customer": "cus_ABC123"})).unwrap(),
            Run::Customer("cus_ABC123".into())
        );
        assert_eq!(parse(&json!({"user": "user_1"})).unwrap(), Run::User("user_1".into()));
        let scheduled = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert_eq!(parse(&scheduled).unwrap(), Run::Events);
    }

    #[test]
    fn anything_else_is_refused_naming_the_problem() {
        for (payload, says) in [
            (json!({"mode": "all"}), "`mode`"),
            (json!({"customer": "sub_1"}), "`customer`"),
            (json!({"customer": "cus_a/b"}), "`customer`"),
            (json!({"customer": 7}), "`customer` must be a string"),
            (json!({"user": ""}), "`user`"),
            (json!({"user": "a\nb"}), "`user`"),
            (json!({"customer": "cus_1", "user": "u"}), "one of"),
            (json!({"mode": "full", "user": "u"}), "one of"),
            (json!({"since": 0}), "unknown field `since`"),
            (json!([1]), "JSON object"),
        ] {
            let err = parse(&payload).unwrap_err();
            assert!(err.to_string().contains(says), "{payload}: {err}");
            let diagnostic = lambda_runtime::Diagnostic::from(err);
            assert_eq!(diagnostic.error_type, "BadPayload");
        }
    }

    #[test]
    fn every_figure_is_a_metric_and_snapshots_are_counted_apart() {
        let summary = RunSummary {
            events_seen: 5,
            applied: 2,
            failed: 1,
            checkpoint: Some(1_000),
            complete: false,
            ..RunSummary::default()
        };
        let metrics = run_metrics(&Run::Events, &summary, 1_600);
        for expected in [
            ("ReconcileEventsSeen", 5.0),
            ("ReconcileApplied", 2.0),
            ("ReconcileFailed", 1.0),
            ("ReconcileIncomplete", 1.0),
            ("ReconcileCheckpointAgeSeconds", 600.0),
        ] {
            assert!(metrics.contains(&expected), "{expected:?} in {metrics:?}");
        }
        let snapshot = run_metrics(&Run::Full, &summary, 1_600);
        assert!(
            snapshot.iter().all(|(name, _)| name.starts_with("ReconcileSnapshots")),
            "{snapshot:?}"
        );
    }
}
