//! The emulator's state and every state change. Each change records Stripe events in
//! [`World::pending`]; the server hands them to webhook delivery after the change commits.
//! Failed operations return before touching state, so an error response leaves it unchanged.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use billing::plans::{Catalog, Interval, PlanMode};
use serde_json::{Value, json};

use crate::error::StripeError;
use crate::ids::new_id;
use crate::model::*;
use crate::params::{Params, paginate};

/// How the emulator behaves; set at start, partly changeable through `/_emulator/config`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The one accepted API key; `None` accepts any `sk_test_…` key.
    pub api_key: Option<String>,
    /// Base URL of the hosted pages (`http://127.0.0.1:12111`).
    pub public_url: String,
    pub webhook_urls: Vec<String>,
    pub webhook_secrets: Vec<String>,
    /// Days a past_due subscription is retried before the dunning rule cancels it.
    pub dunning_days: i64,
    /// Days between payment retries while past_due.
    pub retry_every_days: i64,
    /// Delivery retries after the first failed attempt, and the first backoff.
    pub delivery_retries: u32,
    pub delivery_backoff_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            api_key: None,
            public_url: "http://127.0.0.1:12111".into(),
            webhook_urls: Vec::new(),
            webhook_secrets: Vec::new(),
            dunning_days: 7,
            retry_every_days: 2,
            delivery_retries: 5,
            delivery_backoff_ms: 500,
        }
    }
}

/// Switches for testing webhook consumers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Chaos {
    /// Deliver every event twice.
    #[serde(default)]
    pub duplicates: bool,
    /// Deliver the events of one operation in random order.
    #[serde(default)]
    pub shuffle: bool,
    /// Wait this long before each delivery.
    #[serde(default)]
    pub delay_ms: u64,
}

/// An injected failure: the next `count` requests matching `method` and `path_prefix` get
/// `status` with an `api_error` body.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Fault {
    #[serde(default)]
    pub method: Option<String>,
    pub path_prefix: String,
    pub status: u16,
    #[serde(default = "one")]
    pub count: u32,
    /// Fail after the request took effect (a lost response): the change is made, and its
    /// response is stored for the idempotency key, but the client sees the error.
    #[serde(default)]
    pub after: bool,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    pub at: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub url: String,
    pub attempts: Vec<Attempt>,
    pub delivered: bool,
}

/// A stored response for an idempotency key.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub fingerprint: String,
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct World {
    pub settings: Settings,
    pub chaos: Chaos,
    pub faults: Vec<Fault>,
    offset: i64,
    pub customers: BTreeMap<String, Customer>,
    pub features: BTreeMap<String, Feature>,
    pub products: BTreeMap<String, Product>,
    pub prices: BTreeMap<String, Price>,
    pub sessions: BTreeMap<String, CheckoutSession>,
    pub portal_sessions: BTreeMap<String, PortalSession>,
    pub subscriptions: BTreeMap<String, Subscription>,
    pub invoices: BTreeMap<String, Invoice>,
    /// Active entitlements per customer.
    pub entitlements: BTreeMap<String, Vec<ActiveEntitlement>>,
    pub events: Vec<Event>,
    /// Events recorded by the current operation, not yet handed to delivery.
    pub pending: Vec<Event>,
    pub deliveries: Vec<Delivery>,
    pub idempotency: HashMap<String, StoredResponse>,
    /// Stripe API requests received (after authentication), for tests that assert "no call".
    pub api_requests: u64,
    /// Creation order, for newest-first lists.
    seq: u64,
    order: HashMap<String, u64>,
}

fn real_now() -> i64 {
    billing::now_epoch()
}

impl World {
    /// A world seeded from the plans catalog: one product per paid plan, one price per
    /// interval (with the catalog's lookup key or price id), one feature per feature key.
    pub fn new(settings: Settings, catalog: &Catalog) -> Self {
        let mut world = Self {
            settings,
            chaos: Chaos::default(),
            faults: Vec::new(),
            offset: 0,
            customers: BTreeMap::new(),
            features: BTreeMap::new(),
            products: BTreeMap::new(),
            prices: BTreeMap::new(),
            sessions: BTreeMap::new(),
            portal_sessions: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            invoices: BTreeMap::new(),
            entitlements: BTreeMap::new(),
            events: Vec::new(),
            pending: Vec::new(),
            deliveries: Vec::new(),
            idempotency: HashMap::new(),
            api_requests: 0,
            seq: 0,
            order: HashMap::new(),
        };
        world.seed(catalog);
        world
    }

    fn seed(&mut self, catalog: &Catalog) {
        let now = self.now();
        let mut feature_ids: BTreeMap<String, String> = BTreeMap::new();
        for plan in catalog.plans() {
            for key in &plan.features {
                if !feature_ids.contains_key(key) {
                    let id = new_id("feat");
                    self.features.insert(
                        id.clone(),
                        Feature {
                            id: id.clone(),
                            lookup_key: key.clone(),
                            name: key.replace(['_', '.', ':', '-'], " "),
                        },
                    );
                    self.track(&id);
                    feature_ids.insert(key.clone(), id);
                }
            }
        }
        for plan in catalog.plans().iter().filter(|p| !p.free) {
            let product_id = new_id("prod");
            let metadata = Metadata::from([("plan".to_owned(), plan.id.clone())]);
            let feature_ids = plan.features.iter().filter_map(|k| feature_ids.get(k).cloned()).collect();
            self.products.insert(
                product_id.clone(),
                Product {
                    id: product_id.clone(),
                    name: plan.name.clone(),
                    description: plan.description.clone(),
                    feature_ids,
                    metadata: metadata.clone(),
                    created: now,
                },
            );
            self.track(&product_id);
            for (interval, price) in &plan.prices {
                let id = price.price.clone().unwrap_or_else(|| new_id("price"));
                let recurring = match (plan.mode, interval) {
                    (PlanMode::OneTime, _) | (_, Interval::OneTime) => None,
                    (_, Interval::Month) => Some("month"),
                    (_, Interval::Year) => Some("year"),
                };
                self.prices.insert(
                    id.clone(),
                    Price {
                        id: id.clone(),
                        product: product_id.clone(),
                        lookup_key: price.lookup_key.clone(),
                        unit_amount: price.amount,
                        currency: price.currency.clone(),
                        interval: recurring,
                        metadata: metadata.clone(),
                        created: now,
                    },
                );
                self.track(&id);
            }
        }
    }

    /// The emulator clock (real time plus every advance).
    pub fn now(&self) -> i64 {
        real_now() + self.offset
    }

    fn track(&mut self, id: &str) {
        self.seq += 1;
        self.order.insert(id.to_owned(), self.seq);
    }

    /// Ids sorted newest first.
    fn newest_first<'a>(&self, ids: impl Iterator<Item = &'a String>) -> Vec<String> {
        let mut ids: Vec<String> = ids.cloned().collect();
        ids.sort_by_key(|id| std::cmp::Reverse(self.order.get(id).copied().unwrap_or(0)));
        ids
    }

    fn emit(&mut self, event_type: &str, object: Value, previous_attributes: Option<Value>) {
        let event = Event {
            id: new_id("evt"),
            event_type: event_type.to_owned(),
            created: self.now(),
            object,
            previous_attributes,
        };
        self.track(&event.id);
        self.events.push(event.clone());
        self.pending.push(event);
    }

    // ---------------------------------------------------------------- customers

    pub fn create_customer(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["email", "name", "metadata", "description", "phone"])?;
        let email = params.str("email")?.map(str::to_owned);
        if let Some(email) = &email
            && !email.contains('@')
        {
            return Err(StripeError::invalid("email", "Invalid email address."));
        }
        let customer = self.new_customer(email, params.str("name")?.map(str::to_owned), params.metadata("metadata")?);
        Ok(self.customers[&customer].render())
    }

    fn new_customer(&mut self, email: Option<String>, name: Option<String>, metadata: Metadata) -> String {
        let id = new_id("cus");
        let customer = Customer {
            id: id.clone(),
            email,
            name,
            metadata,
            created: self.now(),
            deleted: false,
        };
        self.emit("customer.created", customer.render(), None);
        self.customers.insert(id.clone(), customer);
        self.track(&id);
        id
    }

    pub fn customer(&self, id: &str) -> Result<&Customer, StripeError> {
        self.customers.get(id).ok_or_else(|| StripeError::no_such("customer", id, "id"))
    }

    fn live_customer(&self, id: &str, param: &str) -> Result<&Customer, StripeError> {
        self.customers
            .get(id)
            .filter(|c| !c.deleted)
            .ok_or_else(|| StripeError::no_such("customer", id, param))
    }

    pub fn list_customers(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["email", "limit", "starting_after", "created"])?;
        let email = params.str("email")?;
        let ids = self.newest_first(self.customers.keys());
        let items = ids
            .iter()
            .map(|id| &self.customers[id])
            .filter(|c| !c.deleted && (email.is_none() || c.email.as_deref() == email))
            .map(|c| (c.id.clone(), c.render()))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/customers", data, has_more))
    }

    pub fn delete_customer(&mut self, id: &str) -> Result<Value, StripeError> {
        self.live_customer(id, "id")?;
        let subs: Vec<String> = self
            .subscriptions
            .values()
            .filter(|s| s.customer == id && s.status != "canceled")
            .map(|s| s.id.clone())
            .collect();
        for sub in subs {
            self.end_subscription(&sub, Some("cancellation_requested"));
        }
        let customer = self.customers.get_mut(id).expect("checked above");
        let full = customer.render();
        customer.deleted = true;
        self.emit("customer.deleted", full, None);
        Ok(self.customers[id].render())
    }

    // ---------------------------------------------------------------- catalog

    pub fn list_prices(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["lookup_keys", "active", "product", "limit", "starting_after", "type"])?;
        let keys = params.strings("lookup_keys");
        let product = params.str("product")?;
        let ids = self.newest_first(self.prices.keys());
        let items = ids
            .iter()
            .map(|id| &self.prices[id])
            .filter(|p| keys.is_empty() || p.lookup_key.as_ref().is_some_and(|k| keys.contains(k)))
            .filter(|p| product.is_none_or(|prod| p.product == prod))
            .map(|p| (p.id.clone(), p.render()))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/prices", data, has_more))
    }

    pub fn price(&self, id: &str) -> Result<Value, StripeError> {
        self.prices
            .get(id)
            .map(Price::render)
            .ok_or_else(|| StripeError::no_such("price", id, "id"))
    }

    pub fn list_products(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["active", "limit", "starting_after"])?;
        let ids = self.newest_first(self.products.keys());
        let items = ids.iter().map(|id| (id.clone(), self.products[id].render())).collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/products", data, has_more))
    }

    pub fn product(&self, id: &str) -> Result<Value, StripeError> {
        self.products
            .get(id)
            .map(Product::render)
            .ok_or_else(|| StripeError::no_such("product", id, "id"))
    }

    pub fn list_product_features(&self, product: &str) -> Result<Value, StripeError> {
        let product = self
            .products
            .get(product)
            .ok_or_else(|| StripeError::no_such("product", product, "product"))?;
        let data = product
            .feature_ids
            .iter()
            .filter_map(|f| self.features.get(f))
            .map(|f| json!({"id": format!("prodft_{}", &f.id[5..]), "object": "product_feature", "entitlement_feature": f.render(), "livemode": false}))
            .collect();
        Ok(list(&format!("/v1/products/{}/features", product.id), data, false))
    }

    // ---------------------------------------------------------------- checkout

    pub fn create_checkout_session(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "mode",
            "line_items",
            "customer",
            "customer_email",
            "customer_creation",
            "client_reference_id",
            "metadata",
            "subscription_data",
            "allow_promotion_codes",
            "success_url",
            "cancel_url",
            "payment_method_types",
            "billing_address_collection",
            "locale",
        ])?;
        let mode = params.required_str("mode")?;
        if !matches!(mode, "subscription" | "payment") {
            return Err(StripeError::invalid(
                "mode",
                format!(
                    "Invalid mode: must be one of payment, setup or subscription (the emulator serves payment and subscription); got `{mode}`."
                ),
            ));
        }
        let success_url = params.required_str("success_url")?;
        for (param, url) in [("success_url", Some(success_url)), ("cancel_url", params.str("cancel_url")?)] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(StripeError::invalid(param, "Not a valid URL"));
            }
        }
        let count = params.array_len("line_items");
        if count == 0 {
            return Err(StripeError::missing_param("line_items"));
        }
        let mut line_items = Vec::new();
        let mut amount_total = 0;
        let mut currency = None;
        for i in 0..count {
            let price_id = params.required_str(&format!("line_items.{i}.price"))?;
            let price = self
                .prices
                .get(price_id)
                .ok_or_else(|| StripeError::no_such("price", price_id, &format!("line_items[{i}][price]")))?;
            let quantity = params.u64(&format!("line_items.{i}.quantity"))?.unwrap_or(1);
            if quantity == 0 || quantity > 10_000 {
                return Err(StripeError::invalid(
                    format!("line_items[{i}][quantity]"),
                    "Quantity must be between 1 and 10000.",
                ));
            }
            match (mode, price.interval) {
                ("subscription", None) => {
                    return Err(StripeError::invalid(
                        format!("line_items[{i}][price]"),
                        "You must provide at least one recurring price in `subscription` mode when using prices.",
                    ));
                }
                ("payment", Some(_)) => {
                    return Err(StripeError::invalid(
                        format!("line_items[{i}][price]"),
                        "You specified `payment` mode but passed a recurring price.",
                    ));
                }
                _ => {}
            }
            amount_total += price.unit_amount * quantity as i64;
            currency.get_or_insert_with(|| price.currency.clone());
            line_items.push(LineItem {
                price: price_id.to_owned(),
                quantity,
            });
        }
        let customer = params.str("customer")?.map(str::to_owned);
        let customer_email = params.str("customer_email")?.map(str::to_owned);
        if customer.is_some() && customer_email.is_some() {
            return Err(StripeError::invalid(
                "customer_email",
                "You may only specify one of these parameters: customer, customer_email.",
            ));
        }
        if let Some(id) = &customer {
            self.live_customer(id, "customer")?;
        }
        let customer_creation = params.str("customer_creation")?.map(str::to_owned);
        if let Some(value) = &customer_creation {
            if !matches!(value.as_str(), "always" | "if_required") {
                return Err(StripeError::invalid("customer_creation", "Invalid customer_creation."));
            }
            if mode == "subscription" {
                return Err(StripeError::invalid(
                    "customer_creation",
                    "`customer_creation` can only be used in `payment` mode.",
                ));
            }
        }
        let trial_period_days = params.u64("subscription_data.trial_period_days")?;
        if let Some(days) = trial_period_days {
            if mode != "subscription" {
                return Err(StripeError::invalid(
                    "subscription_data",
                    "`subscription_data` can only be used in `subscription` mode.",
                ));
            }
            if !(1..=730).contains(&days) {
                return Err(StripeError::invalid(
                    "subscription_data[trial_period_days]",
                    "Trial period days must be between 1 and 730.",
                ));
            }
        }
        let client_reference_id = params.str("client_reference_id")?.map(str::to_owned);
        if client_reference_id.as_ref().is_some_and(|c| c.len() > 200) {
            return Err(StripeError::invalid(
                "client_reference_id",
                "client_reference_id must be at most 200 characters.",
            ));
        }
        let id = new_id("cs_test");
        let now = self.now();
        let session = CheckoutSession {
            url: format!("{}/checkout/{id}", self.settings.public_url),
            id: id.clone(),
            mode: mode.to_owned(),
            status: "open".into(),
            payment_status: "unpaid".into(),
            customer,
            customer_email,
            customer_creation,
            client_reference_id,
            metadata: params.metadata("metadata")?,
            line_items,
            trial_period_days: trial_period_days.map(|d| d as u32),
            subscription_metadata: params.metadata("subscription_data.metadata")?,
            allow_promotion_codes: params.bool("allow_promotion_codes")?.unwrap_or(false),
            success_url: success_url.to_owned(),
            cancel_url: params.str("cancel_url")?.map(str::to_owned),
            subscription: None,
            invoice: None,
            payment_intent: None,
            amount_total,
            currency: currency.unwrap_or_else(|| "usd".into()),
            created: now,
            expires_at: now + DAY,
        };
        self.sessions.insert(id.clone(), session);
        self.track(&id);
        self.session(&id)
    }

    pub fn session(&self, id: &str) -> Result<Value, StripeError> {
        let session = self
            .sessions
            .get(id)
            .ok_or_else(|| StripeError::no_such("checkout.session", id, "session"))?;
        let email = session
            .customer
            .as_ref()
            .and_then(|c| self.customers.get(c))
            .and_then(|c| c.email.as_deref())
            .or(session.customer_email.as_deref());
        Ok(session.render(email))
    }

    pub fn expire_session(&mut self, id: &str) -> Result<Value, StripeError> {
        let session = self
            .sessions
            .get_mut(id)
            .ok_or_else(|| StripeError::no_such("checkout.session", id, "session"))?;
        if session.status != "open" {
            return Err(StripeError::state(format!(
                "Only Checkout Sessions with a status of `open` can be expired; this one is `{}`.",
                session.status
            )));
        }
        session.status = "expired".into();
        let rendered = self.session(id)?;
        self.emit("checkout.session.expired", rendered.clone(), None);
        Ok(rendered)
    }

    /// Pays an open session with a test card. On success returns the URL to redirect to.
    pub fn pay_session(&mut self, id: &str, card_number: &str) -> Result<String, StripeError> {
        let session = self
            .sessions
            .get(id)
            .ok_or_else(|| StripeError::no_such("checkout.session", id, "session"))?
            .clone();
        if session.status != "open" {
            return Err(StripeError::state(format!(
                "This Checkout Session is no longer open (status `{}`).",
                session.status
            )));
        }
        let card = match classify_card(card_number) {
            CardOutcome::Card(card) => card,
            CardOutcome::Declined(code) => return Err(StripeError::card_declined(code)),
            CardOutcome::Unknown => {
                return Err(StripeError::invalid(
                    "card",
                    "Use a Stripe test card number such as 4242 4242 4242 4242.",
                ));
            }
        };
        let customer = match (&session.customer, session.mode.as_str(), session.customer_creation.as_deref()) {
            (Some(id), _, _) => Some(id.clone()),
            (None, "subscription", _) | (None, _, Some("always")) => {
                Some(self.new_customer(session.customer_email.clone(), None, Metadata::new()))
            }
            (None, _, _) => None,
        };
        let now = self.now();
        let mut updated = session.clone();
        updated.customer = customer.clone();
        updated.status = "complete".into();
        if session.mode == "subscription" {
            let customer = customer.expect("subscription mode always has a customer");
            let trial_end = session.trial_period_days.map(|d| now + d as i64 * DAY);
            let period = self
                .prices
                .get(&session.line_items[0].price)
                .map_or(30 * DAY, Price::period_seconds);
            let sub_id = new_id("sub");
            let subscription = Subscription {
                id: sub_id.clone(),
                customer: customer.clone(),
                status: if trial_end.is_some() { "trialing" } else { "active" }.into(),
                items: session
                    .line_items
                    .iter()
                    .map(|l| SubscriptionItem {
                        id: new_id("si"),
                        price: l.price.clone(),
                        quantity: l.quantity,
                        created: now,
                    })
                    .collect(),
                cancel_at_period_end: false,
                canceled_at: None,
                ended_at: None,
                period_start: now,
                period_end: trial_end.unwrap_or(now + period),
                trial_start: trial_end.map(|_| now),
                trial_end,
                metadata: session.subscription_metadata.clone(),
                created: now,
                latest_invoice: None,
                card,
                failing_since: None,
                next_retry: None,
                trial_will_end_sent: false,
                cancellation_reason: None,
            };
            self.subscriptions.insert(sub_id.clone(), subscription);
            self.track(&sub_id);
            let invoice = self.new_invoice(&sub_id, "subscription_create", trial_end.is_some());
            self.mark_paid(&invoice);
            let rendered = self.render_subscription(&sub_id);
            self.emit("customer.subscription.created", rendered, None);
            self.emit_invoice("invoice.paid", &invoice);
            updated.subscription = Some(sub_id.clone());
            updated.invoice = Some(invoice);
            updated.payment_status = if trial_end.is_some() { "no_payment_required" } else { "paid" }.into();
            self.sessions.insert(id.to_owned(), updated.clone());
            let completed = self.session(id)?;
            self.emit("checkout.session.completed", completed, None);
            self.refresh_entitlements(&customer);
        } else {
            updated.payment_intent = Some(new_id("pi"));
            updated.payment_status = "paid".into();
            self.sessions.insert(id.to_owned(), updated.clone());
            let completed = self.session(id)?;
            self.emit("checkout.session.completed", completed, None);
        }
        Ok(updated.success_url.replace("{CHECKOUT_SESSION_ID}", id))
    }

    // ---------------------------------------------------------------- billing portal

    pub fn create_portal_session(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["customer", "return_url", "flow_data", "configuration", "locale"])?;
        let customer = params.required_str("customer")?.to_owned();
        self.live_customer(&customer, "customer")?;
        let flow = params.str("flow_data.type")?.map(str::to_owned);
        if let Some(flow) = &flow
            && !matches!(
                flow.as_str(),
                "payment_method_update" | "subscription_cancel" | "subscription_update" | "subscription_update_confirm"
            )
        {
            return Err(StripeError::invalid("flow_data[type]", format!("Invalid flow type `{flow}`.")));
        }
        if flow.as_deref() == Some("subscription_cancel") {
            let sub = params.required_str("flow_data.subscription_cancel.subscription")?;
            self.subscription_of(sub, "flow_data[subscription_cancel][subscription]")?;
        }
        let return_url = params.str("return_url")?.map(str::to_owned);
        let id = new_id("bps");
        let session = PortalSession {
            url: format!("{}/portal/{id}", self.settings.public_url),
            id: id.clone(),
            customer,
            return_url,
            flow,
            created: self.now(),
        };
        let rendered = session.render();
        self.portal_sessions.insert(id.clone(), session);
        self.track(&id);
        Ok(rendered)
    }

    // ---------------------------------------------------------------- subscriptions

    fn subscription_of(&self, id: &str, param: &str) -> Result<&Subscription, StripeError> {
        self.subscriptions
            .get(id)
            .ok_or_else(|| StripeError::no_such("subscription", id, param))
    }

    pub fn render_subscription(&self, id: &str) -> Value {
        self.subscriptions[id].render(&self.prices)
    }

    pub fn subscription(&self, id: &str) -> Result<Value, StripeError> {
        self.subscription_of(id, "id").map(|s| s.render(&self.prices))
    }

    pub fn list_subscriptions(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["customer", "status", "price", "limit", "starting_after"])?;
        let customer = params.str("customer")?;
        let status = params.str("status")?;
        let price = params.str("price")?;
        let ids = self.newest_first(self.subscriptions.keys());
        let items = ids
            .iter()
            .map(|id| &self.subscriptions[id])
            .filter(|s| customer.is_none_or(|c| s.customer == c))
            .filter(|s| match status {
                None => s.status != "canceled",
                Some("all") => true,
                Some(status) => s.status == status,
            })
            .filter(|s| price.is_none_or(|p| s.items.iter().any(|i| i.price == p)))
            .map(|s| (s.id.clone(), s.render(&self.prices)))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/subscriptions", data, has_more))
    }

    pub fn update_subscription(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "cancel_at_period_end",
            "items",
            "proration_behavior",
            "metadata",
            "payment_behavior",
        ])?;
        let current = self.subscription_of(id, "id")?.clone();
        if current.status == "canceled" {
            return Err(StripeError::state(
                "A canceled subscription can only update its cancellation_details and metadata.",
            ));
        }
        let proration = params.str("proration_behavior")?.unwrap_or("create_prorations");
        if !matches!(proration, "create_prorations" | "none" | "always_invoice") {
            return Err(StripeError::invalid(
                "proration_behavior",
                format!("Invalid proration_behavior `{proration}`."),
            ));
        }
        let mut next = current.clone();
        if let Some(flag) = params.bool("cancel_at_period_end")? {
            next.cancel_at_period_end = flag;
            next.cancellation_reason = flag.then_some("cancellation_requested");
            next.canceled_at = flag.then(|| self.now());
        }
        for i in 0..params.array_len("items") {
            let item_id = params.str(&format!("items.{i}.id"))?;
            let index = match item_id {
                Some(item_id) => Some(
                    next.items
                        .iter()
                        .position(|it| it.id == item_id)
                        .ok_or_else(|| StripeError::no_such("subscription_item", item_id, &format!("items[{i}][id]")))?,
                ),
                None => None,
            };
            if let Some(price_id) = params.str(&format!("items.{i}.price"))? {
                let price = self
                    .prices
                    .get(price_id)
                    .ok_or_else(|| StripeError::no_such("price", price_id, &format!("items[{i}][price]")))?;
                if price.interval.is_none() {
                    return Err(StripeError::invalid(
                        format!("items[{i}][price]"),
                        "The price specified is not recurring.",
                    ));
                }
            }
            let quantity = params.u64(&format!("items.{i}.quantity"))?;
            if quantity == Some(0) {
                return Err(StripeError::invalid(
                    format!("items[{i}][quantity]"),
                    "Quantity must be at least 1.",
                ));
            }
            let price = params.str(&format!("items.{i}.price"))?.map(str::to_owned);
            match index {
                Some(index) => {
                    if let Some(price) = price {
                        next.items[index].price = price;
                    }
                    if let Some(q) = quantity {
                        next.items[index].quantity = q;
                    }
                }
                None => {
                    let price = price.ok_or_else(|| StripeError::missing_param(&format!("items[{i}][price]")))?;
                    next.items.push(SubscriptionItem {
                        id: new_id("si"),
                        price,
                        quantity: quantity.unwrap_or(1),
                        created: self.now(),
                    });
                }
            }
        }
        if params.value("metadata").is_some() {
            next.metadata.extend(params.metadata("metadata")?);
        }
        let before = current.render(&self.prices);
        let price_changed = current
            .items
            .iter()
            .map(|i| (&i.price, i.quantity))
            .ne(next.items.iter().map(|i| (&i.price, i.quantity)));
        self.subscriptions.insert(id.to_owned(), next);
        if price_changed && proration == "always_invoice" {
            let invoice = self.new_invoice(id, "subscription_update", false);
            self.mark_paid(&invoice);
            self.emit_invoice("invoice.paid", &invoice);
        }
        self.emit_updated(id, &before);
        let customer = current.customer.clone();
        self.refresh_entitlements(&customer);
        Ok(self.render_subscription(id))
    }

    pub fn cancel_subscription(&mut self, id: &str) -> Result<Value, StripeError> {
        let current = self.subscription_of(id, "id")?;
        if current.status == "canceled" {
            return Err(StripeError::state(format!("No such subscription: '{id}' is already canceled.")));
        }
        self.end_subscription(id, Some("cancellation_requested"));
        Ok(self.render_subscription(id))
    }

    pub fn pause_subscription(&mut self, id: &str) -> Result<Value, StripeError> {
        let current = self.subscription_of(id, "id")?;
        if !matches!(current.status.as_str(), "active" | "trialing" | "past_due") {
            return Err(StripeError::state(format!(
                "Only active subscriptions can be paused; this one is `{}`.",
                current.status
            )));
        }
        let before = current.render(&self.prices);
        let customer = current.customer.clone();
        self.subscriptions.get_mut(id).expect("checked").status = "paused".into();
        let rendered = self.render_subscription(id);
        self.emit("customer.subscription.paused", rendered, None);
        self.emit_updated(id, &before);
        self.refresh_entitlements(&customer);
        Ok(self.render_subscription(id))
    }

    pub fn resume_subscription(&mut self, id: &str) -> Result<Value, StripeError> {
        let current = self.subscription_of(id, "id")?;
        if current.status != "paused" {
            return Err(StripeError::state(format!(
                "Only paused subscriptions can be resumed; this one is `{}`.",
                current.status
            )));
        }
        let before = current.render(&self.prices);
        let customer = current.customer.clone();
        let now = self.now();
        let sub = self.subscriptions.get_mut(id).expect("checked");
        let period = sub.period_end - sub.period_start;
        sub.status = "active".into();
        sub.period_start = now;
        sub.period_end = now + period.max(DAY);
        let rendered = self.render_subscription(id);
        self.emit("customer.subscription.resumed", rendered, None);
        self.emit_updated(id, &before);
        self.refresh_entitlements(&customer);
        Ok(self.render_subscription(id))
    }

    /// Ends a subscription now: status `canceled`, `customer.subscription.deleted`.
    fn end_subscription(&mut self, id: &str, reason: Option<&'static str>) {
        let now = self.now();
        let sub = self.subscriptions.get_mut(id).expect("caller checked");
        sub.status = "canceled".into();
        sub.ended_at = Some(now);
        sub.canceled_at.get_or_insert(now);
        sub.cancellation_reason = reason.or(sub.cancellation_reason);
        sub.next_retry = None;
        let customer = sub.customer.clone();
        let rendered = self.render_subscription(id);
        self.emit("customer.subscription.deleted", rendered, None);
        self.refresh_entitlements(&customer);
    }

    /// `customer.subscription.updated` with the top-level fields that changed.
    fn emit_updated(&mut self, id: &str, before: &Value) {
        let after = self.render_subscription(id);
        let mut previous = serde_json::Map::new();
        if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
            for (key, old) in b {
                if a.get(key) != Some(old) {
                    previous.insert(key.clone(), old.clone());
                }
            }
        }
        if !previous.is_empty() {
            self.emit("customer.subscription.updated", after, Some(Value::Object(previous)));
        }
    }

    // ---------------------------------------------------------------- invoices

    fn new_invoice(&mut self, sub_id: &str, billing_reason: &'static str, free: bool) -> String {
        let sub = &self.subscriptions[sub_id];
        let lines: Vec<InvoiceLine> = sub
            .items
            .iter()
            .map(|item| {
                let amount = if free {
                    0
                } else {
                    self.prices.get(&item.price).map_or(0, |p| p.unit_amount) * item.quantity as i64
                };
                InvoiceLine {
                    id: new_id("il"),
                    price: item.price.clone(),
                    quantity: item.quantity,
                    amount,
                }
            })
            .collect();
        let currency = sub
            .items
            .first()
            .and_then(|i| self.prices.get(&i.price))
            .map_or_else(|| "usd".into(), |p| p.currency.clone());
        let invoice = Invoice {
            id: new_id("in"),
            customer: sub.customer.clone(),
            subscription: Some(sub_id.to_owned()),
            status: "open".into(),
            billing_reason,
            currency,
            amount_due: lines.iter().map(|l| l.amount).sum(),
            amount_paid: 0,
            attempt_count: 0,
            period_start: sub.period_start,
            period_end: sub.period_end,
            created: self.now(),
            paid_at: None,
            next_payment_attempt: None,
            lines,
            subscription_metadata: sub.metadata.clone(),
        };
        let id = invoice.id.clone();
        self.invoices.insert(id.clone(), invoice);
        self.track(&id);
        self.subscriptions.get_mut(sub_id).expect("exists").latest_invoice = Some(id.clone());
        id
    }

    fn mark_paid(&mut self, invoice_id: &str) {
        let now = self.now();
        let invoice = self.invoices.get_mut(invoice_id).expect("exists");
        invoice.status = "paid".into();
        invoice.amount_paid = invoice.amount_due;
        invoice.attempt_count += 1;
        invoice.paid_at = Some(now);
        invoice.next_payment_attempt = None;
    }

    fn emit_invoice(&mut self, event_type: &str, invoice_id: &str) {
        let rendered = self.invoices[invoice_id].render(&self.prices);
        self.emit(event_type, rendered, None);
    }

    pub fn invoice(&self, id: &str) -> Result<Value, StripeError> {
        self.invoices
            .get(id)
            .map(|i| i.render(&self.prices))
            .ok_or_else(|| StripeError::no_such("invoice", id, "id"))
    }

    // ---------------------------------------------------------------- entitlements

    /// Recomputes a customer's active entitlements from their subscriptions and emits
    /// `entitlements.active_entitlement_summary.updated` when the set changed.
    fn refresh_entitlements(&mut self, customer: &str) {
        let wanted: BTreeSet<String> = self
            .subscriptions
            .values()
            .filter(|s| s.customer == customer && s.provisions_entitlements())
            .flat_map(|s| s.items.iter())
            .filter_map(|item| self.prices.get(&item.price))
            .filter_map(|price| self.products.get(&price.product))
            .flat_map(|product| product.feature_ids.iter().cloned())
            .collect();
        let current = self.entitlements.get(customer).cloned().unwrap_or_default();
        let have: BTreeSet<String> = current.iter().map(|e| e.feature.clone()).collect();
        if have == wanted {
            return;
        }
        let mut next: Vec<ActiveEntitlement> = current.into_iter().filter(|e| wanted.contains(&e.feature)).collect();
        for feature in wanted.iter().filter(|f| !have.contains(*f)) {
            let lookup_key = self.features.get(feature).map(|f| f.lookup_key.clone()).unwrap_or_default();
            next.push(ActiveEntitlement {
                id: new_id("ent"),
                feature: feature.clone(),
                lookup_key,
            });
        }
        next.sort_by(|a, b| a.lookup_key.cmp(&b.lookup_key));
        let embedded: Vec<Value> = next.iter().take(SUMMARY_EMBED_LIMIT).map(ActiveEntitlement::render).collect();
        let summary = json!({
            "object": "entitlements.active_entitlement_summary",
            "customer": customer,
            "entitlements": list(&format!("/v1/customer/{customer}/entitlements"), embedded, next.len() > SUMMARY_EMBED_LIMIT),
            "livemode": false
        });
        self.entitlements.insert(customer.to_owned(), next);
        self.emit("entitlements.active_entitlement_summary.updated", summary, None);
    }

    pub fn list_active_entitlements(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["customer", "limit", "starting_after"])?;
        let customer = params.required_str("customer")?;
        self.customer(customer)
            .map_err(|_| StripeError::no_such("customer", customer, "customer"))?;
        let items = self
            .entitlements
            .get(customer)
            .map(|list| list.iter().map(|e| (e.id.clone(), e.render())).collect())
            .unwrap_or_default();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/entitlements/active_entitlements", data, has_more))
    }

    /// Test helper: attach `feature_keys` (new features if needed) to the product of `price`
    /// and recompute every customer's entitlements.
    pub fn attach_features(&mut self, product: &str, feature_keys: &[String]) -> Result<(), StripeError> {
        if !self.products.contains_key(product) {
            return Err(StripeError::no_such("product", product, "product"));
        }
        for key in feature_keys {
            if !billing::plans::is_valid_key(key) {
                return Err(StripeError::invalid("features", format!("`{key}` is not a valid lookup key")));
            }
        }
        for key in feature_keys {
            let id = match self.features.values().find(|f| &f.lookup_key == key) {
                Some(f) => f.id.clone(),
                None => {
                    let id = new_id("feat");
                    self.features.insert(
                        id.clone(),
                        Feature {
                            id: id.clone(),
                            lookup_key: key.clone(),
                            name: key.clone(),
                        },
                    );
                    id
                }
            };
            let product = self.products.get_mut(product).expect("checked");
            if !product.feature_ids.contains(&id) {
                product.feature_ids.push(id);
            }
        }
        let customers: Vec<String> = self.customers.keys().cloned().collect();
        for customer in customers {
            self.refresh_entitlements(&customer);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- events

    pub fn event(&self, id: &str) -> Result<Value, StripeError> {
        self.events
            .iter()
            .find(|e| e.id == id)
            .map(Event::render)
            .ok_or_else(|| StripeError::no_such("event", id, "id"))
    }

    pub fn list_events(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["type", "types", "created", "limit", "starting_after", "delivery_success"])?;
        let types: Vec<String> = match params.str("type")? {
            Some(t) => vec![t.to_owned()],
            None => params.strings("types"),
        };
        let matches_type = |t: &str| {
            types.is_empty()
                || types
                    .iter()
                    .any(|p| p.strip_suffix('*').map_or(p == t, |prefix| t.starts_with(prefix)))
        };
        let created = CreatedFilter::from_params(params)?;
        let items = self
            .events
            .iter()
            .rev()
            .filter(|e| matches_type(&e.event_type) && created.accepts(e.created))
            .map(|e| (e.id.clone(), e.render()))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/events", data, has_more))
    }

    // ---------------------------------------------------------------- time

    /// Moves the clock forward by `seconds`, applying every renewal, trial end, payment retry,
    /// dunning cancellation and period-end cancellation that falls due, in time order.
    pub fn advance(&mut self, seconds: i64) -> Result<i64, StripeError> {
        if !(0..=5 * 365 * DAY).contains(&seconds) {
            return Err(StripeError::invalid("seconds", "Advance by 0 to 5 years."));
        }
        let target = self.now() + seconds;
        while let Some((at, id, action)) = self.next_due(target) {
            self.offset += (at - self.now()).max(0);
            self.apply(&id, action);
        }
        self.offset += (target - self.now()).max(0);
        Ok(self.now())
    }

    fn next_due(&self, target: i64) -> Option<(i64, String, Due)> {
        let mut best: Option<(i64, String, Due)> = None;
        for sub in self.subscriptions.values() {
            let candidate = match sub.status.as_str() {
                "trialing" => {
                    let end = sub.trial_end.unwrap_or(sub.period_end);
                    if !sub.trial_will_end_sent && !sub.cancel_at_period_end && end - 3 * DAY <= target {
                        Some(((end - 3 * DAY).max(sub.created), Due::TrialWillEnd))
                    } else if end <= target {
                        Some((end, if sub.cancel_at_period_end { Due::End } else { Due::Charge }))
                    } else {
                        None
                    }
                }
                "active" if sub.period_end <= target => {
                    Some((sub.period_end, if sub.cancel_at_period_end { Due::End } else { Due::Charge }))
                }
                "past_due" => {
                    let give_up = sub.failing_since.unwrap_or(sub.period_start) + self.settings.dunning_days * DAY;
                    let retry = sub.next_retry.unwrap_or(give_up);
                    if retry < give_up && retry <= target {
                        Some((retry, Due::Retry))
                    } else if give_up <= target {
                        Some((give_up, Due::Dunning))
                    } else if sub.cancel_at_period_end && sub.period_end <= target {
                        Some((sub.period_end, Due::End))
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some((at, due)) = candidate
                && best.as_ref().is_none_or(|(t, id, _)| (at, &sub.id) < (*t, id))
            {
                best = Some((at, sub.id.clone(), due));
            }
        }
        best
    }

    fn apply(&mut self, id: &str, due: Due) {
        match due {
            Due::TrialWillEnd => {
                self.subscriptions.get_mut(id).expect("due").trial_will_end_sent = true;
                let rendered = self.render_subscription(id);
                self.emit("customer.subscription.trial_will_end", rendered, None);
            }
            Due::End => self.end_subscription(id, Some("cancellation_requested")),
            Due::Dunning => {
                if let Some(invoice) = self.subscriptions[id].latest_invoice.clone() {
                    self.invoices.get_mut(&invoice).expect("exists").next_payment_attempt = None;
                }
                self.end_subscription(id, Some("payment_failed"));
            }
            Due::Charge => {
                let before = self.render_subscription(id);
                let price = self.subscriptions[id].items.first().map(|i| i.price.clone());
                let period = price.and_then(|p| self.prices.get(&p)).map_or(30 * DAY, Price::period_seconds);
                let sub = self.subscriptions.get_mut(id).expect("due");
                sub.period_start = sub.period_end;
                sub.period_end += period;
                let invoice = self.new_invoice(id, "subscription_cycle", false);
                self.charge(id, &invoice, &before);
            }
            Due::Retry => {
                let before = self.render_subscription(id);
                if let Some(invoice) = self.subscriptions[id].latest_invoice.clone() {
                    self.charge(id, &invoice, &before);
                }
            }
        }
    }

    /// Attempts the subscription's card on `invoice`.
    fn charge(&mut self, id: &str, invoice: &str, before: &Value) {
        let now = self.now();
        let card = self.subscriptions[id].card;
        match card {
            Card::Succeeds => {
                self.mark_paid(invoice);
                let sub = self.subscriptions.get_mut(id).expect("due");
                sub.status = "active".into();
                sub.failing_since = None;
                sub.next_retry = None;
                self.emit_invoice("invoice.paid", invoice);
            }
            Card::FailsLater => {
                let retry = now + self.settings.retry_every_days * DAY;
                let sub = self.subscriptions.get_mut(id).expect("due");
                sub.status = "past_due".into();
                sub.failing_since.get_or_insert(now);
                sub.next_retry = Some(retry);
                let inv = self.invoices.get_mut(invoice).expect("exists");
                inv.attempt_count += 1;
                inv.next_payment_attempt = Some(retry);
                self.emit_invoice("invoice.payment_failed", invoice);
            }
        }
        self.emit_updated(id, before);
        let customer = self.subscriptions[id].customer.clone();
        self.refresh_entitlements(&customer);
    }

    /// The customer ids of subscriptions in a portal session (for the hosted page).
    pub fn customer_subscriptions(&self, customer: &str) -> Vec<&Subscription> {
        let ids = self.newest_first(self.subscriptions.values().filter(|s| s.customer == customer).map(|s| &s.id));
        ids.iter().map(|id| &self.subscriptions[id]).collect()
    }

    /// Pays the next renewals of `customer`'s subscriptions with `card` from now on.
    pub fn set_card(&mut self, subscription: &str, card: Card) -> Result<(), StripeError> {
        let sub = self
            .subscriptions
            .get_mut(subscription)
            .ok_or_else(|| StripeError::no_such("subscription", subscription, "subscription"))?;
        sub.card = card;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    TrialWillEnd,
    Charge,
    Retry,
    Dunning,
    End,
}

/// `created`, `created[gt]`, `created[gte]`, `created[lt]`, `created[lte]`.
struct CreatedFilter {
    gt: Option<i64>,
    gte: Option<i64>,
    lt: Option<i64>,
    lte: Option<i64>,
    eq: Option<i64>,
}

impl CreatedFilter {
    fn from_params(params: &Params) -> Result<Self, StripeError> {
        let eq = match params.value("created") {
            Some(Value::String(_)) => params.i64("created")?,
            _ => None,
        };
        Ok(Self {
            gt: params.i64("created.gt")?,
            gte: params.i64("created.gte")?,
            lt: params.i64("created.lt")?,
            lte: params.i64("created.lte")?,
            eq,
        })
    }

    fn accepts(&self, t: i64) -> bool {
        self.gt.is_none_or(|v| t > v)
            && self.gte.is_none_or(|v| t >= v)
            && self.lt.is_none_or(|v| t < v)
            && self.lte.is_none_or(|v| t <= v)
            && self.eq.is_none_or(|v| t == v)
    }
}
