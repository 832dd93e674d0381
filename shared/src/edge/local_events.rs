//! Local tooling: wrap a Stripe event payload in the API Gateway (HTTP API, payload 2.0) event
//! that `POST /webhook` receives, signed with a fresh timestamp. Used by `devtool sign-webhook`
//! (for `cargo lambda invoke`) and by the tests.

use serde_json::{Value, json};

/// The API Gateway event for `payload` with `Stripe-Signature: signature`. The body is the
/// payload text exactly as given (never re-serialized: the signature covers these bytes).
pub fn api_gateway_event(payload: &str, signature: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "POST /webhook",
        "rawPath": "/webhook",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json; charset=utf-8",
            "host": "api.example.com",
            "stripe-signature": signature,
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "api-id", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": "POST", "path": "/webhook", "protocol": "HTTP/1.1", "sourceIp": "54.187.174.169", "userAgent": "Stripe/1.0"},
            "requestId": "req-webhook", "routeKey": "POST /webhook", "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000", "timeEpoch": 1_795_428_000_000_i64
        },
        "body": payload,
        "isBase64Encoded": false
    })
}

/// [`api_gateway_event`] signed at `timestamp` with every secret.
pub fn signed_event(payload: &str, secrets: &[&str], timestamp: i64) -> Value {
    api_gateway_event(payload, &super::signature::sign_header(secrets, timestamp, payload.as_bytes()))
}
