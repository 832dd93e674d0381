//! [`GatewayError`]: how a Stripe call failed, classified for handlers (which map it to HTTP
//! without ever echoing Stripe's message, which can carry other objects' ids).

use super::client::CallError;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// This process has no Stripe key (a function that does not call Stripe).
    #[error("no stripe client is configured for this function")]
    NotConfigured,
    /// Stripe answered 404 `resource_missing`.
    #[error("stripe: no such {what}")]
    NotFound { what: &'static str },
    /// A card error (402).
    #[error("stripe: card declined ({decline_code:?})")]
    Card { decline_code: Option<String> },
    /// Stripe refused the request (4xx other than 404/429): our request or configuration is wrong.
    #[error("stripe refused {operation} with {status} ({code:?}, param {param:?}): {message}")]
    Rejected {
        operation: &'static str,
        status: u16,
        code: Option<String>,
        param: Option<String>,
        message: String,
    },
    /// An idempotency key was used before with other parameters (the client's `Idempotency-Key`
    /// reused for another request).
    #[error("stripe refused {operation}: idempotency key reused with other parameters")]
    IdempotencyReused { operation: &'static str },
    /// Still failing after the retries: Stripe or the network is unavailable.
    #[error("stripe {operation} unavailable after its retries")]
    Unavailable {
        operation: &'static str,
        #[source]
        source: CallError,
    },
    /// Stripe answered with something the service cannot read.
    #[error("stripe {operation} answered an unreadable {what}")]
    Unreadable { operation: &'static str, what: &'static str },
    /// The catalog names a price Stripe does not know.
    #[error("stripe has no price with lookup key `{0}`")]
    UnknownPrice(String),
}

impl GatewayError {
    /// Stripe could not find the object a request parameter named (`resource_missing` on
    /// `param`: a 400), e.g. a customer deleted in the Dashboard.
    pub fn is_missing_param(&self, param: &str) -> bool {
        matches!(self, GatewayError::Rejected { code: Some(code), param: Some(p), .. } if code == "resource_missing" && p == param)
    }

    pub(super) fn classify(operation: &'static str, what: &'static str, err: CallError) -> Self {
        match err {
            CallError::Api { status: 404, .. } => GatewayError::NotFound { what },
            CallError::Api { status: 402, error } => GatewayError::Card {
                decline_code: error.decline_code,
            },
            CallError::Api { status: 400, error } if error.kind.as_deref() == Some("idempotency_error") => {
                GatewayError::IdempotencyReused { operation }
            }
            CallError::Api { status, error } if (400..500).contains(&status) && status != 429 => GatewayError::Rejected {
                operation,
                status,
                code: error.code,
                param: error.param,
                message: error.message.unwrap_or_default(),
            },
            CallError::Decode(_) => GatewayError::Unreadable { operation, what },
            other => GatewayError::Unavailable { operation, source: other },
        }
    }
}
