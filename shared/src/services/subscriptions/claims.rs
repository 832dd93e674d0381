//! A client's `Idempotency-Key` for one request. It is claimed (in the table, for a day) before
//! the request's first Stripe call, so the same key with another request is refused
//! (`409 /errors/idempotency-key-reused`) and a retry of the same request repeats nothing in
//! Stripe. A request refused before it changed anything (no change asked, nothing to resume,
//! bad input judged on Stripe's state…) is *not* remembered: its claim is released, so its
//! retry is judged again and the key stays free for another request.

use crate::adapters::store::RequestKey;
use crate::adapters::stripe::idempotency_key;

use super::{SubscriptionError, Subscriptions};

/// The claim of one request's client key (none without a key).
pub struct Claim {
    id: String,
    fingerprint: String,
    /// What the key was to this request: `None` without a key.
    pub key: Option<RequestKey>,
}

impl Claim {
    /// Claims `client_key` for the request `fingerprint` (operation and body).
    pub async fn take(
        state: &Subscriptions<'_>,
        user: &str,
        client_key: Option<&str>,
        fingerprint: String,
    ) -> Result<Self, SubscriptionError> {
        let Some(key) = client_key else {
            return Ok(Self {
                id: String::new(),
                fingerprint,
                key: None,
            });
        };
        let id = idempotency_key("request", &[user, key]);
        match state.store.claim_request(&id, &fingerprint, state.clock.now()).await? {
            RequestKey::Mismatch => Err(SubscriptionError::KeyReused),
            other => Ok(Self {
                id,
                fingerprint,
                key: Some(other),
            }),
        }
    }

    /// Whether this request repeats one that was claimed before and not refused (its first
    /// attempt may have taken effect).
    pub fn retry(&self) -> bool {
        self.key == Some(RequestKey::Retry)
    }

    /// After the request: a first claim whose request was refused before it changed anything
    /// is released. A release that fails is logged; the claim then expires after its day.
    pub async fn settle<T>(&self, state: &Subscriptions<'_>, result: &Result<T, SubscriptionError>) {
        if self.key == Some(RequestKey::New)
            && let Err(err) = result
            && err.is_refusal()
            && let Err(release) = state.store.release_request(&self.id, &self.fingerprint).await
        {
            tracing::warn!(error = %crate::adapters::cause_chain(&release), "a refused request's idempotency key was not released");
        }
    }
}
