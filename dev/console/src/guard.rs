//! Only the console's own page may use the console: the console mints tokens for anyone and
//! moves the clock, so a request must name a loopback host (no DNS rebinding: a foreign name
//! that resolves to 127.0.0.1 is refused), a request with an `Origin` must come from that host,
//! and anything but a GET or HEAD must carry the page's own `Origin` (browsers always send it)
//! and JSON (a foreign page's form can send neither).

use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;

/// The hosts the page is opened on.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

pub async fn same_origin(request: Request, next: Next) -> Response {
    match check(&request) {
        Ok(()) => next.run(request).await,
        Err(problem) => problem.into_response(),
    }
}

/// The host name of a `Host` header, without its port (`[::1]:9001` → `[::1]`).
fn host_name(host: &str) -> &str {
    match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(host, |(address, _port)| &host[..address.len() + 2]),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    }
}

fn check(request: &Request) -> Result<(), Problem> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !LOOPBACK_HOSTS.contains(&host_name(host)) {
        return Err(Problem::forbidden(
            "Open the console at http://127.0.0.1:<port>/: it answers loopback hosts only.",
        ));
    }
    let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let reads = [Method::GET, Method::HEAD].contains(request.method());
    let own_page = origin == Some(format!("http://{host}").as_str());
    if !own_page && (origin.is_some() || !reads) {
        return Err(Problem::forbidden("Only the console's own page may call it."));
    }
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !reads && !json {
        return Err(Problem::unsupported("Send JSON (content-type: application/json)."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut builder = axum::http::Request::builder().method(method).uri("/console/clock");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    fn status(method: Method, headers: &[(&str, &str)]) -> Option<StatusCode> {
        check(&request(method, headers)).err().map(|p| p.status)
    }

    #[test]
    fn the_page_itself_passes() {
        let host = ("host", "127.0.0.1:9001");
        assert_eq!(status(Method::GET, &[host]), None);
        assert_eq!(status(Method::GET, &[("host", "localhost:9001")]), None);
        assert_eq!(status(Method::GET, &[("host", "[::1]:9001")]), None);
        assert_eq!(status(Method::GET, &[("host", "[::1]")]), None);
        let post = [host, ("origin", "http://127.0.0.1:9001"), ("content-type", "application/json")];
        assert_eq!(status(Method::POST, &post), None);
    }

    #[test]
    fn foreign_hosts_and_origins_are_refused() {
        let forbidden = Some(StatusCode::FORBIDDEN);
        assert_eq!(status(Method::GET, &[("host", "evil.example:9001")]), forbidden);
        assert_eq!(status(Method::GET, &[("host", "[::2]:9001")]), forbidden);
        let foreign = [("host", "127.0.0.1:9001"), ("origin", "https://evil.example")];
        assert_eq!(status(Method::GET, &foreign), forbidden);
        assert_eq!(status(Method::OPTIONS, &foreign), forbidden);
    }

    #[test]
    fn changes_need_the_pages_origin_and_json() {
        // Without an Origin (not the page): refused, whatever the body.
        let bare = [("host", "127.0.0.1:9001"), ("content-type", "application/json")];
        assert_eq!(status(Method::POST, &bare), Some(StatusCode::FORBIDDEN));
        // A form, or a body without a length: JSON only.
        let own = ("origin", "http://127.0.0.1:9001");
        let form = [("host", "127.0.0.1:9001"), own, ("content-type", "text/plain")];
        assert_eq!(status(Method::POST, &form), Some(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        let chunked = [("host", "127.0.0.1:9001"), own, ("transfer-encoding", "chunked")];
        assert_eq!(status(Method::POST, &chunked), Some(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
}
