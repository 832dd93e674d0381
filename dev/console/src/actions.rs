//! What a team's own backend does beside the API: sign a user in (a token, minted like
//! `./dev/token.sh`) and record their usage through the trusted path (a direct invocation of
//! the `usage` function, never `POST /usage`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::problem::Problem;
use crate::state::Console;

/// How long a console token lasts (as `./dev/token.sh`'s).
const TOKEN_SECONDS: u64 = 3600;
/// The longest id the page may sign in with (the API's own bound on ids).
const MAX_ID: usize = 200;

pub fn router() -> axum::Router<Arc<Console>> {
    axum::Router::new()
        .route("/console/token", post(token))
        .route("/console/usage", post(usage))
        .route("/console/clock", get(crate::clock::now).post(crate::clock::advance))
        .route("/console/events", get(crate::feed::list))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    user_id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    org_id: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

/// Trimmed, non-empty, at most [`MAX_ID`] characters, no control characters; `None` if blank.
fn id(field: &'static str, value: Option<&str>) -> Result<Option<String>, Problem> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_ID || value.chars().any(char::is_control) || value.contains('#') {
        return Err(Problem::invalid(
            field,
            format!("{field} must be at most {MAX_ID} characters, without '#' or control characters."),
        ));
    }
    Ok(Some(value.to_owned()))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body).map_err(|err| Problem::invalid("body", format!("The request is not valid JSON for this action: {err}.")))
}

async fn token(State(console): State<Arc<Console>>, body: axum::body::Bytes) -> Response {
    match mint(&console, &body) {
        Ok(answer) => Json(answer).into_response(),
        Err(problem) => problem.into_response(),
    }
}

fn mint(console: &Console, body: &[u8]) -> Result<Value, Problem> {
    let request: SignIn = parse(body)?;
    let user_id = id("user_id", Some(&request.user_id))?.ok_or_else(|| Problem::invalid("user_id", "Enter a user id."))?;
    let email = id("email", request.email.as_deref())?;
    let org_id = id("org_id", request.org_id.as_deref())?;
    let role = id("role", request.role.as_deref())?;
    if org_id.is_none() && role.is_some() {
        return Err(Problem::invalid("role", "A role is given in an organization: enter its id too."));
    }
    let names = &console.config.jwt.orgs;
    let mut claims = serde_json::Map::new();
    if let Some(org) = &org_id {
        claims.insert(names.id_claim.clone(), org.clone().into());
        claims.insert(names.role_claim.clone(), role.clone().unwrap_or_else(|| "org:member".into()).into());
    }
    let admin = org_id.is_none() || role.as_ref().is_some_and(|r| names.admin_roles.contains(r));
    let token = billing::edge::identity::issue_token_with(&console.config.jwt, &user_id, email.as_deref(), claims, TOKEN_SECONDS)
        .map_err(|err| Problem::unavailable("token signer (JWT_HS256_SECRET)", &err))?;
    Ok(json!({
        "token": token,
        "expires_in": TOKEN_SECONDS,
        "user_id": user_id,
        "org_id": org_id,
        "role": role,
        "admin": admin,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordUsage {
    feature: String,
    quantity: i64,
}

/// Keys of the console's usage records: one per click, never repeated.
static RECORDS: AtomicU64 = AtomicU64::new(0);

async fn usage(State(console): State<Arc<Console>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    match record(&console, &headers, &body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn record(console: &Console, headers: &HeaderMap, body: &[u8]) -> Result<Value, Problem> {
    let caller = crate::caller::caller(console, headers).await?;
    let request: RecordUsage = parse(body)?;
    // What a team's backend sends: the billable the signed-in caller acts for.
    let mut payload = json!({
        "feature": request.feature,
        "quantity": request.quantity,
        "idempotency_key": format!(
            "console-{}-{}-{}",
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
            RECORDS.fetch_add(1, Ordering::Relaxed)
        ),
    });
    match caller.org_id() {
        Some(org) => payload["org_id"] = org.into(),
        None => payload["user_id"] = caller.user_id.clone().into(),
    }
    let url = format!("{}/2015-03-31/functions/usage/invocations", console.api);
    let answer = console
        .http
        .post(&url)
        .json(&payload)
        .send()
        .await
        .map_err(|err| Problem::unavailable("usage function (cargo lambda watch)", &err))?;
    let status = answer.status();
    let text = answer
        .text()
        .await
        .map_err(|err| Problem::unavailable("usage function (cargo lambda watch)", &err))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(value) if status.is_success() => Ok(value),
        _ => Err(Problem::unavailable("usage function", &InvokeFailed(format!("{status}: {text}")))),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the invocation answered {0}")]
struct InvokeFailed(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_trimmed_bounded_and_plain() {
        assert_eq!(id("user_id", Some("  ada ")).unwrap().as_deref(), Some("ada"));
        assert_eq!(id("user_id", Some("   ")).unwrap(), None);
        assert_eq!(id("org_id", None).unwrap(), None);
        assert_eq!(id("user_id", Some("a#b")).unwrap_err().field, Some("user_id"));
        assert!(id("user_id", Some("a\u{7}b")).is_err());
        assert!(id("user_id", Some(&"x".repeat(MAX_ID))).is_ok());
        assert!(id("user_id", Some(&"x".repeat(MAX_ID + 1))).is_err());
    }
}
