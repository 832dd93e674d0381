//! RFC 9457 `application/problem+json` bodies and the one place that turns errors into HTTP
//! responses.
//!
//! Every function defines its own error enum and implements [`ApiError`] for it: that impl is
//! the single mapping from failure to status code. [`respond`] then renders either the success
//! response or the problem, and logs internal failures with their whole cause chain while the
//! client only sees a generic body.
//!
//! The errors of the layers below map here once ([`From`] impls): a function's own mapping
//! delegates to them for the store, the Stripe port and the gate.

use std::error::Error as StdError;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::adapters::store::StoreError;
use crate::adapters::stripe::GatewayError;
use crate::services::gate::GateError;
use crate::services::usage::UsageError;

/// Content type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem+json document. `type` is a stable, relative URI-ish code such as
/// `/errors/unknown-plan` that clients can match on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Name of the offending request field, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds after which a retry makes sense (also sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u32>,
    /// Extension members (RFC 9457 §3.2), e.g. a link to the portal.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            title,
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            retry_after: None,
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds the name of the request field the problem is about.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_extension(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(name.to_owned(), value.into());
        self
    }

    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "/errors/not-found", "Not found", detail)
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "/errors/method-not-allowed",
            "Method not allowed",
            format!("{method} is not allowed on {path}"),
        )
    }

    pub fn bad_request(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, "Bad request", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "/errors/unauthorized", "Unauthorized", detail)
    }

    /// The generic body for our own faults: no internals, ever.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "/errors/internal",
            "Internal error",
            "The request could not be completed. It is safe to retry.",
        )
    }

    pub fn unavailable(retry_after: u32) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "/errors/unavailable",
            "Service unavailable",
            "A backing service is unavailable. Retry later.",
        )
        .with_retry_after(retry_after)
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::to_string(&self).unwrap_or_else(|_| String::from("{}"));
        let mut response = Response::new(Body::Text(body));
        *response.status_mut() = self.status_code();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl Problem {
    /// `502 /errors/payment-provider`: Stripe refused or answered something unreadable; the
    /// detail is only in the log.
    pub fn payment_provider() -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "/errors/payment-provider",
            "Payment provider error",
            "the payment provider refused the request; it has been logged",
        )
    }
}

/// The store: unreachable or throttled is a 503 worth retrying; a corrupt item is our fault.
impl From<&StoreError> for Problem {
    fn from(err: &StoreError) -> Self {
        match err {
            StoreError::Backend { .. } | StoreError::Conflict => Problem::unavailable(2),
            StoreError::Corrupt { .. } | StoreError::Serialize(_) => Problem::internal(),
        }
    }
}

/// The Stripe port. `NotFound` is a 502 here: a handler for which "no such object" means
/// something to the caller (a 404) matches it before delegating.
impl From<&GatewayError> for Problem {
    fn from(err: &GatewayError) -> Self {
        match err {
            GatewayError::Unavailable { .. } => Problem::unavailable(5),
            GatewayError::Card { .. } => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "/errors/card-declined",
                "Card declined",
                "the payment method was declined",
            ),
            GatewayError::IdempotencyReused { .. } => Problem::new(
                StatusCode::CONFLICT,
                "/errors/idempotency-key-reused",
                "Idempotency key reused",
                "this `Idempotency-Key` was used for a different request; use a new key",
            )
            .with_field("Idempotency-Key"),
            GatewayError::NotConfigured => Problem::internal(),
            GatewayError::NotFound { .. }
            | GatewayError::Rejected { .. }
            | GatewayError::Unreadable { .. }
            | GatewayError::UnknownPrice(_) => Problem::payment_provider(),
        }
    }
}

/// The gate: 400 for a malformed key, 403 with the reason when denied, 503 when the store is
/// down (never "allowed" by accident).
impl From<&GateError> for Problem {
    fn from(err: &GateError) -> Self {
        match err {
            GateError::InvalidFeature => {
                Problem::bad_request("/errors/invalid-feature", "feature keys match [a-z0-9_.:-]{1,100}").with_field("feature")
            }
            GateError::Denied(decision) => Problem::new(
                StatusCode::FORBIDDEN,
                "/errors/feature-denied",
                "Feature not available",
                "your plan does not include this feature",
            )
            .with_extension("reason", decision.reason.as_str()),
            GateError::Unavailable(_) => Problem::unavailable(2),
        }
    }
}

/// Usage records: 400 for bad input, 403 when the plan does not count the feature, 429 with
/// `limit`, `used` and `resets_at` when the record would pass the limit (or the metered
/// ceiling), 409 for a reused key or a subscription that ended,
/// 503 when the store is down (never counted twice: the client retries with its key).
impl From<&UsageError> for Problem {
    fn from(err: &UsageError) -> Self {
        match err {
            UsageError::InvalidFeature => {
                Problem::bad_request("/errors/invalid-feature", "feature keys match [a-z0-9_.:-]{1,100}").with_field("feature")
            }
            UsageError::InvalidQuantity => Problem::bad_request(
                "/errors/invalid-quantity",
                format!(
                    "`quantity` must be a whole number from 1 to {}",
                    crate::services::usage::MAX_QUANTITY
                ),
            )
            .with_field("quantity"),
            UsageError::NotInPlan { .. } => Problem::new(
                StatusCode::FORBIDDEN,
                "/errors/not-in-plan",
                "Not in plan",
                "your plan does not count this feature",
            )
            .with_field("feature"),
            UsageError::OverLimit { limit, used, resets_at } => {
                let wait = (*resets_at - crate::domain::clock::now_epoch()).clamp(1, u32::MAX as i64) as u32;
                Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "/errors/usage-limit",
                    "Usage limit reached",
                    "this would pass your plan's limit for the period; nothing was recorded",
                )
                .with_extension("limit", *limit)
                .with_extension("used", *used)
                .with_extension("resets_at", *resets_at)
                .with_retry_after(wait)
            }
            UsageError::OverCeiling {
                ceiling,
                metered,
                resets_at,
            } => {
                let wait = (*resets_at - crate::domain::clock::now_epoch()).clamp(1, u32::MAX as i64) as u32;
                Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "/errors/usage-ceiling",
                    "Metered usage ceiling reached",
                    "this would bill more units this period than the plan's ceiling allows; nothing was recorded",
                )
                .with_extension("ceiling", *ceiling)
                .with_extension("metered", *metered)
                .with_extension("resets_at", *resets_at)
                .with_retry_after(wait)
            }
            UsageError::SubscriptionEnded => Problem::new(
                StatusCode::CONFLICT,
                "/errors/subscription-ended",
                "Subscription ended",
                "the subscription that would bill this usage has ended; nothing was recorded",
            ),
            UsageError::KeyReused => Problem::new(
                StatusCode::CONFLICT,
                "/errors/idempotency-key-reused",
                "Idempotency key reused",
                "this `Idempotency-Key` was used for a different record; use a new key",
            )
            .with_field("Idempotency-Key"),
            UsageError::Store(err) => err.into(),
        }
    }
}

/// A user past the rate of Stripe-calling requests: 429 with `Retry-After`; the store down: 503.
impl From<&crate::services::ratelimit::RateError> for Problem {
    fn from(err: &crate::services::ratelimit::RateError) -> Self {
        match err {
            crate::services::ratelimit::RateError::Limited { retry_after } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "/errors/rate-limited",
                "Too many requests",
                "too many billing requests from you in the last minute; retry after the time in Retry-After",
            )
            .with_retry_after(*retry_after),
            crate::services::ratelimit::RateError::Store(err) => err.into(),
        }
    }
}

/// How a function's error enum maps to HTTP: implement this once per function.
pub trait ApiError: StdError + Send + Sync + 'static {
    /// The problem the client sees.
    fn problem(&self) -> Problem;
}

/// Renders the outcome of a handler. Client errors are logged at `info` with their detail;
/// server errors at `error` with the full cause chain, while the client gets the generic body
/// the error's [`ApiError::problem`] chose.
pub fn respond<E: ApiError>(result: Result<Response<Body>, E>) -> Response<Body> {
    match result {
        Ok(response) => response,
        Err(err) => {
            let problem = err.problem();
            if problem.status >= 500 {
                tracing::error!(status = problem.status, kind = problem.kind, error = %cause_chain(&err), "request failed");
            } else {
                tracing::info!(status = problem.status, kind = problem.kind, detail = %problem.detail, "request rejected");
            }
            problem.into_response()
        }
    }
}

/// `outer: inner: innermost` for logs.
pub use crate::adapters::cause_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner secret-ish detail")]
    struct Inner;

    impl ApiError for Outer {
        fn problem(&self) -> Problem {
            Problem::internal()
        }
    }

    fn body_json(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).expect("json body")
    }

    #[test]
    fn problem_renders_rfc9457_fields_and_content_type() {
        let response = Problem::bad_request("/errors/unknown-plan", "no plan `gold`")
            .with_field("plan")
            .into_response();
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = body_json(&response);
        assert_eq!(body["type"], "/errors/unknown-plan");
        assert_eq!(body["title"], "Bad request");
        assert_eq!(body["status"], 400);
        assert_eq!(body["detail"], "no plan `gold`");
        assert_eq!(body["field"], "plan");
    }

    #[test]
    fn internal_errors_keep_their_cause_out_of_the_body() {
        let response = respond(Err::<Response<Body>, _>(Outer(Inner)));
        assert_eq!(response.status(), 500);
        let text = std::str::from_utf8(response.body().as_ref()).unwrap().to_owned();
        assert!(!text.contains("secret-ish"), "{text}");
        assert_eq!(cause_chain(&Outer(Inner)), "outer: inner secret-ish detail");
    }

    #[test]
    fn unavailable_sets_retry_after() {
        let response = Problem::unavailable(2).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
