//! What a caller's requests leave in the table: the claims of client `Idempotency-Key`s, and the
//! per-user rate of requests that call Stripe.
//!
//! - [`Store::claim_request`]: the first request a key is used for wins, conditionally.
//!   [`Store::release_request`] forgets a claim whose request was refused, so a retry is judged
//!   again and the key stays free for another request.
//! - [`Store::take_rate`]: ONE conditional UpdateItem counts a request against the caller's
//!   allowance for the current minute; past it, nothing is written and the caller waits for the
//!   next minute.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Condition, RequestKey, Store, StoreError, backend, key};
use crate::domain::records::{RequestClaim, keys};

/// The outcome of [`Store::take_rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateTaken {
    /// Counted; within the allowance.
    Yes,
    /// The allowance of this minute is used up: nothing counted; retry after this many seconds.
    Exhausted { retry_after: u32 },
}

/// Rate counters live this long after their minute (readers never need them again).
const RATE_TTL_SECS: i64 = 120;

impl Store {
    /// Claims a client's idempotency key (`id`: a hash of user and key) for the request with
    /// `fingerprint`: the first claim wins, conditionally; an expired claim counts as none.
    pub async fn claim_request(&self, id: &str, fingerprint: &str, now: i64) -> Result<RequestKey, StoreError> {
        let claim = RequestClaim::new(id, fingerprint, now);
        for _ in 0..2 {
            let stored: Option<RequestClaim> = self.get_as(&claim.pk, &claim.sk).await?;
            match stored {
                Some(stored) if stored.expires_at > now => {
                    return Ok(if stored.fingerprint == fingerprint {
                        RequestKey::Retry
                    } else {
                        RequestKey::Mismatch
                    });
                }
                expired => {
                    let condition = match expired {
                        Some(old) => Condition::Equal(keys::FINGERPRINT, old.fingerprint),
                        None => Condition::Absent,
                    };
                    let item = self.put(&claim, condition)?;
                    match self.transact(vec![item]).await? {
                        None => return Ok(RequestKey::New),
                        // Claimed by a concurrent request meanwhile: read it.
                        Some(_) => continue,
                    }
                }
            }
        }
        Ok(RequestKey::Mismatch)
    }

    /// Forgets the claim of a request that was refused before it changed anything (only while
    /// the claim is still that request's): its retry is judged again, and the key may serve
    /// another request.
    pub async fn release_request(&self, id: &str, fingerprint: &str) -> Result<(), StoreError> {
        let claim = RequestClaim::new(id, fingerprint, 0);
        let delete = self.delete(&claim.pk, &claim.sk, Condition::Equal(keys::FINGERPRINT, fingerprint.to_owned()))?;
        // A failed condition: the claim is another request's (or gone); nothing to forget.
        self.transact(vec![delete]).await.map(|_| ())
    }

    /// Counts one request of `subject` in the minute holding `now`, if fewer than `limit` were
    /// counted in it: ONE conditional UpdateItem.
    pub async fn take_rate(&self, subject: &str, limit: u32, now: i64) -> Result<RateTaken, StoreError> {
        let minute = now.div_euclid(60);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&keys::rate(subject), &minute.to_string())))
            .update_expression("ADD #n :one SET #exp = :exp")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", "count")
            .expression_attribute_names("#exp", keys::TTL)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(((minute + 1) * 60 + RATE_TTL_SECS).to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(RateTaken::Yes),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => {
                Ok(RateTaken::Exhausted {
                    retry_after: u32::try_from((minute + 1) * 60 - now).unwrap_or(60).max(1),
                })
            }
            Err(err) => Err(backend("update_item")(err)),
        }
    }
}
