//! The trusted way to record usage: a direct invocation of this function (Lambda Invoke), which
//! only callers granted `lambda:InvokeFunction` on it can make. The payload names the user; the
//! answer says whether the units were counted.
//!
//! ```json
//! {"user_id": "user_123", "feature": "api_calls", "quantity": 1, "idempotency_key": "job-42"}
//! ```
//!
//! Usage that belongs to an organization names it instead (`"org_id": "org_acme"`, never both):
//! it counts against the organization's pooled quota.
//!
//! → `{"allowed": true, "feature", "used", "limit", "remaining", "period_end"}`, or, when nothing
//! was counted, `{"allowed": false, "feature", "used", "limit", "remaining", "problem": {…}}` with
//! the problem+json fields (`type`, `title`, `status`, `detail`, `field`…): the limit or the
//! metered ceiling reached, a feature the plan does not count, bad input, the store down. The
//! invocation itself succeeds either way: a caller reads `allowed`, never a function error.

use billing::AppState;
use billing::edge::identity::MAX_USER_ID_LEN;
use billing::edge::problem::Problem;
use billing::services::usage::{Recorded, UsageError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The payload of a direct invocation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectRecord {
    pub user_id: Option<String>,
    pub org_id: Option<String>,
    pub feature: Option<String>,
    pub quantity: Option<Value>,
    pub idempotency_key: Option<String>,
}

/// The answer of a direct invocation.
#[derive(Debug, Serialize)]
pub struct DirectAnswer {
    pub allowed: bool,
    pub feature: Option<String>,
    pub used: Option<u64>,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_end: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

impl DirectAnswer {
    fn counted(recorded: Recorded) -> Self {
        Self {
            allowed: true,
            feature: Some(recorded.feature),
            used: Some(recorded.used),
            limit: recorded.limit,
            remaining: recorded.remaining,
            period_end: Some(recorded.period_end),
            problem: None,
        }
    }

    fn refused(feature: Option<String>, problem: Problem) -> Self {
        let number = |name: &str| problem.extensions.get(name).and_then(Value::as_u64);
        let (used, limit) = (number("used").or(number("metered")), number("limit").or(number("ceiling")));
        Self {
            allowed: false,
            feature,
            used,
            limit,
            remaining: limit.zip(used).map(|(l, u)| l.saturating_sub(u)),
            period_end: None,
            problem: Some(problem),
        }
    }
}

fn invalid(kind: &'static str, field: &str, detail: &str) -> Problem {
    Problem::bad_request(kind, detail.to_owned()).with_field(field)
}

/// The validated parts of a payload.
struct Valid {
    user_id: String,
    feature: String,
    quantity: u64,
    key: Option<String>,
}

fn validate(payload: Value) -> Result<Valid, Box<DirectAnswer>> {
    validated(payload).map_err(|(feature, problem)| Box::new(DirectAnswer::refused(feature, problem)))
}

/// The checks of [`validate`]; a refusal names the feature when the payload did.
#[allow(clippy::result_large_err)]
fn validated(payload: Value) -> Result<Valid, (Option<String>, Problem)> {
    let feature_of = |payload: &Value| payload.get("feature").and_then(Value::as_str).map(str::to_owned);
    let feature = feature_of(&payload);
    let record: DirectRecord = serde_path_to_error::deserialize(payload).map_err(|err| {
        let field = err.path().to_string();
        let problem = match err.inner().to_string() {
            inner if inner.starts_with("unknown field") => {
                let name = inner.split('`').nth(1).unwrap_or("?").chars().take(64).collect::<String>();
                invalid("/errors/unknown-field", &name, &format!("unknown field `{name}`"))
            }
            _ if field.is_empty() || field == "." => Problem::bad_request("/errors/malformed-body", "the payload must be a JSON object"),
            _ => invalid("/errors/invalid-field", &field, &format!("`{field}` has the wrong type")),
        };
        (feature.clone(), problem)
    })?;
    let user_id = match (record.user_id, record.org_id) {
        (Some(_), Some(_)) => {
            return Err((
                feature,
                invalid("/errors/invalid-field", "org_id", "name the `user_id` or the `org_id`, not both"),
            ));
        }
        (None, Some(org)) if billing::domain::billable::is_valid_org_id(&org) => billing::domain::billable::org(&org),
        (None, Some(_)) => {
            return Err((
                feature,
                invalid(
                    "/errors/invalid-field",
                    "org_id",
                    "`org_id` must be 1-200 characters without control characters or `#`",
                ),
            ));
        }
        (Some(id), None)
            if id.len() <= MAX_USER_ID_LEN && !id.chars().any(char::is_control) && billing::domain::billable::is_valid_user_id(&id) =>
        {
            id
        }
        (Some(_), None) => {
            return Err((
                feature,
                invalid(
                    "/errors/invalid-field",
                    "user_id",
                    "`user_id` must be 1-256 characters without control characters",
                ),
            ));
        }
        (None, None) => {
            return Err((
                feature,
                invalid("/errors/missing-field", "user_id", "`user_id` (or `org_id`) is required"),
            ));
        }
    };
    let Some(name) = record.feature else {
        return Err((None, invalid("/errors/missing-field", "feature", "`feature` is required")));
    };
    let quantity = match record.quantity {
        None => return Err((Some(name), invalid("/errors/missing-field", "quantity", "`quantity` is required"))),
        Some(value) => match value.as_u64() {
            Some(q) => q,
            None => return Err((Some(name), Problem::from(&UsageError::InvalidQuantity))),
        },
    };
    let key = match record.idempotency_key {
        None => None,
        Some(key) if !key.is_empty() && key.len() <= 200 && key.bytes().all(|b| b.is_ascii_graphic()) => Some(key),
        Some(_) => {
            return Err((
                Some(name),
                invalid(
                    "/errors/invalid-field",
                    "idempotency_key",
                    "`idempotency_key` must be 1-200 visible ASCII characters",
                ),
            ));
        }
    };
    Ok(Valid {
        user_id,
        feature: name,
        quantity,
        key,
    })
}

/// Records the payload's units through `billing::usage`: the same quotas, ceilings,
/// idempotency and exactness as every other caller.
pub async fn record(state: &AppState, payload: Value) -> DirectAnswer {
    let valid = match validate(payload) {
        Ok(valid) => valid,
        Err(refused) => return *refused,
    };
    match state
        .usage()
        .record(&valid.user_id, &valid.feature, valid.quantity, valid.key.as_deref())
        .await
    {
        Ok(recorded) => DirectAnswer::counted(recorded),
        Err(err) => {
            let problem = Problem::from(&err);
            if problem.status >= 500 {
                tracing::error!(error = %billing::edge::problem::cause_chain(&err), "direct usage record failed");
            } else {
                tracing::info!(kind = problem.kind, user = %valid.user_id, "direct usage record refused");
            }
            DirectAnswer::refused(Some(valid.feature), problem)
        }
    }
}

/// [`record`] as the invocation's JSON result.
pub async fn invoke(state: &AppState, payload: Value) -> Value {
    serde_json::to_value(record(state, payload).await).unwrap_or_else(|_| serde_json::json!({"allowed": false}))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bad_payloads_name_the_field_and_count_nothing() {
        for (payload, field) in [
            (json!({"feature": "api_calls", "quantity": 1}), "user_id"),
            (json!({"user_id": "", "feature": "api_calls", "quantity": 1}), "user_id"),
            (json!({"user_id": "u1", "quantity": 1}), "feature"),
            (json!({"user_id": "u1", "feature": "api_calls"}), "quantity"),
            (json!({"user_id": "u1", "feature": "api_calls", "quantity": 1.5}), "quantity"),
            (json!({"user_id": "u1", "feature": "api_calls", "quantity": -1}), "quantity"),
            (json!({"user_id": "u1", "feature": "api_calls", "quantity": 1, "extra": 1}), "extra"),
            (
                json!({"user_id": "u1", "feature": "api_calls", "quantity": 1, "idempotency_key": "a\u{1}b"}),
                "idempotency_key",
            ),
            (json!({"user_id": 5, "feature": "api_calls", "quantity": 1}), "user_id"),
            (json!({"user_id": "org:acme", "feature": "api_calls", "quantity": 1}), "user_id"),
            (
                json!({"user_id": "u1", "org_id": "acme", "feature": "api_calls", "quantity": 1}),
                "org_id",
            ),
            (json!({"org_id": "a#b", "feature": "api_calls", "quantity": 1}), "org_id"),
        ] {
            let refused = validate(payload.clone()).map(|_| ()).unwrap_err();
            let problem = refused.problem.as_ref().unwrap();
            assert_eq!(
                (refused.allowed, problem.status, problem.field.as_deref()),
                (false, 400, Some(field)),
                "{payload}"
            );
        }
        assert!(validate(json!([1])).is_err());
        let org = validate(json!({"org_id": "org_acme", "feature": "api_calls", "quantity": 1}))
            .ok()
            .unwrap();
        assert_eq!(org.user_id, "org:org_acme", "an organization's usage counts under its billable id");
        let valid = validate(json!({"user_id": "u1", "feature": "api_calls", "quantity": 3, "idempotency_key": "k1"}))
            .ok()
            .unwrap();
        assert_eq!(
            (valid.user_id.as_str(), valid.feature.as_str(), valid.quantity, valid.key.as_deref()),
            ("u1", "api_calls", 3, Some("k1"))
        );
    }

    #[test]
    fn a_refusal_carries_the_count_and_the_problem() {
        let problem = Problem::from(&UsageError::OverLimit {
            limit: 10,
            used: 9,
            resets_at: 100,
        });
        let answer = serde_json::to_value(DirectAnswer::refused(Some("api_calls".into()), problem)).unwrap();
        assert_eq!(answer["allowed"], false);
        assert_eq!(
            (answer["used"].as_u64(), answer["limit"].as_u64(), answer["remaining"].as_u64()),
            (Some(9), Some(10), Some(1))
        );
        assert_eq!(answer["problem"]["type"], "/errors/usage-limit");
        assert_eq!(answer["problem"]["status"], 429);
    }
}
