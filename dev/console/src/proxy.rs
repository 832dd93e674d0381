//! `/api/…`: the HTTP API through `cargo lambda watch`, passed through as it is: the method, the
//! path and query, the body, and the headers a client sends (`authorization`, `content-type`,
//! `idempotency-key`); the answer's status, body and the headers a client reads.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::problem::Problem;
use crate::state::Console;

/// Request headers passed to the API.
const FORWARDED: [&str; 3] = ["authorization", "content-type", "idempotency-key"];
/// Answer headers passed back to the page.
const RETURNED: [&str; 3] = ["content-type", "retry-after", "cache-control"];

/// Whether `rest` (after `/api/`) is a path of the HTTP API the page may call: plain segments of
/// unreserved characters, `%`-escapes and `:` (never a backslash, `.`/`..` or an escaped dot,
/// which a URL parser could turn into another path), and not the watch server's Lambda Invoke
/// API, runtime API or function URLs.
fn api_path(rest: &str) -> bool {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~%:".contains(c);
    !rest.is_empty()
        && rest.split('/').all(|segment| {
            segment.chars().all(plain) && !segment.trim_matches('.').is_empty() && !segment.to_ascii_lowercase().contains("%2e")
        })
        && !["2015-03-31/", ".rt/", "lambda-url/"].iter().any(|p| rest.starts_with(p))
}

pub fn router() -> axum::Router<Arc<Console>> {
    axum::Router::new().route("/api/{*rest}", any(pass))
}

async fn pass(State(console): State<Arc<Console>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    // As the page sent it (still percent-encoded), so that the API decodes it once.
    let rest = uri.path().strip_prefix("/api/").unwrap_or_default();
    // The HTTP API only: never the watch server's Lambda Invoke API or runtime API, which a
    // page must not reach (usage is recorded through `/console/usage`).
    if !api_path(rest) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_http_apis_paths_pass() {
        for path in [
            "plans",
            "entitlements/api_access",
            "entitlements/a.b:c",
            "checkout/cs_123",
            "invoices",
        ] {
            assert!(api_path(path), "{path}");
        }
        for path in [
            "",
            "2015-03-31/functions/usage/invocations",
            ".rt/usage/2018-06-01/runtime/invocation/next",
            "lambda-url/usage/",
            "x/../2015-03-31/functions/usage/invocations",
            "x\\..\\2015-03-31/functions/usage/invocations",
            "x/%2e%2e/2015-03-31/functions/usage/invocations",
            "x/%2E./y",
            "plans/",
            "a//b",
            "a/./b",
        ] {
            assert!(!api_path(path), "{path}");
        }
    }
}
