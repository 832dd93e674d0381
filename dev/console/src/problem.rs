//! The console's own errors, as the API answers its own: `application/problem+json` with
//! `type`, `title`, `status`, `detail` and `field`, so the page shows both the same way.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A problem the console answers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: &'static str,
    pub title: &'static str,
    pub status: StatusCode,
    pub detail: String,
    pub field: Option<&'static str>,
}

impl Problem {
    /// Bad input from the page: a 400 naming the field.
    pub fn invalid(field: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: "/errors/invalid-field",
            title: "Invalid field",
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
            field: Some(field),
        }
    }

    /// No usable bearer token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self {
            kind: "/errors/unauthorized",
            title: "Unauthorized",
            status: StatusCode::UNAUTHORIZED,
            detail: detail.into(),
            field: None,
        }
    }

    /// A request the console refuses to serve (a foreign page or host).
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self {
            kind: "/errors/forbidden",
            title: "Forbidden",
            status: StatusCode::FORBIDDEN,
            detail: detail.into(),
            field: None,
        }
    }

    /// Not something the console serves.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self {
            kind: "/errors/not-found",
            title: "Not found",
            status: StatusCode::NOT_FOUND,
            detail: detail.into(),
            field: None,
        }
    }

    /// A body that is not JSON.
    pub fn unsupported(detail: impl Into<String>) -> Self {
        Self {
            kind: "/errors/unsupported-media-type",
            title: "Unsupported media type",
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            detail: detail.into(),
            field: None,
        }
    }

    /// A part of the local stack did not answer (or not as expected); the cause is logged.
    pub fn unavailable(part: &str, cause: &dyn std::error::Error) -> Self {
        tracing::error!(part, error = %billing::edge::problem::cause_chain(cause), "local stack unavailable");
        Self {
            kind: "/errors/service-unavailable",
            title: "Service unavailable",
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: format!("The {part} did not answer. Is ./dev/run.sh running?"),
            field: None,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": self.kind,
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some(field) = self.field {
            body["field"] = field.into();
        }
        (self.status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response()
    }
}
