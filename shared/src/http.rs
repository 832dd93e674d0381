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

/// Largest JSON request body the functions accept.
pub const MAX_JSON_BODY: usize = 16 * 1024;

/// The request body as a JSON object: `application/json`, at most `max` bytes, an object at the
/// top level. Anything else is a 4xx problem; nothing about the body is echoed back.
pub fn json_object(req: &Request, max: usize) -> Result<serde_json::Map<String, serde_json::Value>, Problem> {
    if req.headers().contains_key(INVALID_BASE64_HEADER) {
        return Err(Problem::bad_request(
            "/errors/malformed-body",
            "the body is flagged base64 but does not decode",
        ));
    }
    let bytes: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => return Err(Problem::bad_request("/errors/malformed-body", "the request body could not be read")),
    };
    if bytes.len() > max {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "/errors/body-too-large",
            "Payload too large",
            format!("the body may be at most {max} bytes"),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    let json_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| {
        v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/json")
    });
    if json_type != Some(true) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "/errors/unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        ));
    }
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(Problem::bad_request("/errors/malformed-body", "the body must be a JSON object")),
        Err(err) => Err(Problem::bad_request(
            "/errors/malformed-body",
            format!("the body is not valid JSON (line {}, column {})", err.line(), err.column()),
        )),
    }
}

/// Rejects members of `body` outside `known`, naming the first unknown one.
pub fn only_fields(body: &serde_json::Map<String, serde_json::Value>, known: &[&str]) -> Result<(), Problem> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(
            Problem::bad_request("/errors/unknown-field", format!("unknown field `{}`", truncate(unknown, 64)))
                .with_field(truncate(unknown, 64)),
        ),
        None => Ok(()),
    }
}

/// An optional string member; any other JSON type is a 400 naming the field.
pub fn optional_str<'a>(body: &'a serde_json::Map<String, serde_json::Value>, field: &str) -> Result<Option<&'a str>, Problem> {
    match body.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Problem::bad_request("/errors/invalid-field", format!("`{field}` must be a string")).with_field(field)),
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A redirect URL the caller supplied (or the configured default): absolute http(s) and on an
/// allowed origin, else a 400 naming `field`.
pub fn redirect_url(redirects: &crate::config::RedirectConfig, field: &str, value: Option<&str>) -> Result<url::Url, Problem> {
    let url = match value {
        Some(value) => url::Url::parse(value)
            .map_err(|_| Problem::bad_request("/errors/invalid-redirect", format!("`{field}` is not an absolute URL")).with_field(field))?,
        None => redirects.default_return_url.clone().ok_or_else(|| {
            Problem::bad_request(
                "/errors/invalid-redirect",
                format!("`{field}` is required (no default is configured)"),
            )
            .with_field(field)
        })?,
    };
    if value.is_some() && value.is_some_and(|v| v.len() > 2048) {
        return Err(
            Problem::bad_request("/errors/invalid-redirect", format!("`{field}` is longer than 2048 characters")).with_field(field),
        );
    }
    if !redirects.allows(&url) || !url.username().is_empty() || url.password().is_some() {
        return Err(
            Problem::bad_request("/errors/invalid-redirect", format!("`{field}` must point to an allowed origin")).with_field(field),
        );
    }
    Ok(url)
}

/// Header the base64 guard sets when API Gateway's body was flagged base64 but did not decode.
/// Any incoming header of this name is removed first, so only the guard can set it.
pub const INVALID_BASE64_HEADER: &str = "x-stripe-lambda-invalid-base64";

/// lambda_http panics on an undecodable base64 body before a handler runs. This guard, applied
/// to the raw event first, empties such a body and marks the request, so the handler can answer
/// 400 instead.
pub fn guard_base64(event: &mut lambda_http::request::LambdaRequest) {
    use base64::Engine;
    use lambda_http::request::LambdaRequest;
    let (body, encoded, headers) = match event {
        LambdaRequest::ApiGatewayV2(e) => (&mut e.body, &mut e.is_base64_encoded, &mut e.headers),
        LambdaRequest::ApiGatewayV1(e) => (&mut e.body, &mut e.is_base64_encoded, &mut e.headers),
        _ => return,
    };
    headers.remove(INVALID_BASE64_HEADER);
    if *encoded
        && body
            .as_deref()
            .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_err())
    {
        *body = None;
        *encoded = false;
        headers.insert(INVALID_BASE64_HEADER, HeaderValue::from_static("1"));
    }
}

/// Runs a Lambda HTTP handler like `lambda_http::run`, with [`guard_base64`] applied to every
/// raw event first: an undecodable base64 body reaches the handler as a marked, empty request
/// instead of panicking inside lambda_http.
pub async fn run<'a, F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: FnMut(Request) -> Fut + 'a,
    Fut: std::future::Future<Output = Result<Response<Body>, std::convert::Infallible>> + Send + 'a,
{
    use lambda_http::tower::ServiceExt;
    let adapter = lambda_http::Adapter::from(lambda_http::service_fn(handler));
    let service = adapter.map_request(|mut event: lambda_http::LambdaEvent<lambda_http::request::LambdaRequest>| {
        guard_base64(&mut event.payload);
        event
    });
    lambda_http::lambda_runtime::run(service).await
}

/// Parses an API Gateway event the way the runtime does, with [`guard_base64`] applied.
pub fn request_from_json(text: &str) -> Result<Request, serde_json::Error> {
    let mut event: lambda_http::request::LambdaRequest = serde_json::from_str(text)?;
    guard_base64(&mut event);
    Ok(event.into())
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
