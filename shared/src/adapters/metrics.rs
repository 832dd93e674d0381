//! CloudWatch metrics as embedded metric format (EMF): one JSON line on stdout per emission,
//! from which CloudWatch extracts the metrics. No API call, no extra permission, nothing on the
//! request's path but a print. The namespace comes from `METRICS_NAMESPACE` (the template sets
//! `StripeLambda/<stack name>`; alarms read the same).

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

/// Whether this process prints its metrics (on unless [`silence`] was called).
static SILENCED: AtomicBool = AtomicBool::new(false);

/// Stops this process printing metric lines: for tools that run handlers in process and own
/// stdout (the bench prints its table there). Never called by a function.
pub fn silence() {
    SILENCED.store(true, Ordering::Relaxed);
}

/// The EMF document for `metrics` (name, count) at `timestamp_ms`, without dimensions.
pub fn emf(namespace: &str, metrics: &[(&str, f64)], timestamp_ms: i64) -> Value {
    let definitions: Vec<Value> = metrics.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect();
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [[]], "Metrics": definitions}]
        }),
    );
    for (name, value) in metrics {
        document.insert((*name).to_owned(), json!(value));
    }
    Value::Object(document)
}

/// Prints the EMF line for `metrics` (nothing when there are none).
pub fn emit(namespace: &str, metrics: &[(&str, f64)]) {
    if metrics.is_empty() || SILENCED.load(Ordering::Relaxed) {
        return;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    println!("{}", emf(namespace, metrics, now_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_document_declares_and_carries_each_metric() {
        let doc = emf("StripeLambda/test", &[("Webhook5xx", 1.0), ("WebhookRequests", 1.0)], 42);
        assert_eq!(doc["_aws"]["Timestamp"], 42);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "StripeLambda/test");
        assert_eq!(directive["Dimensions"], json!([[]]));
        assert_eq!(directive["Metrics"][0], json!({"Name": "Webhook5xx", "Unit": "Count"}));
        assert_eq!(
            (doc["Webhook5xx"].as_f64(), doc["WebhookRequests"].as_f64()),
            (Some(1.0), Some(1.0))
        );
    }
}
