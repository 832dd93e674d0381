//! Retention: pausing collection (`POST /subscription/pause`) and applying a promotion code to
//! a live subscription (`POST /subscription/discount`). Resuming is in `flows` (one resume lifts
//! a pause, a pending cancel and a pending change alike).
//!
//! - A pause sets Stripe's `pause_collection` with the deployment's `PAUSE_BEHAVIOR`; while it
//!   lasts the subscription grants `PAUSED_ACCESS` only ([`crate::domain::pause`]).
//! - A code is looked up by its code, checked ([`crate::domain::discounts`]), and applied with
//!   an idempotency key of the subscription and the code; the same code again changes nothing.

use serde::Serialize;

use super::claims::Claim;
use super::flows::{answer, changed, failed, step};
use super::target::{self, Keys};
use super::views::SubscriptionView;
use super::{Refusal, SubscriptionError, Subscriptions, fingerprint};
use crate::domain::discounts::{MAX_CODE_LEN, PromotionCode, Unusable, usable};
use crate::domain::status::SubscriptionStatus;

/// The longest pause that may be set ahead: one year.
pub const MAX_PAUSE_SECS: i64 = 366 * 86_400;

/// A pause as the client asked for it (validated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PauseRequest {
    pub subscription: Option<String>,
    /// When collection resumes by itself (unix seconds); `None`: until resumed.
    pub resumes_at: Option<i64>,
}

/// A promotion code to apply, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscountRequest {
    pub subscription: Option<String>,
    pub promotion_code: String,
}

/// What `POST /subscription/discount` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Discounted {
    pub subscription: SubscriptionView,
    pub promotion_code: PromotionCode,
    /// `false` when the code was applied already (nothing changed).
    pub applied: bool,
}

fn invalid_code(detail: impl std::fmt::Display) -> SubscriptionError {
    SubscriptionError::Invalid(Refusal {
        kind: "/errors/invalid-promotion-code",
        field: "promotion_code",
        detail: detail.to_string(),
    })
}

impl Subscriptions<'_> {
    /// Pauses collection of the caller's subscription (see the module docs).
    pub async fn pause(&self, user: &str, request: &PauseRequest, client_key: Option<&str>) -> Result<SubscriptionView, SubscriptionError> {
        let now = self.clock.now();
        if let Some(at) = request.resumes_at {
            if at <= now {
                return Err(target::invalid(
                    "/errors/invalid-field",
                    "resumes_at",
                    "`resumes_at` must be in the future",
                ));
            }
            if at > now + MAX_PAUSE_SECS {
                return Err(target::invalid(
                    "/errors/invalid-field",
                    "resumes_at",
                    "`resumes_at` may be at most one year ahead",
                ));
            }
        }
        let (record, customer) = target::load(self, user, request.subscription.as_deref()).await?;
        self.rate_limiter().take(user).await?;
        let claim = Claim::take(self, user, client_key, fingerprint("pause", request)).await?;
        let result = self.pause_claimed(user, record, customer, request, client_key, &claim).await;
        claim.settle(self, &result).await;
        result
    }

    async fn pause_claimed(
        &self,
        user: &str,
        record: crate::domain::records::SubscriptionRecord,
        customer: String,
        request: &PauseRequest,
        client_key: Option<&str>,
        claim: &Claim,
    ) -> Result<SubscriptionView, SubscriptionError> {
        let stripe = self.stripe()?;
        let target = target::fetch(stripe, record, customer).await?;
        target.require_open()?;
        let current = &target.current;
        match current.status {
            SubscriptionStatus::Active | SubscriptionStatus::Trialing => {}
            SubscriptionStatus::PastDue => return Err(SubscriptionError::PastDue),
            ref other => {
                return Err(SubscriptionError::NotPausable {
                    reason: format!("it is `{other}`"),
                });
            }
        }
        if target.ending() {
            return Err(SubscriptionError::CancelPending);
        }
        if !current.other_items.is_empty() {
            // The renewal bills the period's metered usage in arrears, and a paused renewal is
            // voided: the usage would never be billed.
            return Err(SubscriptionError::NotPausable {
                reason: "it bills metered usage at its renewal, which a paused renewal would void".into(),
            });
        }
        let behavior = self.config.subscription.pause_behavior;
        let same = current
            .pause
            .as_ref()
            .is_some_and(|p| p.behavior == behavior && p.resumes_at == request.resumes_at);
        if same && !claim.retry() {
            return changed(self, user, &target).await;
        }
        let engine = self.sync()?;
        if current.current_period_start != target.record.current_period_start {
            // The stored period is stale (a renewal's webhook not applied yet): Stripe's state
            // is stored first, so the pause is judged against the period it really pauses (a
            // paid renewal must not look begun while paused).
            let observed = engine.observe(user, target.id()).await?;
            target::record(&engine, stripe, observed, target.id(), false).await?;
        }
        let observed = engine.observe(user, target.id()).await?;
        let keys = Keys::new("pause", user, &target, client_key, &observed, &fingerprint("pause", request));
        let released = step(target::release_schedule(stripe, &target, &keys).await, claim.key)?.unwrap_or(true);
        let result = stripe
            .pause_collection(target.id(), behavior, request.resumes_at, &keys.step("pause"))
            .await
            .map_err(SubscriptionError::from);
        if let Err(err) = step(result, claim.key) {
            return Err(failed(&engine, stripe, observed, &target, released, err).await);
        }
        let now = target::record(&engine, stripe, observed, target.id(), released).await?;
        tracing::info!(user = %user, subscription = %target.id(), behavior, resumes_at = ?request.resumes_at, "collection paused");
        answer(self, user, &target, now)
    }

    /// Applies an active promotion code, looked up by its code, to the caller's subscription
    /// (see the module docs).
    pub async fn discount(&self, user: &str, request: &DiscountRequest, client_key: Option<&str>) -> Result<Discounted, SubscriptionError> {
        let code = request.promotion_code.trim();
        if code.is_empty() || code.len() > MAX_CODE_LEN || code.chars().any(char::is_control) {
            return Err(invalid_code("`promotion_code` must be a promotion code's code"));
        }
        let (record, customer) = target::load(self, user, request.subscription.as_deref()).await?;
        self.rate_limiter().take(user).await?;
        let claim = Claim::take(self, user, client_key, fingerprint("discount", request)).await?;
        let result = self.discount_claimed(user, record, customer, code, client_key, &claim).await;
        claim.settle(self, &result).await;
        result
    }

    async fn discount_claimed(
        &self,
        user: &str,
        record: crate::domain::records::SubscriptionRecord,
        customer: String,
        code: &str,
        client_key: Option<&str>,
        claim: &Claim,
    ) -> Result<Discounted, SubscriptionError> {
        let stripe = self.stripe()?;
        let promotion = stripe
            .find_promotion_code(code)
            .await?
            .ok_or_else(|| invalid_code(Unusable::Unknown))?;
        let target = target::fetch(stripe, record, customer).await?;
        target.require_open()?;
        let discounts = stripe
            .subscription_discounts(target.id())
            .await?
            .ok_or(SubscriptionError::NotFound)?;
        if discounts.promotion_codes.contains(&promotion.id) {
            // Applied before (this request's retry, or the same code again): nothing to do but
            // make sure the redemption is recorded (a first attempt may have lost it).
            let partition = crate::domain::records::keys::user(user);
            let redemption = crate::domain::discounts::Redemption::new(&partition, &promotion.id, target.id(), self.clock.now());
            self.store.claim_redemption(&redemption).await?;
            let subscription = changed(self, user, &target).await?;
            return Ok(Discounted {
                subscription,
                promotion_code: promotion,
                applied: false,
            });
        }
        usable(&promotion, &target.customer, self.clock.now()).map_err(invalid_code)?;
        if discounts.count > 0 {
            return Err(SubscriptionError::DiscountExists);
        }
        // Once per customer (Stripe removes a `once` code after its invoice; it must not come
        // back next period).
        let partition = crate::domain::records::keys::user(user);
        let redemption = crate::domain::discounts::Redemption::new(&partition, &promotion.id, target.id(), self.clock.now());
        if !claim.retry() && !self.store.claim_redemption(&redemption).await? {
            return Err(invalid_code(Unusable::Redeemed));
        }
        let engine = self.sync()?;
        let observed = engine.observe(user, target.id()).await?;
        let keys = Keys::new("discount", user, &target, client_key, &observed, &promotion.id);
        let result = stripe
            .apply_promotion_code(target.id(), &promotion.id, &keys.step("discount"))
            .await
            .map_err(|err| match err {
                // Stripe's own checks (a minimum amount, a product the coupon does not apply to).
                crate::adapters::stripe::GatewayError::Rejected { status: 400, .. } => {
                    invalid_code("this promotion code cannot be applied to this subscription")
                }
                other => SubscriptionError::from(other),
            });
        if let Err(err) = step(result, claim.key) {
            // Refused by Stripe: the code may be tried again. An unknown outcome (Stripe down,
            // a timeout) keeps the record: the code may have been applied.
            if matches!(err, SubscriptionError::Invalid(_))
                && let Err(release) = self.store.release_redemption(&redemption).await
            {
                tracing::warn!(error = %crate::adapters::cause_chain(&release), "a refused redemption stays recorded");
            }
            return Err(err);
        }
        let now = target::record(&engine, stripe, observed, target.id(), false).await?;
        tracing::info!(user = %user, subscription = %target.id(), promotion_code = %promotion.id, "promotion code applied");
        Ok(Discounted {
            subscription: answer(self, user, &target, now)?,
            promotion_code: promotion,
            applied: true,
        })
    }
}
