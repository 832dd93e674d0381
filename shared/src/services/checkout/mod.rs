//! Checkout: a Stripe Checkout Session for a catalog plan or a custom amount, and the eager sync
//! after the buyer returns. The checkout function maps HTTP to one call of [`Checkouts`].
//!
//! `POST /checkout` runs, in order:
//!
//! 1. **limit** — the per-user rate of requests that call Stripe;
//! 2. **prices** — the plan's licensed and metered prices by id (lookup keys resolved);
//! 3. **customer** — the user's Stripe customer, created and linked first when there is none,
//!    so every session of a user carries the same customer (`customer.rs`);
//! 4. **guard** — a live subscription to the plan (in the table or in Stripe) refuses a second
//!    one under the deployment's duplicate policy; the trial goes to first-time subscribers
//!    (`session.rs`);
//! 5. **session** — created under an idempotency key of the request's window; a replayed
//!    session that is no longer open is stepped past;
//! 6. **recovery** — a linked customer deleted in Stripe is unlinked through the sync engine
//!    (which asks Stripe first) and the user gets a new one, once.

mod customer;
mod errors;
mod session;

pub use self::errors::CheckoutError;
pub use self::session::{CHECKOUT_KEY_WINDOW_SECS, blocking_plan};
use crate::adapters::stripe::{GatewayError, NewCheckoutSession, Stripe};
use crate::domain::custom_amount::{AmountInterval, CustomAmount};
use crate::domain::objects::CheckoutSessionSnapshot;
use crate::domain::plans::{Interval, Plan};
use crate::domain::records::SubscriptionRecord;
use crate::services::context::Context;
use crate::services::sync::{Arrival, Outcome, SyncError};

/// Who is buying: the verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    /// The billable id: the user's, or the organization's ([`crate::domain::billable`]).
    pub user_id: String,
    /// Prefills the new customer's email (an organization's: the admin's).
    pub email: Option<String>,
    /// The new customer's name (an organization's `org_name` claim).
    pub name: Option<String>,
}

/// A validated checkout of a catalog plan.
#[derive(Debug)]
pub struct CheckoutInput<'a> {
    pub plan: &'a Plan,
    pub interval: Interval,
    pub quantity: u64,
    pub success_url: String,
    pub cancel_url: String,
    /// One of the currencies the plan's price offers (its default when `None`).
    pub currency: Option<String>,
}

/// A validated custom amount (`plan` names a `custom_amounts` entry).
#[derive(Debug)]
pub struct CustomInput<'a> {
    pub entry: &'a CustomAmount,
    pub amount: i64,
    pub currency: String,
    pub interval: AmountInterval,
    pub success_url: String,
    pub cancel_url: String,
}

/// What `POST /checkout` asks for: a catalog plan, or an amount of the client's choosing.
#[derive(Debug)]
pub enum Validated<'a> {
    Plan(CheckoutInput<'a>),
    Custom(CustomInput<'a>),
}

/// A session the buyer can pay: its id and the page to send them to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    pub url: String,
}

/// A session after the buyer's return, and the subscription it made (or the user's live one).
#[derive(Debug, Clone)]
pub struct Synced {
    pub session: CheckoutSessionSnapshot,
    pub subscription: Option<SubscriptionRecord>,
}

/// How many replayed sessions that are no longer open one request steps past.
const FRESH_KEY_STEPS: usize = 3;

/// The checkout service, over the process's parts (see [`crate::app::AppState::checkouts`]).
#[derive(Debug, Clone, Copy)]
pub struct Checkouts<'a>(Context<'a>);

impl<'a> std::ops::Deref for Checkouts<'a> {
    type Target = Context<'a>;

    fn deref(&self) -> &Context<'a> {
        &self.0
    }
}

impl<'a> Checkouts<'a> {
    pub fn new(context: Context<'a>) -> Self {
        Self(context)
    }

    /// A session for what was validated (every 4xx about the request itself is decided before
    /// this call, which writes).
    pub async fn create(&self, buyer: &Buyer, validated: &Validated<'_>, client_key: Option<&str>) -> Result<Created, CheckoutError> {
        self.rate_limiter().take(&buyer.user_id).await?;
        match validated {
            Validated::Plan(input) => self.create_plan(buyer, input, client_key).await,
            Validated::Custom(custom) => self.create_custom(buyer, custom, client_key).await,
        }
    }

    async fn create_plan(&self, buyer: &Buyer, input: &CheckoutInput<'_>, client_key: Option<&str>) -> Result<Created, CheckoutError> {
        let stripe = self.stripe()?;
        let items = self.store.user_items(&buyer.user_id).await?;
        let price = input.plan.price(input.interval).ok_or(CheckoutError::Incomplete("a price"))?;
        let price_id = match (&price.price, &price.lookup_key) {
            (Some(id), _) => id.clone(),
            (None, Some(key)) => stripe.price_id(key).await?,
            (None, None) => return Err(CheckoutError::Incomplete("a price reference")),
        };
        let mut metered_prices = Vec::new();
        for rule in input.plan.usage.values().filter(|r| r.meter.is_some()) {
            let price = rule
                .prices
                .get(&input.interval)
                .ok_or(CheckoutError::Incomplete("a metered price"))?;
            metered_prices.push(match (&price.price, &price.lookup_key) {
                (Some(id), _) => id.clone(),
                (None, Some(key)) => stripe.price_id(key).await?,
                (None, None) => return Err(CheckoutError::Incomplete("a metered price reference")),
            });
        }
        let offer = Offer {
            buyer,
            input,
            items: &items,
            price_id,
            metered_prices,
            client_key,
        };
        let mut linked = items.customer.as_ref().map(|c| c.customer_id.clone());
        let mut recovered = false;
        let created = loop {
            let customer = customer::ensure(self, stripe, buyer, linked.take()).await?;
            match offer.session(self, stripe, &customer).await {
                // The linked customer was deleted in Stripe (the webhook may be on its way):
                // unlink it through the engine, which asks Stripe first, then make the user a
                // new one. Once.
                Err(CheckoutError::Stripe(err)) if err.is_missing_param("customer") && !recovered => {
                    recovered = true;
                    let outcome = self
                        .sync()?
                        .apply(Arrival::Customer {
                            customer_id: customer.clone(),
                        })
                        .await?;
                    tracing::warn!(user = %buyer.user_id, %customer, outcome = outcome.as_str(), "the linked customer is missing in Stripe; unlinked");
                    if outcome != Outcome::Applied && outcome != Outcome::Duplicate {
                        return Err(err.into());
                    }
                }
                other => break other?,
            }
        };
        let url = created.url.clone().ok_or(CheckoutError::Incomplete("a url"))?;
        tracing::info!(user = %buyer.user_id, plan = %input.plan.id, interval = %input.interval, session = %created.id, "checkout session created");
        Ok(Created { id: created.id, url })
    }

    /// A custom amount: checked against the catalog's bounds, priced inline (`price_data`). No
    /// duplicate guard (a second donation is welcome) and no trial.
    async fn create_custom(&self, buyer: &Buyer, input: &CustomInput<'_>, client_key: Option<&str>) -> Result<Created, CheckoutError> {
        let stripe = self.stripe()?;
        let items = self.store.user_items(&buyer.user_id).await?;
        let linked = items.customer.as_ref().map(|c| c.customer_id.clone());
        let customer = customer::ensure(self, stripe, buyer, linked).await?;
        let new = session::new_custom_session(&self.config.checkout, buyer, input, &customer);
        let key = session::custom_key(buyer, input, &new, client_key, self.clock.now());
        let created = open_session(stripe, &new, key).await?;
        let url = created.url.clone().ok_or(CheckoutError::Incomplete("a url"))?;
        tracing::info!(user = %buyer.user_id, entry = %input.entry.id, amount = input.amount, currency = %input.currency, interval = input.interval.as_str(), session = %created.id, "custom-amount checkout session created");
        Ok(Created { id: created.id, url })
    }

    /// The session `session_id` read from Stripe and, when it is complete, handed to the sync
    /// engine, which stores the customer mapping and what was bought right away (the webhook
    /// may come later). Another user's session, or none, is [`CheckoutError::SessionNotFound`].
    pub async fn sync_session(&self, buyer: &Buyer, session_id: &str) -> Result<Synced, CheckoutError> {
        if crate::domain::ids::CheckoutSessionId::parse(session_id).is_none() {
            return Err(CheckoutError::SessionNotFound);
        }
        self.rate_limiter().take(&buyer.user_id).await?;
        let engine = self.sync()?;
        let fetched = match engine.fetch_checkout_session(session_id).await {
            Ok(fetched) => fetched,
            Err(SyncError::Stripe(GatewayError::NotFound { .. })) => return Err(CheckoutError::SessionNotFound),
            Err(err) => return Err(err.into()),
        };
        // Only `metadata.user_id` proves ownership: this service sets it, while a buyer can
        // choose `client_reference_id` (Payment Links, pricing tables).
        if fetched.object().metadata_user_id().as_deref() != Some(buyer.user_id.as_str()) {
            return Err(CheckoutError::SessionNotFound);
        }
        let session = fetched.object().clone();
        if session.is_complete() {
            let outcome = engine.apply(fetched).await?;
            tracing::info!(user = %buyer.user_id, session = %session.id, outcome = outcome.as_str(), "eager sync");
            if outcome == Outcome::Conflict {
                return Err(CheckoutError::CustomerConflict);
            }
        }
        // Strongly consistent: the read follows the engine's own write.
        let items = self.store.user_items_consistent(&buyer.user_id).await?;
        let subscription = session
            .subscription
            .as_deref()
            .and_then(|id| items.subscriptions.iter().find(|s| s.subscription_id == id))
            .or_else(|| items.live_subscriptions().next())
            .cloned();
        Ok(Synced { session, subscription })
    }
}

/// What one `POST /checkout` asks for, before a customer is chosen.
struct Offer<'a> {
    buyer: &'a Buyer,
    input: &'a CheckoutInput<'a>,
    items: &'a crate::domain::records::UserItems,
    price_id: String,
    /// The plan's metered prices at the interval (usage billed through Stripe meters).
    metered_prices: Vec<String>,
    client_key: Option<&'a str>,
}

impl Offer<'_> {
    /// An open session for `customer`: the duplicate guard (table and Stripe), trial
    /// eligibility, then the session under its idempotency key.
    async fn session(&self, service: &Checkouts<'_>, stripe: &Stripe, customer: &str) -> Result<CheckoutSessionSnapshot, CheckoutError> {
        let in_stripe = stripe.list_subscriptions(customer).await?;
        let policy = service.config.checkout.duplicate_policy;
        if let Some(plan) = session::blocking_plan(policy, service.catalog, self.items, &in_stripe, self.input.plan) {
            return Err(CheckoutError::AlreadySubscribed { plan });
        }
        // A trial is for first-time subscribers: nothing stored, nothing in Stripe. Donations
        // (custom amounts) are no subscriptions to a plan: they do not use up the trial.
        let first_time = !self
            .items
            .subscriptions
            .iter()
            .any(|s| !crate::domain::access::is_custom_amount(service.catalog, s))
            && in_stripe.iter().all(|s| s.metadata_custom_amount.is_some());
        let new = session::new_session(
            &service.config.checkout,
            self.buyer,
            self.input,
            customer,
            first_time,
            self.price_id.clone(),
            self.metered_prices.clone(),
        );
        let key = session::key(self.buyer, self.input, &new, self.client_key, service.clock.now());
        open_session(stripe, &new, key).await
    }
}

/// An open session for `new` under `key`. A key that replays a session completed or expired
/// inside its window is never handed out: the next key is derived from it, so a retry walks the
/// same chain.
async fn open_session(stripe: &Stripe, new: &NewCheckoutSession, mut key: String) -> Result<CheckoutSessionSnapshot, CheckoutError> {
    for _ in 0..=FRESH_KEY_STEPS {
        let created = stripe.create_checkout_session(new, &key).await?;
        if created.status.as_deref() == Some("open") {
            return Ok(created);
        }
        tracing::info!(replayed = %created.id, status = ?created.status, "replayed session is not open; creating a fresh one");
        key = session::fresh_key(&key, &created.id);
    }
    Err(CheckoutError::Incomplete("an open session"))
}
