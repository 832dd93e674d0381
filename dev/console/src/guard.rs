//! Only the console's own page may use the console: the console mints tokens for anyone and
//! moves the clock, so a request must name a loopback host (no DNS rebinding: a foreign name
//! that resolves to 127.0.0.1 is refused), a request the browser marks with an `Origin` must come
//! from that host, and a `POST` carries JSON (a foreign page's form cannot send it without a
//! preflight, which the console never answers).

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

fn check(request: &Request) -> Result<(), Problem> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(name, _port)| name);
    if !LOOPBACK_HOSTS.contains(&name) {
        return Err(Problem::forbidden(
            "Open the console at http://127.0.0.1:<port>/: it answers loopback hosts only.",
        ));
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if origin != format!("http://{host}") {
            return Err(Problem::forbidden("Only the console's own page may call it."));
        }
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
    let reads = [Method::GET, Method::HEAD].contains(request.method());
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|len| len.as_bytes() != b"0");
    if !reads && has_body && !json {
        return Err(Problem::unsupported("Send JSON (content-type: application/json)."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut builder = axum::http::Request::builder().method(method).uri("/console/clock");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn the_page_itself_passes() {
        let host = ("host", "127.0.0.1:9001");
        assert!(check(&request(Method::GET, &[host])).is_ok());
        assert!(check(&request(Method::GET, &[("host", "localhost:9001")])).is_ok());
        let post = [
            host,
            ("origin", "http://127.0.0.1:9001"),
            ("content-type", "application/json"),
            ("content-length", "12"),
        ];
        assert!(check(&request(Method::POST, &post)).is_ok());
    }

    #[test]
    fn foreign_hosts_origins_and_forms_are_refused() {
        let rebound = check(&request(Method::GET, &[("host", "evil.example:9001")])).unwrap_err();
        assert_eq!(rebound.status, axum::http::StatusCode::FORBIDDEN);
        let foreign = [("host", "127.0.0.1:9001"), ("origin", "https://evil.example")];
        assert_eq!(
            check(&request(Method::GET, &foreign)).unwrap_err().status,
            axum::http::StatusCode::FORBIDDEN
        );
        let form = [("host", "127.0.0.1:9001"), ("content-type", "text/plain"), ("content-length", "12")];
        assert_eq!(
            check(&request(Method::POST, &form)).unwrap_err().status,
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
