//! Small HTTP helpers shared by the functions: path matching, JSON responses, and the
//! problem responses for routes a function does not serve.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::edge::problem::Problem;

/// The request path a function routes on, split into non-empty segments: without a named
/// API Gateway stage (`/prod/checkout` under stage `prod`) and without `base_path`, the API
/// mapping of a custom domain (`/billing/checkout` with `API_BASE_PATH=billing`), both of which
/// API Gateway leaves in the path. `/checkout/cs_123/` → `["checkout", "cs_123"]`.
pub fn path_segments<'r>(req: &'r Request, base_path: Option<&str>) -> Vec<&'r str> {
    let path = req.raw_http_path();
    let path = if path.is_empty() { req.uri().path() } else { path };
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let stage = match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.stage.as_deref(),
        Some(lambda_http::request::RequestContext::ApiGatewayV1(ctx)) => ctx.stage.as_deref(),
        _ => None,
    };
    if let Some(stage) = stage.filter(|s| *s != "$default")
        && segments.first() == Some(&stage)
    {
        segments.remove(0);
    }
    if let Some(base) = base_path {
        let base: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
        if !base.is_empty() && segments.starts_with(&base) {
            segments.drain(..base.len());
        }
    }
    segments
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

/// The request body parsed as `T`: `application/json`, at most `max` bytes. An empty body
/// reads as `{}`. Anything else is a 4xx problem naming the offending field where there is one
/// (an unknown field, a field of the wrong type); nothing about the body is echoed back beyond
/// the field's name.
///
/// `T` is a `Deserialize` struct with `#[serde(deny_unknown_fields)]` whose optional members are
/// `Option`s; the handler validates values (ranges, catalog membership) after.
pub fn json_body<T: serde::de::DeserializeOwned>(req: &Request, max: usize) -> Result<T, Problem> {
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
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
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
        bytes
    };
    // The body must be a JSON object before its members are read.
    match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(err) => {
            return Err(Problem::bad_request(
                "/errors/malformed-body",
                format!("the body is not valid JSON (line {}, column {})", err.line(), err.column()),
            ));
        }
        Ok(_) if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') => {
            return Err(Problem::bad_request("/errors/malformed-body", "the body must be a JSON object"));
        }
        Ok(_) => {}
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let inner = err.inner().to_string();
        let path = err.path().to_string();
        if let Some(unknown) = inner.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) {
            let unknown = truncate(unknown, 64);
            return Problem::bad_request("/errors/unknown-field", format!("unknown field `{unknown}`")).with_field(unknown);
        }
        if let Some(missing) = inner.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
            return Problem::bad_request("/errors/missing-field", format!("`{missing}` is required")).with_field(missing);
        }
        let field = truncate(path.split('.').next().unwrap_or_default(), 64);
        if field.is_empty() || field == "?" {
            return Problem::bad_request("/errors/malformed-body", "the body does not have the expected shape");
        }
        // serde's message quotes the rejected value before the last ", expected …": only what
        // follows it (our own type and variant names) is shown.
        let expected = inner
            .rsplit_once(", expected ")
            .map(|(_, rest)| rest.rsplit_once(" at line").map_or(rest, |(text, _)| text))
            .unwrap_or("another value");
        let expected = match expected {
            "u8" | "u16" | "u32" | "u64" | "i32" | "i64" => "a whole number",
            other => other,
        };
        Problem::bad_request("/errors/invalid-field", format!("`{field}` must be {expected}")).with_field(field)
    })
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

/// The client's `Idempotency-Key` header, if any (at most 200 visible ASCII characters): a
/// retried request with the same key (and body) gets the same result from Stripe.
pub fn client_key(req: &Request) -> Result<Option<String>, Problem> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= 200 && key.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(key.to_owned())),
        _ => Err(
            Problem::bad_request("/errors/invalid-header", "`Idempotency-Key` must be 1-200 visible ASCII characters")
                .with_field("Idempotency-Key"),
        ),
    }
}

/// A path segment with its `%XX` escapes decoded; `None` for a broken escape or bytes that are
/// not UTF-8.
pub fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {

    #[test]
    fn percent_decode_once_or_refuse() {
        assert_eq!(percent_decode("auth0%7C123").as_deref(), Some("auth0|123"));
        assert_eq!(percent_decode("user_1").as_deref(), Some("user_1"));
        assert_eq!(percent_decode("50%off"), None, "a broken escape");
        assert_eq!(percent_decode("%FF"), None, "not UTF-8");
    }

    use super::*;

    #[test]
    fn segments_ignore_empty_parts() {
        let req = lambda_http::http::Request::builder()
            .uri("https://x.test//checkout/cs_1/")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(path_segments(&req, None), vec!["checkout", "cs_1"]);
    }

    fn event(raw_path: &str, stage: &str) -> Request {
        let json = format!(
            r#"{{"version":"2.0","routeKey":"GET /plans","rawPath":"{raw_path}","rawQueryString":"","headers":{{}},
            "requestContext":{{"accountId":"1","apiId":"a","domainName":"api.example.com","domainPrefix":"api","http":{{"method":"GET","path":"{raw_path}","protocol":"HTTP/1.1","sourceIp":"1.1.1.1","userAgent":"t"}},
            "requestId":"r","routeKey":"GET /plans","stage":"{stage}","time":"t","timeEpoch":0}},"isBase64Encoded":false}}"#
        );
        lambda_http::request::from_str(&json).unwrap()
    }

    #[test]
    fn a_named_stage_and_a_custom_domain_mapping_are_stripped() {
        assert_eq!(path_segments(&event("/prod/plans", "prod"), None), vec!["plans"]);
        assert_eq!(path_segments(&event("/plans", "$default"), None), vec!["plans"]);
        assert_eq!(path_segments(&event("/billing/plans", "$default"), Some("billing")), vec!["plans"]);
        assert_eq!(
            path_segments(&event("/v1/billing/plans", "$default"), Some("/v1/billing/")),
            vec!["plans"]
        );
        assert_eq!(
            path_segments(&event("/prod/billing/plans", "prod"), Some("billing")),
            vec!["plans"],
            "both"
        );
        assert_eq!(
            path_segments(&event("/other/plans", "$default"), Some("billing")),
            vec!["other", "plans"],
            "only the configured prefix"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body1 {
        name: Option<String>,
        count: Option<u64>,
        required: String,
    }

    fn post(body: &str, content_type: Option<&str>) -> Request {
        let mut builder = lambda_http::http::Request::builder().method("POST").uri("/x");
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        builder.body(Body::Text(body.to_owned())).unwrap()
    }

    #[test]
    fn typed_bodies_name_the_field_at_fault() {
        let json = Some("application/json; charset=utf-8");
        let ok: Body1 = json_body(&post(r#"{"required": "r", "count": 3}"#, json), MAX_JSON_BODY).unwrap();
        assert_eq!((ok.name, ok.count, ok.required.as_str()), (None, Some(3), "r"));
        for (body, kind, field) in [
            (r#"{"required": "r", "surprise": 1}"#, "/errors/unknown-field", Some("surprise")),
            (r#"{"required": "r", "name": 7}"#, "/errors/invalid-field", Some("name")),
            (r#"{"required": "r", "count": 1.5}"#, "/errors/invalid-field", Some("count")),
            (r#"{"required": "r", "count": -2}"#, "/errors/invalid-field", Some("count")),
            (r#"{"count": 1}"#, "/errors/missing-field", Some("required")),
            (r#"[1]"#, "/errors/malformed-body", None),
            (r#"{"required": "#, "/errors/malformed-body", None),
        ] {
            let problem = json_body::<Body1>(&post(body, json), MAX_JSON_BODY).unwrap_err();
            assert_eq!(
                (problem.status, problem.kind, problem.field.as_deref()),
                (400, kind, field),
                "{body}"
            );
            assert!(
                !problem.detail.contains("1.5") && !problem.detail.contains('7'),
                "no value echoed: {}",
                problem.detail
            );
        }
        let problem = json_body::<Body1>(&post(r#"{"required": "r", "count": 1.5}"#, json), MAX_JSON_BODY).unwrap_err();
        assert_eq!(problem.detail, "`count` must be a whole number");
        let problem = json_body::<Body1>(&post("{}", Some("text/plain")), MAX_JSON_BODY).unwrap_err();
        assert_eq!(problem.status, 415);
        let problem = json_body::<Body1>(&post(&" ".repeat(MAX_JSON_BODY + 1), json), MAX_JSON_BODY).unwrap_err();
        assert_eq!(problem.status, 413);
        let empty = json_body::<Body1>(&post("", None), MAX_JSON_BODY).unwrap_err();
        assert_eq!(empty.field.as_deref(), Some("required"), "an empty body reads as {{}}");
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
        assert_eq!(response.headers()[header::CONTENT_TYPE], crate::edge::problem::PROBLEM_JSON);
    }
}
