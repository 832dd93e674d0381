//! `/api/…`: the HTTP API through `cargo lambda watch`, passed through as it is: the method, the
//! path and query, the body, and the headers a client sends (`authorization`, `content-type`,
//! `idempotency-key`); the answer's status, body and the headers a client reads.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::Console;
use crate::problem::Problem;

/// Request headers passed to the API.
const FORWARDED: [&str; 3] = ["authorization", "content-type", "idempotency-key"];
/// Answer headers passed back to the page.
const RETURNED: [&str; 3] = ["content-type", "retry-after", "cache-control"];

pub fn router() -> axum::Router<Arc<Console>> {
    axum::Router::new().route("/api/{*rest}", any(pass))
}

async fn pass(State(console): State<Arc<Console>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    // As the page sent it (still percent-encoded), so that the API decodes it once.
    let rest = uri.path().strip_prefix("/api/").unwrap_or_default();
    // The HTTP API only: never the watch server's Lambda Invoke API or runtime API, which a
    // page must not reach (usage is recorded through `/console/usage`).
    if rest
        .split('/')
        .any(|segment| segment.trim_matches('.').is_empty() || segment.to_ascii_lowercase().contains("%2e"))
        || ["2015-03-31/", ".rt/", "lambda-url/"].iter().any(|p| rest.starts_with(p))
    {
        return Problem::not_found("The console passes the HTTP API's routes only.").into_response();
    }
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("{}/{rest}{query}", console.api);
    let mut request = console.http.request(method, &url).body(body);
    for name in FORWARDED {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value.clone());
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(err) => return Problem::unavailable("API (cargo lambda watch)", &err).into_response(),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut returned = HeaderMap::new();
    for name in RETURNED {
        if let Some(value) = answer.headers().get(name) {
            returned.insert(name, value.clone());
        }
    }
    match answer.bytes().await {
        Ok(bytes) => (status, returned, bytes).into_response(),
        Err(err) => Problem::unavailable("API (cargo lambda watch)", &err).into_response(),
    }
}
