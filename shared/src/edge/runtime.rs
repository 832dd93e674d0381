//! The Lambda entry of every HTTP function. Raw events are read as JSON first, so that:
//!
//! - what lambda_http cannot take is refused with a 400 problem before any handler runs, and
//!   writes nothing: a body flagged base64 that does not decode (`/errors/malformed-body`), a
//!   header whose name or value is not a valid HTTP header, such as a value with control
//!   characters (`/errors/invalid-header`). lambda_http would otherwise panic on the first and
//!   fail the whole invocation on the second; a handler that read such a body as empty could
//!   act on a request nobody sent.
//! - functions that accept them tell a direct invocation (Lambda Invoke with a JSON payload of
//!   their own, authorized by IAM) apart from an API Gateway event ([`run_with_direct`]).
//!   An API Gateway event always carries `requestContext`; nothing a caller of the HTTP API
//!   sends can make an event look like a direct invocation, since the request is always
//!   wrapped in API Gateway's event.

use std::convert::Infallible;
use std::future::Future;

use futures_util::future::{BoxFuture, Either, Ready, ready};
use lambda_http::http::{HeaderName, HeaderValue};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, LambdaEvent, Request, Response, Service};
use serde_json::Value;

use crate::edge::problem::Problem;

/// The marker the guard sets on a request it refuses (`base64` or `header`), read by
/// [`refusal`]. Any incoming header of this name is removed first, so only the guard sets it.
pub const REFUSED_HEADER: &str = "x-stripe-lambda-refused";

/// What a raw invocation payload is.
pub enum Incoming {
    /// An API Gateway (or ALB) event, made safe for lambda_http.
    Http(Box<LambdaRequest>),
    /// Any other JSON payload: a direct invocation.
    Direct(Value),
}

/// Whether `value` is an event of API Gateway (REST or HTTP API) or an ALB.
pub fn is_http_event(value: &Value) -> bool {
    value.get("requestContext").is_some_and(Value::is_object)
}

/// Reads a raw payload: API Gateway events are sanitized ([`sanitize`]) and parsed.
pub fn classify(mut value: Value) -> Result<Incoming, serde_json::Error> {
    if !is_http_event(&value) {
        return Ok(Incoming::Direct(value));
    }
    sanitize(&mut value);
    Ok(Incoming::Http(Box::new(serde_json::from_value(value)?)))
}

/// Parses an API Gateway event the way [`run`] does (tests, tools).
pub fn request_from_value(value: Value) -> Result<Request, serde_json::Error> {
    match classify(value)? {
        Incoming::Http(event) => Ok((*event).into()),
        Incoming::Direct(_) => Err(serde::de::Error::custom("not an API Gateway event (no requestContext)")),
    }
}

/// [`request_from_value`] of JSON text.
pub fn request_from_json(text: &str) -> Result<Request, serde_json::Error> {
    request_from_value(serde_json::from_str(text)?)
}

/// Removes what lambda_http cannot parse from an API Gateway event and marks the event with
/// [`REFUSED_HEADER`]: headers with an invalid name or value (`header`), a base64 body that
/// does not decode (`base64`; the body is emptied).
pub fn sanitize(event: &mut Value) {
    use base64::Engine;
    let mut refused: Option<&'static str> = None;
    for field in ["headers", "multiValueHeaders"] {
        let Some(headers) = event.get_mut(field).and_then(Value::as_object_mut) else {
            continue;
        };
        headers.retain(|name, value| {
            if name.eq_ignore_ascii_case(REFUSED_HEADER) {
                return false;
            }
            let valid_value = |v: &Value| match v {
                Value::String(text) => HeaderValue::from_bytes(text.as_bytes()).is_ok(),
                Value::Null => true,
                _ => false,
            };
            let valid = HeaderName::from_bytes(name.as_bytes()).is_ok()
                && match value {
                    Value::Array(values) => values.iter().all(valid_value),
                    other => valid_value(other),
                };
            if !valid {
                refused = Some("header");
            }
            valid
        });
    }
    let encoded = event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true);
    let undecodable = event
        .get("body")
        .and_then(Value::as_str)
        .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_err());
    if encoded && undecodable {
        event["body"] = Value::Null;
        event["isBase64Encoded"] = Value::Bool(false);
        refused = refused.or(Some("base64"));
    }
    if let Some(reason) = refused {
        let headers = event
            .as_object_mut()
            .map(|o| o.entry("headers").or_insert_with(|| Value::Object(Default::default())));
        if let Some(Value::Object(headers)) = headers {
            headers.insert(REFUSED_HEADER.into(), Value::String(reason.into()));
        }
    }
}

/// The 400 answer to a request the guard marked, if it did.
pub fn refusal(req: &Request) -> Option<Response<Body>> {
    let reason = req.headers().get(REFUSED_HEADER)?;
    let problem = if reason.as_bytes() == b"base64" {
        Problem::bad_request("/errors/malformed-body", "the body is flagged base64 but does not decode")
    } else {
        Problem::bad_request(
            "/errors/invalid-header",
            "a header name or value is not valid HTTP (control characters, say); nothing was done",
        )
    };
    Some(problem.into_response())
}

/// `handler` behind the guard: a marked request gets its 400, the rest reach the handler.
pub fn guarded<F, Fut>(mut handler: F) -> impl FnMut(Request) -> Either<Ready<Result<Response<Body>, Infallible>>, Fut>
where
    F: FnMut(Request) -> Fut,
{
    move |req: Request| match refusal(&req) {
        Some(response) => Either::Left(ready(Ok(response))),
        None => Either::Right(handler(req)),
    }
}

/// Runs a Lambda HTTP function behind the guard (see the module docs).
pub async fn run<'a, F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: FnMut(Request) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send + 'a,
{
    serve(handler, None::<fn(Value) -> Ready<Result<Value, lambda_http::Error>>>).await
}

/// [`run`] for a function that also takes direct invocations: a payload that is not an API
/// Gateway event goes to `direct`, whose answer is the invocation's result.
pub async fn run_with_direct<'a, F, Fut, D, DFut>(handler: F, direct: D) -> Result<(), lambda_http::Error>
where
    F: FnMut(Request) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send + 'a,
    D: FnMut(Value) -> DFut + Send + 'a,
    DFut: Future<Output = Value> + Send + 'a,
{
    let mut direct = direct;
    serve(
        handler,
        Some(move |value| {
            let call = direct(value);
            async move { Ok::<_, lambda_http::Error>(call.await) }
        }),
    )
    .await
}

/// [`run_with_direct`] for direct invocations that may fail: an `Err` fails the invocation,
/// so that its invoker retries (EventBridge delivering an event, say).
pub async fn run_with_fallible_direct<'a, F, Fut, D, DFut>(handler: F, direct: D) -> Result<(), lambda_http::Error>
where
    F: FnMut(Request) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send + 'a,
    D: FnMut(Value) -> DFut + Send + 'a,
    DFut: Future<Output = Result<Value, lambda_http::Error>> + Send + 'a,
{
    serve(handler, Some(direct)).await
}

async fn serve<'a, F, Fut, D, DFut>(handler: F, mut direct: Option<D>) -> Result<(), lambda_http::Error>
where
    F: FnMut(Request) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send + 'a,
    D: FnMut(Value) -> DFut + Send + 'a,
    DFut: Future<Output = Result<Value, lambda_http::Error>> + Send + 'a,
{
    let mut adapter = lambda_http::Adapter::from(lambda_http::service_fn(guarded(handler)));
    let service = lambda_http::service_fn(move |event: LambdaEvent<Value>| {
        let LambdaEvent { payload, context } = event;
        let answer: BoxFuture<'a, Result<Value, lambda_http::Error>> = match classify(payload) {
            Ok(Incoming::Http(request)) => {
                let call = adapter.call(LambdaEvent {
                    payload: *request,
                    context,
                });
                Box::pin(async move {
                    let response = call.await.unwrap_or_else(|never: Infallible| match never {});
                    Ok(serde_json::to_value(response)?)
                })
            }
            Ok(Incoming::Direct(value)) => match direct.as_mut() {
                Some(direct) => {
                    let call = direct(value);
                    Box::pin(call)
                }
                None => Box::pin(ready(
                    Err("this function is invoked by API Gateway only (no requestContext)".into()),
                )),
            },
            Err(err) => Box::pin(ready(Err(lambda_http::Error::from(format!("unreadable API Gateway event: {err}"))))),
        };
        answer
    });
    lambda_http::lambda_runtime::run(service).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(edit: impl FnOnce(&mut Value)) -> Value {
        let mut event = serde_json::json!({
            "version": "2.0", "routeKey": "POST /subscription/cancel", "rawPath": "/subscription/cancel", "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {"accountId": "1", "apiId": "a", "domainName": "x", "domainPrefix": "x",
                "http": {"method": "POST", "path": "/subscription/cancel", "protocol": "HTTP/1.1", "sourceIp": "1.1.1.1", "userAgent": "t"},
                "requestId": "r", "routeKey": "POST /subscription/cancel", "stage": "$default", "time": "t", "timeEpoch": 0},
            "body": "{}", "isBase64Encoded": false
        });
        edit(&mut event);
        event
    }

    /// The problem type the guard answers for `event`, if it refuses it.
    fn refused(event: Value) -> Option<String> {
        let req = request_from_value(event).expect("parses after sanitizing");
        let response = refusal(&req)?;
        assert_eq!(response.status(), 400);
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        Some(body["type"].as_str().unwrap().to_owned())
    }

    #[test]
    fn undecodable_base64_and_invalid_headers_are_refused_before_any_handler() {
        assert!(refused(event(|_| {})).is_none());
        let bad_base64 = event(|e| {
            e["isBase64Encoded"] = true.into();
            e["body"] = "not base64 at all!".into();
        });
        assert_eq!(refused(bad_base64).as_deref(), Some("/errors/malformed-body"));
        let good_base64 = event(|e| {
            e["isBase64Encoded"] = true.into();
            e["body"] = "e30=".into();
        });
        assert!(refused(good_base64).is_none());
        // lambda_http alone fails the invocation on this header.
        let control = event(|e| e["headers"]["idempotency-key"] = "a\u{1}b".into());
        assert!(lambda_http::request::from_str(&control.to_string()).is_err());
        assert_eq!(refused(control).as_deref(), Some("/errors/invalid-header"));
        // A caller cannot set the marker itself.
        let forged = event(|e| e["headers"][REFUSED_HEADER] = "base64".into());
        assert!(refused(forged).is_none());
    }

    #[test]
    fn direct_invocations_are_told_apart_from_api_gateway_events() {
        assert!(matches!(classify(event(|_| {})).unwrap(), Incoming::Http(_)));
        let direct = serde_json::json!({"user_id": "u1", "feature": "api_calls", "quantity": 1});
        assert!(matches!(classify(direct).unwrap(), Incoming::Direct(_)));
        // A body that looks like a direct payload is still an HTTP request.
        let wrapped = event(|e| e["body"] = r#"{"user_id": "u1", "feature": "api_calls", "quantity": 1}"#.into());
        assert!(matches!(classify(wrapped).unwrap(), Incoming::Http(_)));
    }
}
