//! Stripe calls the functions make, with the project's rules applied in one place:
//!
//! - every create call carries an idempotency key derived from the request, so a retried
//!   request creates nothing twice;
//! - transient failures (429, 5xx, connection errors, timeouts) are retried with exponential
//!   backoff under the SAME idempotency key;
//! - errors are classified into [`GatewayError`] so handlers map them to HTTP without ever
//!   echoing Stripe's message (which can carry other objects' ids) to the client.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
use stripe::StripeError;
use stripe_client_core::{IdempotencyKey, RequestStrategy, StripeRequest};
use tokio::sync::RwLock;

/// Attempts per call (1 + retries).
pub const ATTEMPTS: u32 = 3;
/// First backoff; doubles per attempt.
pub const BACKOFF: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
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
    /// Still failing after the retries: Stripe or the network is unavailable.
    #[error("stripe {operation} unavailable after {ATTEMPTS} attempts")]
    Unavailable {
        operation: &'static str,
        #[source]
        source: StripeError,
    },
    /// The catalog names a price Stripe does not know.
    #[error("stripe has no price with lookup key `{0}`")]
    UnknownPrice(String),
}

impl GatewayError {
    fn classify(operation: &'static str, what: &'static str, err: StripeError) -> Self {
        match err {
            StripeError::Stripe(_, 404) => GatewayError::NotFound { what },
            StripeError::Stripe(api, 402) => GatewayError::Card {
                decline_code: api.decline_code.clone(),
            },
            StripeError::Stripe(api, status) if (400..500).contains(&status) && status != 429 => GatewayError::Rejected {
                operation,
                status,
                code: api.code.as_ref().map(|c| c.to_string()),
                param: api.param.clone(),
                message: api.message.clone().unwrap_or_default(),
            },
            other => GatewayError::Unavailable { operation, source: other },
        }
    }
}

/// Whether a failed attempt is worth repeating.
pub fn is_transient(err: &StripeError) -> bool {
    match err {
        StripeError::Stripe(_, status) => *status == 429 || *status >= 500,
        StripeError::ClientError(_) | StripeError::Timeout | StripeError::JSONDeserialize(_) => true,
        StripeError::ConfigError(_) => false,
    }
}

/// `prefix-<hex sha256 of the parts>`, at most 255 bytes (Stripe's limit).
pub fn idempotency_key(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    format!("{prefix}-{}", hex::encode(hasher.finalize()))
}

/// Runs `call` up to [`ATTEMPTS`] times with exponential backoff while it fails transiently.
/// `call` receives the request strategy to use: the same idempotency key on every attempt
/// when `key` is given.
pub async fn with_retries<T, F, Fut>(operation: &'static str, what: &'static str, key: Option<&str>, call: F) -> Result<T, GatewayError>
where
    F: Fn(RequestStrategy) -> Fut,
    Fut: std::future::Future<Output = Result<T, StripeError>>,
{
    let strategy = || match key {
        Some(key) => IdempotencyKey::new(key)
            .map(RequestStrategy::Idempotent)
            .unwrap_or(RequestStrategy::Once),
        None => RequestStrategy::Once,
    };
    let mut wait = BACKOFF;
    let mut attempt = 1;
    loop {
        match call(strategy()).await {
            Ok(value) => return Ok(value),
            Err(err) if attempt < ATTEMPTS && is_transient(&err) => {
                tracing::warn!(operation, attempt, error = %err, "transient stripe failure; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            Err(err) => return Err(GatewayError::classify(operation, what, err)),
        }
    }
}

/// Price ids by lookup key, resolved through Stripe once per process and cached.
#[derive(Debug, Default)]
pub struct PriceCache {
    by_lookup_key: RwLock<HashMap<String, String>>,
}

impl PriceCache {
    pub async fn resolve(&self, client: &stripe::Client, lookup_key: &str) -> Result<String, GatewayError> {
        if let Some(id) = self.by_lookup_key.read().await.get(lookup_key) {
            return Ok(id.clone());
        }
        let keys = vec![lookup_key.to_owned()];
        let list = with_retries("list_prices", "price", None, |strategy| {
            stripe_product::price::ListPrice::new()
                .lookup_keys(keys.clone())
                .active(true)
                .customize()
                .request_strategy(strategy)
                .send(client)
        })
        .await?;
        let id = list
            .data
            .into_iter()
            .next()
            .map(|p| p.id.to_string())
            .ok_or_else(|| GatewayError::UnknownPrice(lookup_key.to_owned()))?;
        self.by_lookup_key.write().await.insert(lookup_key.to_owned(), id.clone());
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_depend_on_every_part_and_their_boundaries() {
        let a = idempotency_key("checkout", &["u1", "pro", "month"]);
        assert_eq!(a, idempotency_key("checkout", &["u1", "pro", "month"]));
        assert_ne!(a, idempotency_key("checkout", &["u1", "pro", "year"]));
        assert_ne!(idempotency_key("k", &["ab", "c"]), idempotency_key("k", &["a", "bc"]));
        assert!(a.starts_with("checkout-") && a.len() < 255);
    }

    #[test]
    fn transient_errors_are_429_5xx_and_transport() {
        assert!(is_transient(&StripeError::Timeout));
        assert!(is_transient(&StripeError::ClientError("reset".into())));
        assert!(!is_transient(&StripeError::ConfigError("bad".into())));
    }
}
