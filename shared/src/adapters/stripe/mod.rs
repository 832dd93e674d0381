//! The Stripe port: every Stripe call the project makes, in project types, with the project's
//! rules applied in one place.
//!
//! - Requests are built with async-stripe's typed request builders and sent through the
//!   process's pooled [`HttpClient`]; answers are read as JSON into the domain's types
//!   ([`crate::domain::objects`]), the same reading the webhook applies to event payloads.
//! - Every create call carries an idempotency key derived from the request (the caller's
//!   business: it knows what makes two requests the same), so a retried request creates
//!   nothing twice.
//! - Transient failures (429, 5xx, connection errors, timeouts) are retried with exponential
//!   backoff under the SAME idempotency key.
//! - Errors are classified into [`GatewayError`], which handlers map to HTTP without ever
//!   echoing Stripe's message (which can carry other objects' ids) to the client.

mod billing;
mod client;
mod meters;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use stripe_billing::billing_portal_session::{
    CreateBillingPortalSession, CreateBillingPortalSessionFlowData, CreateBillingPortalSessionFlowDataSubscriptionCancel,
    CreateBillingPortalSessionFlowDataSubscriptionUpdate, CreateBillingPortalSessionFlowDataType,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionAutomaticTax, CreateCheckoutSessionCustomerCreation, CreateCheckoutSessionCustomerUpdate,
    CreateCheckoutSessionCustomerUpdateAddress, CreateCheckoutSessionCustomerUpdateName, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionLineItemsPriceData, CreateCheckoutSessionLineItemsPriceDataRecurring,
    CreateCheckoutSessionLineItemsPriceDataRecurringInterval, CreateCheckoutSessionSubscriptionData, CreateCheckoutSessionTaxIdCollection,
    ProductData, RetrieveCheckoutSession,
};
use stripe_client_core::{RequestBuilder, StripeRequest};
use tokio::sync::RwLock;

pub use self::billing::{InvoicePage, ItemChange, MeteredChange, PhasePlan, SubscriptionUpdate};
pub use self::client::{Answer, ApiErrorBody, CallError, HttpClient, Json, STRIPE_API, STRIPE_TIMEOUT};
use crate::config::Secret;
use crate::domain::event::{self, Envelope};
pub use crate::domain::invoices::Proration;
use crate::domain::objects::{
    ChargeSnapshot, CheckoutSessionSnapshot, CustomerSnapshot, DisputeSnapshot, SubscriptionSnapshot, parse_charge, parse_checkout_session,
    parse_customer, parse_dispute, parse_subscription,
};

/// Attempts per call (1 + retries).
pub const ATTEMPTS: u32 = 3;
/// First backoff; doubles per attempt.
pub const BACKOFF: Duration = Duration::from_millis(200);

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
    #[error("stripe {operation} unavailable after {ATTEMPTS} attempts")]
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

    fn classify(operation: &'static str, what: &'static str, err: CallError) -> Self {
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
async fn with_attempts<T, F, Fut>(
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

/// How a Checkout Session is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutMode {
    Subscription,
    Payment,
}

/// Who pays a new Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payer {
    /// An existing Stripe customer.
    Customer(String),
    /// A new customer, prefilled with this email.
    Email(String),
    /// A new customer; Stripe asks for the email.
    Anonymous,
}

/// What a new Checkout Session asks Stripe for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckoutSession {
    pub mode: CheckoutMode,
    pub price: String,
    pub quantity: u64,
    pub payer: Payer,
    pub success_url: String,
    pub cancel_url: String,
    /// Set on the session, and on the subscription in subscription mode.
    pub metadata: Vec<(String, String)>,
    pub client_reference_id: Option<String>,
    pub trial_days: Option<u32>,
    pub allow_promotion_codes: bool,
    /// Metered prices of the plan (usage billed through Stripe meters), after the licensed one.
    pub metered_prices: Vec<String>,
    /// An amount the client chose within the catalog's bounds (`price_data`), instead of
    /// `price`.
    pub custom: Option<CustomPrice>,
    /// The currency to charge in, when the price offers several (`currency_options`).
    pub currency: Option<String>,
    pub collection: crate::config::Collection,
}

/// An inline price (`line_items[0][price_data]`) for a custom amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomPrice {
    pub currency: String,
    /// In the currency's minor unit.
    pub amount: i64,
    /// `day`, `week`, `month` or `year`; `None` for a one-time payment.
    pub interval: Option<&'static str>,
    /// The product's name and description (`product_data`).
    pub product_name: String,
    pub product_description: Option<String>,
    /// The catalog entry, as the product's metadata (`custom_amount`).
    pub entry: String,
}

/// A Billing Portal flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalFlow {
    PaymentMethodUpdate,
    /// Cancel this subscription.
    SubscriptionCancel(String),
    /// Update this subscription.
    SubscriptionUpdate(String),
}

/// What a new Billing Portal session asks Stripe for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPortalSession {
    pub customer: String,
    pub return_url: String,
    pub flow: Option<PortalFlow>,
}

/// One page of `GET /v1/events`, oldest first as far as the page goes (Stripe lists newest
/// first).
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<Envelope>,
    /// Ids of listed events that could not be read (skipped).
    pub malformed: Vec<String>,
    pub has_more: bool,
    /// The cursor for the next (older) page.
    pub last_id: Option<String>,
}

/// One page of `GET /v1/customers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerPage {
    pub customers: Vec<CustomerSnapshot>,
    pub has_more: bool,
}

/// A price as Stripe has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceInfo {
    pub id: String,
    pub lookup_key: Option<String>,
    /// In the currency's minor unit; `None` for prices without a fixed amount.
    pub unit_amount: Option<i64>,
    pub currency: String,
    /// `recurring.interval` (`day`, `week`, `month`, `year`); `None` for one-time prices.
    pub interval: Option<String>,
    /// The unit amount in each currency the price is sold in (`currency_options`, its own
    /// currency included).
    pub currency_options: std::collections::BTreeMap<String, i64>,
}

impl PriceInfo {
    /// What `quantity` of this price costs per day, in thousandths of the minor unit; `None`
    /// without a fixed amount or an interval.
    pub fn daily_cost(&self, quantity: u64) -> Option<i128> {
        self.daily_cost_in(&self.currency, quantity)
    }

    /// The unit amount in `currency`: the price's own, or one of its `currency_options`.
    pub fn amount_in(&self, currency: &str) -> Option<i64> {
        if currency == self.currency {
            self.unit_amount
        } else {
            self.currency_options.get(currency).copied()
        }
    }

    /// What `quantity` of this price costs per day in `currency` (the price's own, or one of its
    /// `currency_options`); `None` when the price has no amount in that currency.
    pub fn daily_cost_in(&self, currency: &str, quantity: u64) -> Option<i128> {
        let amount = self.amount_in(currency)?;
        let days: i128 = match self.interval.as_deref()? {
            "day" => 1,
            "week" => 7,
            "month" => 30,
            "year" => 365,
            _ => return None,
        };
        Some(i128::from(amount) * i128::from(quantity) * 1000 / days)
    }
}

/// Prices read from Stripe, by lookup key and by id, trusted for a while (`PRICE_CACHE_SECONDS`):
/// a lookup key moved to another price, or a price changed in Stripe, shows within that time.
/// Names Stripe does not know are remembered too (`None`), so a public page cannot make every
/// request ask again.
#[derive(Debug)]
struct PriceBook {
    ttl: Duration,
    /// Keyed `key:<lookup key>` or `id:<price id>`.
    entries: RwLock<HashMap<String, (Option<PriceInfo>, std::time::Instant)>>,
    /// Until when display reads ([`Stripe::display_prices`]) do not ask Stripe after a failure.
    quiet_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long display reads stop asking Stripe after a failed read.
const DISPLAY_BACKOFF: Duration = Duration::from_secs(30);

impl PriceBook {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
            quiet_until: std::sync::Mutex::new(None),
        }
    }

    fn quiet(&self) -> bool {
        let until = *self.quiet_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        until.is_some_and(|t| std::time::Instant::now() < t)
    }

    fn hush(&self) {
        *self.quiet_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::time::Instant::now() + DISPLAY_BACKOFF);
    }
}

/// Which price a catalog entry names: by id (wins) or by lookup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PriceName<'a> {
    Id(&'a str),
    LookupKey(&'a str),
}

impl<'a> PriceName<'a> {
    /// How a catalog price names its Stripe price: by id when it has one, else by lookup key.
    pub fn of(price: &'a crate::domain::plans::PriceRef) -> Option<Self> {
        match (&price.price, &price.lookup_key) {
            (Some(id), _) => Some(PriceName::Id(id)),
            (None, Some(key)) => Some(PriceName::LookupKey(key)),
            (None, None) => None,
        }
    }

    /// The key of this name in [`Stripe::prices`]' answer.
    pub fn key(&self) -> String {
        match self {
            PriceName::Id(id) => format!("id:{id}"),
            PriceName::LookupKey(key) => format!("key:{key}"),
        }
    }
}

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

    /// `POST /v1/checkout/sessions` under `idempotency_key`.
    pub async fn create_checkout_session(
        &self,
        new: &NewCheckoutSession,
        idempotency_key: &str,
    ) -> Result<CheckoutSessionSnapshot, GatewayError> {
        let mut line = CreateCheckoutSessionLineItems::new();
        line.quantity = Some(new.quantity);
        match &new.custom {
            None => line.price = Some(new.price.clone()),
            Some(custom) => {
                let currency = custom
                    .currency
                    .parse::<stripe_types::Currency>()
                    .map_err(|_| GatewayError::Unreadable {
                        operation: "create_checkout_session",
                        what: "currency",
                    })?;
                let mut product = ProductData::new(custom.product_name.clone());
                product.description = custom.product_description.clone();
                product.metadata = Some(HashMap::from([("custom_amount".to_owned(), custom.entry.clone())]));
                let mut data = CreateCheckoutSessionLineItemsPriceData::new(currency);
                data.product_data = Some(product);
                data.unit_amount = Some(custom.amount);
                data.recurring = match custom.interval {
                    None => None,
                    Some(interval) => Some(CreateCheckoutSessionLineItemsPriceDataRecurring::new(
                        interval
                            .parse::<CreateCheckoutSessionLineItemsPriceDataRecurringInterval>()
                            .map_err(|_| GatewayError::Unreadable {
                                operation: "create_checkout_session",
                                what: "interval",
                            })?,
                    )),
                };
                line.price_data = Some(data);
            }
        }
        let mut lines = vec![line];
        // Metered prices carry no quantity (Stripe refuses one): usage is reported to the meter.
        for price in &new.metered_prices {
            let mut metered = CreateCheckoutSessionLineItems::new();
            metered.price = Some(price.clone());
            lines.push(metered);
        }
        let mut request = CreateCheckoutSession::new()
            .line_items(lines)
            .metadata(new.metadata.iter().cloned().collect::<HashMap<_, _>>())
            .success_url(new.success_url.clone())
            .cancel_url(new.cancel_url.clone())
            .allow_promotion_codes(new.allow_promotion_codes);
        if let Some(reference) = &new.client_reference_id {
            request = request.client_reference_id(reference.clone());
        }
        if let Some(currency) = &new.currency {
            let currency = currency.parse::<stripe_types::Currency>().map_err(|_| GatewayError::Unreadable {
                operation: "create_checkout_session",
                what: "currency",
            })?;
            request = request.currency(currency);
        }
        let collection = &new.collection;
        if let Some(address) = collection.billing_address {
            request = request.billing_address_collection(match address {
                crate::config::AddressCollection::Auto => stripe_shared::CheckoutSessionBillingAddressCollection::Auto,
                crate::config::AddressCollection::Required => stripe_shared::CheckoutSessionBillingAddressCollection::Required,
            });
        }
        if collection.automatic_tax {
            request = request.automatic_tax(CreateCheckoutSessionAutomaticTax::new(true));
        }
        if matches!(new.payer, Payer::Customer(_)) && (collection.automatic_tax || collection.tax_id) {
            // A returning customer's address is what Stripe Tax computes from, and a tax ID needs
            // the business name saved on the customer (Stripe refuses tax ID collection for an
            // existing customer otherwise): Checkout saves what is entered.
            let mut update = CreateCheckoutSessionCustomerUpdate::new();
            update.address = Some(CreateCheckoutSessionCustomerUpdateAddress::Auto);
            if collection.tax_id {
                update.name = Some(CreateCheckoutSessionCustomerUpdateName::Auto);
            }
            request = request.customer_update(update);
        }
        if collection.tax_id {
            request = request.tax_id_collection(CreateCheckoutSessionTaxIdCollection::new(true));
        }
        request = match &new.payer {
            Payer::Customer(customer) => request.customer(customer.clone()),
            Payer::Email(email) => request.customer_email(email.clone()),
            Payer::Anonymous => request,
        };
        request = match new.mode {
            CheckoutMode::Subscription => {
                let mut data = CreateCheckoutSessionSubscriptionData::new();
                data.metadata = Some(new.metadata.iter().cloned().collect());
                data.trial_period_days = new.trial_days;
                request
                    .mode(stripe_shared::CheckoutSessionMode::Subscription)
                    .subscription_data(data)
            }
            CheckoutMode::Payment => {
                let request = request.mode(stripe_shared::CheckoutSessionMode::Payment);
                match new.payer {
                    Payer::Customer(_) => request,
                    _ => request.customer_creation(CreateCheckoutSessionCustomerCreation::Always),
                }
            }
        };
        let answer = self
            .answer("create_checkout_session", "price", request.build(), Some(idempotency_key))
            .await?;
        let session = parse_checkout_session(&answer.value).ok_or(GatewayError::Unreadable {
            operation: "create_checkout_session",
            what: "checkout session",
        })?;
        if answer.replayed {
            // A replay shows the session as it was created; it may be complete or expired now.
            return self.retrieve_checkout_session(&session.id).await;
        }
        Ok(session)
    }

    /// `GET /v1/checkout/sessions/{id}`.
    pub async fn retrieve_checkout_session(&self, id: &str) -> Result<CheckoutSessionSnapshot, GatewayError> {
        let value = self
            .json(
                "retrieve_checkout_session",
                "checkout session",
                RetrieveCheckoutSession::new(id).build(),
                None,
            )
            .await?;
        parse_checkout_session(&value).ok_or(GatewayError::Unreadable {
            operation: "retrieve_checkout_session",
            what: "checkout session",
        })
    }

    /// `POST /v1/billing_portal/sessions` under `idempotency_key`; the portal URL.
    pub async fn create_portal_session(&self, new: &NewPortalSession, idempotency_key: &str) -> Result<String, GatewayError> {
        let mut request = CreateBillingPortalSession::new()
            .customer(new.customer.clone())
            .return_url(new.return_url.clone());
        if let Some(flow) = &new.flow {
            let kind = match flow {
                PortalFlow::PaymentMethodUpdate => CreateBillingPortalSessionFlowDataType::PaymentMethodUpdate,
                PortalFlow::SubscriptionCancel(_) => CreateBillingPortalSessionFlowDataType::SubscriptionCancel,
                PortalFlow::SubscriptionUpdate(_) => CreateBillingPortalSessionFlowDataType::SubscriptionUpdate,
            };
            let mut data = CreateBillingPortalSessionFlowData::new(kind);
            match flow {
                PortalFlow::PaymentMethodUpdate => {}
                PortalFlow::SubscriptionCancel(sub) => {
                    data.subscription_cancel = Some(CreateBillingPortalSessionFlowDataSubscriptionCancel::new(sub.clone()))
                }
                PortalFlow::SubscriptionUpdate(sub) => {
                    data.subscription_update = Some(CreateBillingPortalSessionFlowDataSubscriptionUpdate::new(sub.clone()))
                }
            }
            request = request.flow_data(data);
        }
        let value = self
            .json("create_portal_session", "customer", request.build(), Some(idempotency_key))
            .await?;
        value
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(GatewayError::Unreadable {
                operation: "create_portal_session",
                what: "portal session",
            })
    }

    /// `GET /v1/subscriptions/{id}`; `None` when Stripe has no such subscription.
    pub async fn retrieve_subscription(&self, id: &str) -> Result<Option<SubscriptionSnapshot>, GatewayError> {
        let request = stripe_billing::subscription::RetrieveSubscription::new(id).build();
        match self.json("retrieve_subscription", "subscription", request, None).await {
            Ok(value) => parse_subscription(&value).map(Some).ok_or(GatewayError::Unreadable {
                operation: "retrieve_subscription",
                what: "subscription",
            }),
            Err(GatewayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The Checkout Session that made `payment_intent` (`GET /v1/checkout/sessions?payment_intent=`),
    /// if a session did.
    pub async fn checkout_session_of_payment(&self, payment_intent: &str) -> Result<Option<CheckoutSessionSnapshot>, GatewayError> {
        let request = stripe_checkout::checkout_session::ListCheckoutSession::new()
            .payment_intent(payment_intent)
            .limit(1)
            .build();
        let page = self.json("list_checkout_sessions", "payment intent", request, None).await?;
        page.pointer("/data/0")
            .map(|session| {
                parse_checkout_session(session).ok_or(GatewayError::Unreadable {
                    operation: "list_checkout_sessions",
                    what: "checkout session",
                })
            })
            .transpose()
    }

    /// `GET /v1/charges/{id}`.
    pub async fn retrieve_charge(&self, id: &str) -> Result<ChargeSnapshot, GatewayError> {
        let value = self
            .json(
                "retrieve_charge",
                "charge",
                stripe_core::charge::RetrieveCharge::new(id).build(),
                None,
            )
            .await?;
        parse_charge(&value).ok_or(GatewayError::Unreadable {
            operation: "retrieve_charge",
            what: "charge",
        })
    }

    /// The newest dispute of `charge` (`GET /v1/disputes?charge=`), if one was opened.
    pub async fn dispute_of_charge(&self, charge: &str) -> Result<Option<DisputeSnapshot>, GatewayError> {
        let request = stripe_core::dispute::ListDispute::new().charge(charge).limit(1).build();
        let page = self.json("list_disputes", "charge", request, None).await?;
        page.pointer("/data/0")
            .map(|dispute| {
                parse_dispute(dispute).ok_or(GatewayError::Unreadable {
                    operation: "list_disputes",
                    what: "dispute",
                })
            })
            .transpose()
    }

    /// `GET /v1/customers/{id}`; `None` when Stripe has no such customer.
    pub async fn retrieve_customer(&self, id: &str) -> Result<Option<CustomerSnapshot>, GatewayError> {
        let request = stripe_core::customer::RetrieveCustomer::new(id).build();
        match self.json("retrieve_customer", "customer", request, None).await {
            Ok(value) => parse_customer(&value).map(Some).ok_or(GatewayError::Unreadable {
                operation: "retrieve_customer",
                what: "customer",
            }),
            Err(GatewayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/customers` for `user_id` (`metadata.user_id`, and `email`) under
    /// `idempotency_key`.
    pub async fn create_customer(
        &self,
        user_id: &str,
        email: Option<&str>,
        idempotency_key: &str,
    ) -> Result<CustomerSnapshot, GatewayError> {
        let mut request =
            stripe_core::customer::CreateCustomer::new().metadata(HashMap::from([("user_id".to_owned(), user_id.to_owned())]));
        if let Some(email) = email {
            request = request.email(email.to_owned());
        }
        let value = self
            .json("create_customer", "customer", request.build(), Some(idempotency_key))
            .await?;
        parse_customer(&value).ok_or(GatewayError::Unreadable {
            operation: "create_customer",
            what: "customer",
        })
    }

    /// One page of `GET /v1/customers` (newest first), after the customer `starting_after`.
    pub async fn list_customers(&self, starting_after: Option<&str>, limit: u8) -> Result<CustomerPage, GatewayError> {
        let mut request = stripe_core::customer::ListCustomer::new().limit(i64::from(limit.clamp(1, 100)));
        if let Some(after) = starting_after {
            request = request.starting_after(after);
        }
        let page = self.json("list_customers", "customer", request.build(), None).await?;
        let unreadable = || GatewayError::Unreadable {
            operation: "list_customers",
            what: "customer list",
        };
        let data = page.get("data").and_then(Value::as_array).ok_or_else(unreadable)?;
        let customers = data
            .iter()
            .map(|c| parse_customer(c).ok_or_else(unreadable))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CustomerPage {
            customers,
            has_more: page.get("has_more").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// Every subscription of `customer`, of any status (`GET /v1/subscriptions?status=all`, all
    /// pages).
    pub async fn list_subscriptions(&self, customer: &str) -> Result<Vec<SubscriptionSnapshot>, GatewayError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let mut request = stripe_billing::subscription::ListSubscription::new()
                .customer(customer)
                .status(stripe_billing::subscription::ListSubscriptionStatus::All)
                .limit(100);
            if let Some(after) = &after {
                request = request.starting_after(after.as_str());
            }
            let page = self.json("list_subscriptions", "customer", request.build(), None).await?;
            let unreadable = || GatewayError::Unreadable {
                operation: "list_subscriptions",
                what: "subscription list",
            };
            let data = page.get("data").and_then(Value::as_array).ok_or_else(unreadable)?;
            for subscription in data {
                out.push(parse_subscription(subscription).ok_or_else(unreadable)?);
            }
            match (page.get("has_more").and_then(Value::as_bool), out.last()) {
                (Some(true), Some(last)) => after = Some(last.subscription_id.clone()),
                _ => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Every active entitlement's feature lookup key (`GET /v1/entitlements/active_entitlements`,
    /// all pages).
    pub async fn active_entitlements(&self, customer: &str) -> Result<Vec<String>, GatewayError> {
        let mut features = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let mut request = stripe_misc::entitlements_active_entitlement::ListEntitlementsActiveEntitlement::new(customer).limit(100);
            if let Some(after) = &after {
                request = request.starting_after(after.as_str());
            }
            let page = self.json("list_active_entitlements", "customer", request.build(), None).await?;
            let unreadable = GatewayError::Unreadable {
                operation: "list_active_entitlements",
                what: "entitlement list",
            };
            let data = page.get("data").and_then(Value::as_array).ok_or(unreadable)?;
            for entitlement in data {
                if let Some(key) = entitlement.get("lookup_key").and_then(Value::as_str) {
                    features.push(key.to_owned());
                }
            }
            let last = data.last().and_then(|e| e.get("id")).and_then(Value::as_str);
            match (page.get("has_more").and_then(Value::as_bool), last) {
                (Some(true), Some(last)) => after = Some(last.to_owned()),
                _ => return Ok(features),
            }
        }
        Ok(features)
    }

    /// One page of `GET /v1/events` of `types`, created after `created_after` (and up to
    /// `created_until`, when given), older than the event `starting_after`.
    pub async fn list_events(
        &self,
        types: &[&str],
        created_after: i64,
        created_until: Option<i64>,
        starting_after: Option<&str>,
        limit: u8,
    ) -> Result<EventPage, GatewayError> {
        let created = stripe_types::RangeQueryTs::Bounds(stripe_types::RangeBoundsTs {
            gt: Some(created_after),
            lte: created_until,
            ..Default::default()
        });
        let mut request = stripe_core::event::ListEvent::new()
            .types(types.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>())
            .created(created)
            .limit(i64::from(limit.clamp(1, 100)));
        if let Some(after) = starting_after {
            request = request.starting_after(after);
        }
        let page = self.json("list_events", "event", request.build(), None).await?;
        let unreadable = || GatewayError::Unreadable {
            operation: "list_events",
            what: "event",
        };
        let data = page.get("data").and_then(Value::as_array).ok_or_else(unreadable)?;
        // One unreadable event must not hide the page: it is counted and skipped, and the
        // cursor comes from the raw list.
        let mut events = Vec::with_capacity(data.len());
        let mut malformed = Vec::new();
        for raw in data {
            match event::parse_value(raw.clone()) {
                Ok(envelope) => events.push(envelope),
                Err(_) => malformed.push(raw.get("id").and_then(Value::as_str).unwrap_or("?").to_owned()),
            }
        }
        let last_id = data.last().and_then(|e| e.get("id")).and_then(Value::as_str).map(str::to_owned);
        events.reverse();
        Ok(EventPage {
            events,
            malformed,
            has_more: page.get("has_more").and_then(Value::as_bool).unwrap_or(false),
            last_id,
        })
    }

    /// The id of the active price with `lookup_key` (see [`Stripe::prices`]).
    pub async fn price_id(&self, lookup_key: &str) -> Result<String, GatewayError> {
        let name = PriceName::LookupKey(lookup_key);
        let mut found = self.prices(&[name]).await?;
        found
            .remove(&name.key())
            .map(|p| p.id)
            .ok_or_else(|| GatewayError::UnknownPrice(lookup_key.to_owned()))
    }

    /// The prices `names` refer to, as Stripe has them, keyed by [`PriceName`]'s key. Read from
    /// the price book while its entries are fresh; the rest in as few calls as Stripe allows
    /// (ten lookup keys per list). A name Stripe does not know is missing from the answer.
    pub async fn prices(&self, names: &[PriceName<'_>]) -> Result<HashMap<String, PriceInfo>, GatewayError> {
        self.prices_within(ATTEMPTS, names).await
    }

    /// The prices to show on a public page (`GET /plans`): one attempt per call, and after a
    /// failure Stripe is not asked again for [`DISPLAY_BACKOFF`]; meanwhile (and on the failure
    /// itself) the price book's last known prices are answered, however old. Anonymous traffic
    /// cannot make the service hammer Stripe or wait on its retries.
    pub async fn display_prices(&self, names: &[PriceName<'_>]) -> HashMap<String, PriceInfo> {
        if self.prices.quiet() {
            return self.remembered_prices(names).await;
        }
        match self.prices_within(1, names).await {
            Ok(prices) => prices,
            Err(err) => {
                self.prices.hush();
                tracing::warn!(error = %crate::adapters::cause_chain(&err), "prices unavailable from stripe; showing the last known for a while");
                self.remembered_prices(names).await
            }
        }
    }

    async fn prices_within(&self, attempts: u32, names: &[PriceName<'_>]) -> Result<HashMap<String, PriceInfo>, GatewayError> {
        let mut found = HashMap::new();
        let mut missing: Vec<PriceName<'_>> = Vec::new();
        {
            let entries = self.prices.entries.read().await;
            for name in names {
                match entries.get(&name.key()) {
                    Some((info, at)) if at.elapsed() < self.prices.ttl => {
                        if let Some(info) = info {
                            found.insert(name.key(), info.clone());
                        }
                    }
                    _ => missing.push(*name),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let mut fetched: HashMap<String, Option<PriceInfo>> = missing.iter().map(|n| (n.key(), None)).collect();
        let keys: Vec<&str> = missing
            .iter()
            .filter_map(|n| match n {
                PriceName::LookupKey(key) => Some(*key),
                PriceName::Id(_) => None,
            })
            .collect();
        for chunk in keys.chunks(10) {
            let request = stripe_product::price::ListPrice::new()
                .lookup_keys(chunk.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>())
                .active(true)
                .expand(vec!["data.currency_options".to_owned()])
                .limit(100)
                .build();
            let list = self.answer_within(attempts, "list_prices", "price", request, None).await?.value;
            for price in list.get("data").and_then(Value::as_array).into_iter().flatten() {
                if let Some(info) = parse_price(price)
                    && let Some(key) = chunk.iter().find(|k| info.lookup_key.as_deref() == Some(**k))
                {
                    fetched.insert(PriceName::LookupKey(key).key(), Some(info));
                }
            }
        }
        for name in &missing {
            if let PriceName::Id(id) = name {
                let request = stripe_product::price::RetrievePrice::new(*id)
                    .expand(vec!["currency_options".to_owned()])
                    .build();
                match self.answer_within(attempts, "retrieve_price", "price", request, None).await {
                    Ok(price) => {
                        fetched.insert(name.key(), parse_price(&price.value));
                    }
                    Err(GatewayError::NotFound { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        let now = std::time::Instant::now();
        let mut entries = self.prices.entries.write().await;
        for (key, info) in fetched {
            if let Some(info) = &info {
                found.insert(key.clone(), info.clone());
            }
            entries.insert(key, (info, now));
        }
        Ok(found)
    }

    /// What the price book holds for `names`, however old: the fallback when Stripe cannot be
    /// asked.
    pub async fn remembered_prices(&self, names: &[PriceName<'_>]) -> HashMap<String, PriceInfo> {
        let entries = self.prices.entries.read().await;
        names
            .iter()
            .filter_map(|name| match entries.get(&name.key()) {
                Some((Some(info), _)) => Some((name.key(), info.clone())),
                _ => None,
            })
            .collect()
    }
}

fn parse_price(value: &Value) -> Option<PriceInfo> {
    Some(PriceInfo {
        id: value.get("id")?.as_str()?.to_owned(),
        lookup_key: value.get("lookup_key").and_then(Value::as_str).map(str::to_owned),
        unit_amount: value.get("unit_amount").and_then(Value::as_i64),
        currency: value.get("currency")?.as_str()?.to_owned(),
        interval: value.pointer("/recurring/interval").and_then(Value::as_str).map(str::to_owned),
        currency_options: value
            .get("currency_options")
            .and_then(Value::as_object)
            .map(|options| {
                options
                    .iter()
                    .filter_map(|(currency, option)| Some((currency.clone(), option.get("unit_amount")?.as_i64()?)))
                    .collect()
            })
            .unwrap_or_default(),
    })
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
