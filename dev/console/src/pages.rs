//! The page's files, read from `--static-dir` on every request (edit and reload; no build
//! step). Only the files named here are served.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::Console;

/// Path, file and content type of everything the page loads.
const FILES: [(&str, &str, &str); 6] = [
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/app.js", "app.js", "text/javascript; charset=utf-8"),
    ("/lib.js", "lib.js", "text/javascript; charset=utf-8"),
    ("/style.css", "style.css", "text/css; charset=utf-8"),
    ("/favicon.svg", "favicon.svg", "image/svg+xml"),
    ("/favicon.ico", "favicon.svg", "image/svg+xml"),
];

pub fn router() -> axum::Router<Arc<Console>> {
    let mut router = axum::Router::new();
    for (path, file, content_type) in FILES {
        router = router.route(path, get(move |state: State<Arc<Console>>| serve(state, file, content_type)));
    }
    router
}

async fn serve(State(console): State<Arc<Console>>, file: &'static str, content_type: &'static str) -> Response {
    match tokio::fs::read(console.static_dir.join(file)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                         connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
                    ),
                ),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            bytes,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(file, error = %err, "cannot read a page file");
            (StatusCode::INTERNAL_SERVER_ERROR, "the console's files are missing").into_response()
        }
    }
}
