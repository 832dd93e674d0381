//! The Stripe port: every Stripe call the project makes, in project types, with the project's
//! rules applied in one place.
//!
//! - Requests are built with async-stripe's typed request builders and sent through the
//!   process's pooled [`HttpClient`]; answers (and their list pages) are read as JSON through the
//!   domain's private wire shapes into the domain's types ([`crate::domain::objects`]), the same
//!   reading the webhook applies to event payloads.
//! - Every create call carries an idempotency key derived from the request (the caller's
//!   business: it knows what makes two requests the same), so a retried request creates
//!   nothing twice.
//! - Transient failures (429, 5xx, connection errors, timeouts) are retried with exponential
//!   backoff under the SAME idempotency key.
//! - Errors are classified into [`GatewayError`], which handlers map to HTTP without ever
//!   echoing Stripe's message (which can carry other objects' ids) to the client.

mod billing;
mod checkout;
mod client;
mod customers;
mod errors;
mod events;
mod meters;
mod payments;
mod portal;
mod prices;
mod retention;
mod retry;
mod subscriptions;

use std::time::Duration;

use serde_json::Value;
use stripe_client_core::{RequestBuilder, StripeRequest};

pub use self::billing::{InvoicePage, ItemChange, MeteredChange, PhasePlan, SubscriptionUpdate};
pub use self::checkout::{CheckoutMode, CustomPrice, NewCheckoutSession, Payer};
pub use self::client::{Answer, ApiErrorBody, CallError, HttpClient, Json, STRIPE_API, STRIPE_TIMEOUT};
pub use self::customers::CustomerPage;
pub use self::errors::GatewayError;
pub use self::events::EventPage;
pub use self::portal::{NewPortalSession, PortalFlow};
use self::prices::PriceBook;
pub use self::prices::{PriceInfo, PriceName};
use self::retry::with_attempts;
pub use self::retry::{ATTEMPTS, BACKOFF, idempotency_key};
use crate::config::Secret;
pub use crate::domain::invoices::Proration;

/// The Stripe port. One per process, built in `main` (see [`crate::app::AppState`]).
#[derive(Debug)]
pub struct Stripe {
    http: HttpClient,
    prices: PriceBook,
}

impl Stripe {
    /// The port for `base` (`None`: real Stripe) with `secret_key`; prices read from Stripe are
    /// trusted for `price_ttl`.
    pub fn new(base: Option<&str>, secret_key: &Secret, price_ttl: Duration) -> Result<Self, CallError> {
        Ok(Self {
            http: HttpClient::new(base, secret_key)?,
            prices: PriceBook::new(price_ttl),
        })
    }

    /// The same port acting on behalf of a connected account (`Stripe-Account`), sharing the
    /// connection pool.
    pub fn for_account(&self, account: &str) -> Result<Self, GatewayError> {
        let http = self.http.with_account(account).map_err(|source| GatewayError::Unavailable {
            operation: "for_account",
            source,
        })?;
        Ok(Self {
            http,
            prices: PriceBook::new(self.prices.ttl),
        })
    }

    /// The pooled client, for typed async-stripe requests the port does not wrap.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    async fn json(
        &self,
        operation: &'static str,
        what: &'static str,
        request: RequestBuilder,
        key: Option<&str>,
    ) -> Result<Value, GatewayError> {
        self.answer(operation, what, request, key).await.map(|answer| answer.value)
    }

    async fn answer(
        &self,
        operation: &'static str,
        what: &'static str,
        request: RequestBuilder,
        key: Option<&str>,
    ) -> Result<Json, GatewayError> {
        self.answer_within(ATTEMPTS, operation, what, request, key).await
    }

    async fn answer_within(
        &self,
        attempts: u32,
        operation: &'static str,
        what: &'static str,
        request: RequestBuilder,
        key: Option<&str>,
    ) -> Result<Json, GatewayError> {
        let request = &request;
        with_attempts(attempts, operation, what, key, |key| async move {
            self.http.send_json(request, key.as_deref()).await
        })
        .await
    }

    /// Opens the pooled connection (one cheap read), so the first request of a process does not
    /// pay for the TLS handshake. Any answer from Stripe counts.
    pub async fn warm_up(&self) -> Result<(), CallError> {
        let request = stripe_product::price::ListPrice::new().limit(1).build();
        match self.http.send(&request, None, None).await {
            Ok(_) | Err(CallError::Api { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
