//! Retries and idempotency keys: transient failures (429, 5xx, connection errors, timeouts) are
//! retried with exponential backoff; a retry replays the request under the same idempotency key
//! unless Stripe answered a 5xx.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::client::CallError;
use super::errors::GatewayError;

/// Attempts per call (1 + retries).
pub const ATTEMPTS: u32 = 3;
/// First backoff; doubles per attempt.
pub const BACKOFF: Duration = Duration::from_millis(200);

/// `prefix-<hex sha256 of the parts>`, at most 255 bytes (Stripe's limit).
pub fn idempotency_key(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    format!("{prefix}-{}", hex::encode(hasher.finalize()))
}

/// Runs `call` up to `attempts` times ([`ATTEMPTS`] but for display reads) with exponential
/// backoff while it fails transiently. `call` gets the idempotency key of its attempt: `key`
/// while nothing was answered (a timeout, a reset connection, 409, 429: the retry must replay a
/// request that may have taken effect), and a fresh key derived from it after a 5xx answer,
/// which Stripe keeps under the key for a day (a retry under the same key would only replay the
/// error).
pub(super) async fn with_attempts<T, F, Fut>(
    attempts: u32,
    operation: &'static str,
    what: &'static str,
    key: Option<&str>,
    call: F,
) -> Result<T, GatewayError>
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    let mut key = key.map(str::to_owned);
    let mut wait = BACKOFF;
    let mut attempt = 1;
    loop {
        match call(key.clone()).await {
            Ok(value) => return Ok(value),
            Err(err) if attempt < attempts && err.is_transient() => {
                tracing::warn!(operation, attempt, error = %err, "transient stripe failure; retrying");
                if matches!(err, CallError::Api { status, .. } if status >= 500) {
                    key = key.map(|k| format!("{k}-r{attempt}"));
                }
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            Err(err) => return Err(GatewayError::classify(operation, what, err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::stripe::{ApiErrorBody, STRIPE_TIMEOUT};

    #[test]
    fn idempotency_keys_depend_on_every_part_and_their_boundaries() {
        let a = idempotency_key("checkout", &["u1", "pro", "month"]);
        assert_eq!(a, idempotency_key("checkout", &["u1", "pro", "month"]));
        assert_ne!(a, idempotency_key("checkout", &["u1", "pro", "year"]));
        assert_ne!(idempotency_key("k", &["ab", "c"]), idempotency_key("k", &["a", "bc"]));
        assert!(a.starts_with("checkout-") && a.len() < 255);
    }

    #[test]
    fn errors_are_classified_for_handlers() {
        let api = |status, code: &str| CallError::Api {
            status,
            error: Box::new(ApiErrorBody {
                code: Some(code.into()),
                decline_code: Some("insufficient_funds".into()),
                ..Default::default()
            }),
        };
        assert!(matches!(
            GatewayError::classify("op", "price", api(404, "resource_missing")),
            GatewayError::NotFound { what: "price" }
        ));
        assert!(matches!(
            GatewayError::classify("op", "x", api(402, "card_declined")),
            GatewayError::Card { decline_code: Some(_) }
        ));
        assert!(matches!(
            GatewayError::classify("op", "x", api(400, "parameter_invalid")),
            GatewayError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            GatewayError::classify("op", "x", api(429, "rate_limit")),
            GatewayError::Unavailable { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_first_success_or_a_permanent_error() {
        let calls = std::sync::atomic::AtomicU32::new(0);
        let result = with_attempts(ATTEMPTS, "op", "x", None, |_| async {
            match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => Err(CallError::Timeout(STRIPE_TIMEOUT)),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!((result.unwrap(), calls.load(std::sync::atomic::Ordering::SeqCst)), (7, 2));
        let calls = std::sync::atomic::AtomicU32::new(0);
        let result: Result<(), _> = with_attempts(ATTEMPTS, "op", "x", None, |_| async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(CallError::Api {
                status: 400,
                error: Box::default(),
            })
        })
        .await;
        assert!(matches!(result, Err(GatewayError::Rejected { .. })));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1, "a 400 is not retried");
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_keeps_its_key_unless_stripe_answered_a_5xx() {
        let keys = std::sync::Mutex::new(Vec::new());
        let result: Result<(), _> = with_attempts(ATTEMPTS, "op", "x", Some("k"), |key| {
            let n = {
                let mut keys = keys.lock().unwrap();
                keys.push(key);
                keys.len()
            };
            async move {
                Err(match n {
                    1 => CallError::Timeout(STRIPE_TIMEOUT),
                    _ => CallError::Api {
                        status: 500,
                        error: Box::default(),
                    },
                })
            }
        })
        .await;
        assert!(matches!(result, Err(GatewayError::Unavailable { .. })));
        let keys = keys.into_inner().unwrap();
        assert_eq!(keys, vec![Some("k".to_owned()), Some("k".to_owned()), Some("k-r2".to_owned())]);
    }
}
