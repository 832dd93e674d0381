//! Who the page's bearer token names (verified as the functions verify it).

use axum::http::{HeaderMap, header};

use crate::problem::Problem;
use crate::state::Console;

/// The caller the page's bearer token names.
pub async fn caller(console: &Console, headers: &HeaderMap) -> Result<billing::edge::identity::Identity, Problem> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Problem::unauthorized("Sign in first."))?;
    console
        .verifier
        .verify_bearer(bearer)
        .await
        .map_err(|err| Problem::unauthorized(format!("{err}: sign in again.")))
}
