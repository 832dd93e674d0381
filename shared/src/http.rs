//! Small HTTP helpers shared by the functions: path matching, JSON responses, and the
//! problem responses for routes a function does not serve.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::problem::Problem;

/// The request path without the API Gateway stage, split into non-empty segments.
/// `/checkout/cs_123/` → `["checkout", "cs_123"]`.
pub fn path_segments(req: &Request) -> Vec<&str> {
    let path = req.raw_http_path();
    let path = if path.is_empty() { req.uri().path() } else { path };
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => {
            let mut response = Response::new(Body::Text(body));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "response serialization failed");
            Problem::internal().into_response()
        }
    }
}

/// 404 for a path this function does not serve.
pub fn not_found(req: &Request) -> Response<Body> {
    Problem::not_found(format!("no route for {} {}", req.method(), req.uri().path())).into_response()
}

/// 405 for a known path with a method it does not accept; `allow` lists the accepted ones.
pub fn method_not_allowed(req: &Request, allow: &[Method]) -> Response<Body> {
    let mut response = Problem::method_not_allowed(req.method().as_str(), req.uri().path()).into_response();
    let allow = allow.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_ignore_empty_parts() {
        let req = lambda_http::http::Request::builder()
            .uri("https://x.test//checkout/cs_1/")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(path_segments(&req), vec!["checkout", "cs_1"]);
    }

    #[test]
    fn method_not_allowed_lists_allowed_methods() {
        let req = lambda_http::http::Request::builder()
            .method("DELETE")
            .uri("/plans")
            .body(Body::Empty)
            .unwrap();
        let response = method_not_allowed(&req, &[Method::GET]);
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET");
        assert_eq!(response.headers()[header::CONTENT_TYPE], crate::problem::PROBLEM_JSON);
    }
}
