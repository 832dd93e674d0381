//! Stripe's error JSON: `{"error": {"type", "code"?, "message", "param"?, "decline_code"?}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub struct StripeError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
    pub decline_code: Option<&'static str>,
}

impl StripeError {
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: Some("parameter_invalid"),
            message: message.into(),
            param: Some(param.into()),
            decline_code: None,
        }
    }

    pub fn missing_param(param: &str) -> Self {
        Self {
            code: Some("parameter_missing"),
            ..Self::invalid(param, format!("Missing required param: {param}."))
        }
    }

    pub fn unknown_param(param: &str) -> Self {
        Self {
            code: Some("parameter_unknown"),
            ..Self::invalid(param, format!("Received unknown parameter: {param}"))
        }
    }

    /// `resource_missing` for an object a request parameter refers to: a 400, as Stripe answers
    /// ("(Status 400) No such price: 'x'").
    pub fn no_such_ref(kind: &str, id: &str, param: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            ..Self::no_such(kind, id, param)
        }
    }

    /// `resource_missing` for the object the path names: a 404.
    pub fn no_such(kind: &str, id: &str, param: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: Some("resource_missing"),
            message: format!("No such {kind}: '{id}'"),
            param: Some(param.into()),
            decline_code: None,
        }
    }

    pub fn unknown_route(method: &str, path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: None,
            message: format!("Unrecognized request URL ({method}: {path}). The Stripe emulator does not serve this endpoint."),
            param: None,
            decline_code: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: None,
            decline_code: None,
        }
    }

    pub fn card_declined(decline_code: &'static str) -> Self {
        Self {
            status: StatusCode::PAYMENT_REQUIRED,
            kind: "card_error",
            code: Some("card_declined"),
            message: "Your card was declined.".into(),
            param: None,
            decline_code: Some(decline_code),
        }
    }

    pub fn idempotency_mismatch() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "idempotency_error",
            code: None,
            message: "Keys for idempotent requests can only be used with the same parameters they were first used with.".into(),
            param: None,
            decline_code: None,
        }
    }

    pub fn state(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: None,
            decline_code: None,
        }
    }

    pub fn injected(status: StatusCode) -> Self {
        Self {
            status,
            kind: "api_error",
            code: None,
            message: "Injected fault (emulator fault injection).".into(),
            param: None,
            decline_code: None,
        }
    }

    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({"type": self.kind, "message": self.message});
        if let Some(code) = self.code {
            error["code"] = json!(code);
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        if let Some(decline) = self.decline_code {
            error["decline_code"] = json!(decline);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
