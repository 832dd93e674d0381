//! Subscriptions: list, cancel, resume and change a user's subscription, and read its invoices.
//! The subscription function maps HTTP to one call of [`Subscriptions`] and its answer back.
//!
//! A cancel, resume or change runs the same sequence:
//!
//! 1. **load** — the stored subscription the request means, verified to be the caller's
//!    (`target.rs`); bad input is refused here on the stored state, before any Stripe call;
//! 2. **limit** — the per-user rate of requests that call Stripe;
//! 3. **claim** — the client's `Idempotency-Key`, so the same key with another request is
//!    refused and a retry repeats nothing (`claims.rs`);
//! 4. **fetch** — Stripe's current state of the subscription: decisions are made on it, not on
//!    the table, which may lag behind a webhook;
//! 5. **resolve** — what a change means on that state: price, quantity, metered items, upgrade
//!    or downgrade in the subscription's currency (`change.rs`);
//! 6. **observe** — the stored state the write will be conditioned on ([`Engine::observe`]);
//! 7. **release and change** — the Stripe calls, each under its idempotency key (a schedule's
//!    pending change released first; a cancel now bills what is owed first: `cancel.rs`);
//! 8. **record and refresh** — the subscription (and its schedule) read back from Stripe and
//!    written through the sync engine, then the entitlements after a change of plan.
//!
//! [`Engine::observe`]: crate::services::sync::Engine::observe

mod cancel;
mod change;
mod claims;
mod errors;
mod flows;
mod retention;
mod target;
mod views;

use serde::Serialize;

use self::claims::Claim;
pub use self::errors::{Refusal, SubscriptionError};
pub use self::retention::{DiscountRequest, Discounted, PauseRequest};
pub use self::views::{InvoicesView, PreviewView, ScheduledChangeView, SubscriptionView, subscriptions};
use crate::adapters::stripe::{GatewayError, InvoicePage, Proration};
use crate::domain::invoices::InvoicePreview;
use crate::domain::plans::{Interval, Plan};
use crate::services::context::Context;

/// When a change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    Now,
    PeriodEnd,
}

/// A cancel as the client asked for it (validated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelRequest {
    pub subscription: Option<String>,
    pub at_period_end: bool,
    pub feedback: Option<String>,
}

/// A resume as the client asked for it (validated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResumeRequest {
    pub subscription: Option<String>,
}

/// A change as the client asked for it (validated against the catalog; what does not depend on
/// the subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest<'a> {
    pub subscription: Option<String>,
    pub plan: Option<&'a Plan>,
    pub interval: Option<Interval>,
    pub quantity: Option<u64>,
    pub proration: Option<Proration>,
    pub when: When,
    pub preview: bool,
}

impl ChangeRequest<'_> {
    /// What the client's `Idempotency-Key` is pinned to.
    fn fingerprint(&self) -> String {
        #[derive(Serialize)]
        struct Pinned<'a> {
            subscription: Option<&'a str>,
            plan: Option<&'a str>,
            interval: Option<Interval>,
            quantity: Option<u64>,
            proration: Option<&'a str>,
            when: When,
        }
        fingerprint(
            "change",
            &Pinned {
                subscription: self.subscription.as_deref(),
                plan: self.plan.map(|p| p.id.as_str()),
                interval: self.interval,
                quantity: self.quantity,
                proration: self.proration.map(Proration::as_str),
                when: self.when,
            },
        )
    }
}

/// What a change answers: the subscription after it, or the preview of its invoice.
#[derive(Debug, Clone)]
pub enum Changed {
    Subscription(SubscriptionView),
    Preview(InvoicePreview),
}

/// `<operation>:<value as JSON>`: a stable fingerprint of a request or of the state it acts on
/// (serde's field order is the struct's; `Debug` output is no format to key money on).
pub(crate) fn fingerprint(operation: &str, value: &impl Serialize) -> String {
    // Plain structs of strings, numbers and options: serializing them cannot fail, and a
    // fallback shared by every request would make different requests look like retries.
    let json = serde_json::to_string(value).expect("a fingerprint's fields serialize");
    format!("{operation}:{json}")
}

/// The subscriptions service, over the process's parts (see
/// [`crate::app::AppState::subscriptions`]).
#[derive(Debug, Clone, Copy)]
pub struct Subscriptions<'a>(Context<'a>);

impl<'a> std::ops::Deref for Subscriptions<'a> {
    type Target = Context<'a>;

    fn deref(&self) -> &Context<'a> {
        &self.0
    }
}

impl<'a> Subscriptions<'a> {
    pub fn new(context: Context<'a>) -> Self {
        Self(context)
    }

    /// The user's subscriptions as stored: one Query, no Stripe call.
    pub async fn list(&self, user: &str) -> Result<Vec<SubscriptionView>, SubscriptionError> {
        let items = self.store.user_items(user).await?;
        Ok(subscriptions(&items, self.clock.now()))
    }

    /// Cancels at period end, or now (billing what is owed first).
    pub async fn cancel(
        &self,
        user: &str,
        request: &CancelRequest,
        client_key: Option<&str>,
    ) -> Result<SubscriptionView, SubscriptionError> {
        let (record, customer) = target::load(self, user, request.subscription.as_deref()).await?;
        self.rate_limiter().take(user).await?;
        let claim = Claim::take(self, user, client_key, fingerprint("cancel", request)).await?;
        let result = flows::cancel_claimed(
            self,
            user,
            record,
            customer,
            request.at_period_end,
            request.feedback.clone(),
            client_key,
            &claim,
        )
        .await;
        claim.settle(self, &result).await;
        result
    }

    /// Undoes a pending cancel or change; resumes a paused subscription.
    pub async fn resume(
        &self,
        user: &str,
        request: &ResumeRequest,
        client_key: Option<&str>,
    ) -> Result<SubscriptionView, SubscriptionError> {
        let (record, customer) = target::load(self, user, request.subscription.as_deref()).await?;
        self.rate_limiter().take(user).await?;
        let claim = Claim::take(self, user, client_key, fingerprint("resume", request)).await?;
        let result = flows::resume_claimed(self, user, record, customer, client_key, &claim).await;
        claim.settle(self, &result).await;
        result
    }

    /// Changes plan, interval or seats, now (prorated) or at the period end; or previews it.
    pub async fn change(&self, user: &str, request: &ChangeRequest<'_>, client_key: Option<&str>) -> Result<Changed, SubscriptionError> {
        let (record, customer) = target::load(self, user, request.subscription.as_deref()).await?;
        // Bad input is refused on the stored state, before any Stripe call.
        let current = change::stored_plan(self, &record);
        let (plan, _, quantity) = change::target_of(request, current, record.quantity)?;
        // Either side per seat: switching to another plan with fewer seats credits them too.
        let per_seat = crate::domain::plans::has_per_seat(plan) || current.is_some_and(|(p, _)| crate::domain::plans::has_per_seat(p));
        if per_seat && quantity < record.quantity && request.when == When::Now {
            // Raise the seats, use the quota of many, lower them with a credit: not with us.
            return Err(SubscriptionError::PerSeatDecrease);
        }
        if !request.preview && quantity < record.quantity {
            self.seats_fit(user, quantity).await?;
        }
        self.rate_limiter().take(user).await?;
        let claim = if request.preview {
            Claim::take(self, user, None, String::new()).await?
        } else {
            Claim::take(self, user, client_key, request.fingerprint()).await?
        };
        let result = flows::change_claimed(self, user, record, customer, request, client_key, &claim).await;
        claim.settle(self, &result).await;
        result
    }

    /// For an organization lowering its quantity: refused while more seats are held than
    /// `quantity`; otherwise the held slots above it move down first, so that no member's seat
    /// stops counting. (A seat assigned meanwhile above the new quantity grants nothing once the
    /// new quantity is stored: [`crate::domain::seats`].)
    async fn seats_fit(&self, user: &str, quantity: u64) -> Result<(), SubscriptionError> {
        let Some(org) = crate::domain::billable::Billable::of(user).org_id() else {
            return Ok(());
        };
        let slots = self.store.slots(org).await?;
        let Some(moves) = crate::domain::seats::compaction(&slots, quantity) else {
            return Err(SubscriptionError::SeatsAssigned {
                assigned: slots.len() as u64,
                quantity,
            });
        };
        for (from, to) in moves {
            let held = slots.iter().find(|s| s.slot == from).ok_or(SubscriptionError::ChangedMeanwhile)?;
            if !self.store.move_slot(org, held, to).await? {
                return Err(SubscriptionError::ChangedMeanwhile);
            }
        }
        Ok(())
    }

    /// The user's invoices from Stripe, newest first; none without a customer. A cursor that
    /// is not one of this customer's invoices is refused.
    pub async fn invoices(&self, user: &str, limit: u8, starting_after: Option<&str>) -> Result<InvoicePage, SubscriptionError> {
        self.rate_limiter().take(user).await?;
        let items = self.store.user_items(user).await?;
        let Some(customer) = items.customer.map(|c| c.customer_id) else {
            return Ok(InvoicePage::default());
        };
        match self.stripe()?.list_invoices(&customer, limit, starting_after).await {
            Ok(page) => Ok(page),
            Err(err)
                if starting_after.is_some() && (err.is_missing_param("starting_after") || matches!(err, GatewayError::NotFound { .. })) =>
            {
                Err(target::invalid(
                    "/errors/invalid-field",
                    "starting_after",
                    "`starting_after` is not one of your invoices",
                ))
            }
            Err(err) => Err(err.into()),
        }
    }
}
