//! The emulator's state, split by resource (one file per resource, or per concern of a larger
//! one such as subscriptions or invoices, each an `impl World`), and every state change. Each
//! change records Stripe events in [`World::pending`]; the server hands them to webhook
//! delivery after the change commits.
//! Failed operations return before touching state, so an error response leaves it unchanged.

mod catalog;
mod checkout;
mod checkout_payment;
mod clock;
mod coupons;
mod customers;
mod discounts;
mod entitlements;
mod events;
mod expand;
mod invoice_collection;
mod invoice_reads;
pub mod invoices;
mod meters;
mod pause;
mod payment_methods;
mod payments;
mod portal;
mod schedule_params;
mod schedules;
mod subscription_create;
mod subscription_items;
mod subscription_lifecycle;
mod subscriptions;
mod test_clocks;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use billing::domain::plans::{Catalog, Interval, PlanMode};
use serde_json::{Value, json};

use crate::error::StripeError;
use crate::ids::new_id;
use crate::model::*;
use crate::params::{Params, paginate, paginate_both};

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
    /// A file the emulator keeps its clock's offset from the system clock in (whole seconds),
    /// for the functions of a local run to read (`LOCAL_CLOCK_FILE`).
    pub clock_file: Option<std::path::PathBuf>,
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
            clock_file: None,
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
    /// Never deliver this share of events (0-100, each event drawn on its own): the missed
    /// webhooks that reconcile repairs. A dropped event is recorded as a delivery with no
    /// attempt.
    #[serde(default)]
    pub drop_percent: u8,
}

/// An injected failure or delay: the next `count` requests matching `method` and `path_prefix`
/// get `status` with an `api_error` body, or, without a status, their own answer `delay_ms` late.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Fault {
    #[serde(default)]
    pub method: Option<String>,
    pub path_prefix: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default = "one")]
    pub count: u32,
    /// Fail after the request took effect (a lost response): the change is made, and its
    /// response is stored for the idempotency key, but the client sees the error.
    #[serde(default)]
    pub after: bool,
    /// Hold the answer back this long after the request took effect (a slow network): what the
    /// client finally reads is the state at the time the request was served.
    #[serde(default)]
    pub delay_ms: u64,
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
    /// Never sent (chaos `drop_percent`): a missed webhook.
    pub dropped: bool,
}

impl Delivery {
    /// The delivery of `event` to `url`, before any attempt (`dropped`: never to be made).
    pub fn of(event: &Event, url: &str, dropped: bool) -> Self {
        Self {
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            url: url.to_owned(),
            attempts: Vec::new(),
            delivered: false,
            dropped,
        }
    }
}

/// A stored response for an idempotency key.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub fingerprint: String,
    pub status: u16,
    pub body: Vec<u8>,
}

/// Cloneable so that a preview can run a change on a copy and discard it.
#[derive(Clone)]
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
    pub invoice_items: BTreeMap<String, InvoiceItem>,
    pub schedules: BTreeMap<String, SubscriptionSchedule>,
    pub coupons: BTreeMap<String, Coupon>,
    pub promotion_codes: BTreeMap<String, PromotionCode>,
    pub discounts: BTreeMap<String, Discount>,
    pub payment_methods: BTreeMap<String, PaymentMethod>,
    pub charges: BTreeMap<String, Charge>,
    pub refunds: BTreeMap<String, Refund>,
    pub disputes: BTreeMap<String, Dispute>,
    pub meters: BTreeMap<String, Meter>,
    /// Meter events in order of arrival (identifiers unique: a repeated one is refused).
    pub meter_events: Vec<MeterEvent>,
    /// Meter event identifiers and when they were recorded (forgotten after 24 hours).
    meter_identifiers: HashMap<String, i64>,
    /// Active entitlements per customer.
    pub entitlements: BTreeMap<String, Vec<ActiveEntitlement>>,
    pub events: Vec<Event>,
    /// Events recorded by the current operation, not yet handed to delivery.
    pub pending: Vec<Event>,
    pub deliveries: Vec<Delivery>,
    pub idempotency: HashMap<String, StoredResponse>,
    /// Creation order, for newest-first lists.
    seq: u64,
    order: HashMap<String, u64>,
    pub test_clocks: BTreeMap<String, TestClock>,
    /// The test clock the current request's objects live on (see `test_clocks`): while set,
    /// [`World::now`] is its `frozen_time`.
    scope: Option<String>,
}

fn real_now() -> i64 {
    billing::now_epoch()
}

impl World {
    /// A world seeded from the plans catalog: one product per paid plan, one price per
    /// interval (with the catalog's lookup key or price id), one feature per feature key, one
    /// billing meter per distinct `usage` meter and one metered price per usage price.
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
            invoice_items: BTreeMap::new(),
            schedules: BTreeMap::new(),
            coupons: BTreeMap::new(),
            promotion_codes: BTreeMap::new(),
            discounts: BTreeMap::new(),
            payment_methods: BTreeMap::new(),
            charges: BTreeMap::new(),
            refunds: BTreeMap::new(),
            disputes: BTreeMap::new(),
            meters: BTreeMap::new(),
            meter_events: Vec::new(),
            meter_identifiers: HashMap::new(),
            entitlements: BTreeMap::new(),
            events: Vec::new(),
            pending: Vec::new(),
            deliveries: Vec::new(),
            idempotency: HashMap::new(),
            seq: 0,
            order: HashMap::new(),
            test_clocks: BTreeMap::new(),
            scope: None,
        };
        world.seed(catalog);
        world.write_clock_file();
        world
    }

    /// Writes the clock's offset to [`Settings::clock_file`], if there is one.
    pub(crate) fn write_clock_file(&self) {
        if let Some(path) = &self.settings.clock_file
            && let Err(err) = std::fs::write(path, format!("{}\n", self.offset))
        {
            tracing::warn!(error = %err, path = %path.display(), "the clock file could not be written");
        }
    }

    fn seed(&mut self, catalog: &Catalog) {
        let now = self.now();
        self.seed_promotion_codes(now);
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
        let mut meter_ids: BTreeMap<String, String> = BTreeMap::new();
        for name in catalog
            .plans()
            .iter()
            .flat_map(|p| p.usage.values())
            .filter_map(|u| u.meter.as_ref())
        {
            if !meter_ids.contains_key(name) {
                let id = self.seed_meter(name, now);
                meter_ids.insert(name.clone(), id);
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
                        active: true,
                        meter: None,
                        currency_options: price.currency_options.clone(),
                    },
                );
                self.track(&id);
            }
            for (feature, rule) in &plan.usage {
                let Some(meter) = rule.meter.as_ref().and_then(|name| meter_ids.get(name)) else {
                    continue;
                };
                // Metered prices live on a product of their own, without entitlement features:
                // a subscription keeping a metered item after a downgrade must not keep the
                // plan's features (Stripe entitles the features of every item's product).
                let usage_product = new_id("prod");
                self.products.insert(
                    usage_product.clone(),
                    Product {
                        id: usage_product.clone(),
                        name: format!("{} {}", plan.name, feature.replace(['_', '.', ':', '-'], " ")),
                        description: None,
                        feature_ids: Vec::new(),
                        metadata: Metadata::from([("plan".to_owned(), plan.id.clone()), ("feature".to_owned(), feature.clone())]),
                        created: now,
                    },
                );
                self.track(&usage_product);
                for (interval, price) in &rule.prices {
                    let interval = match interval {
                        Interval::Month => "month",
                        Interval::Year => "year",
                        Interval::OneTime => continue,
                    };
                    let id = price.price.clone().unwrap_or_else(|| new_id("price"));
                    let metadata = Metadata::from([("plan".to_owned(), plan.id.clone()), ("feature".to_owned(), feature.clone())]);
                    self.prices.insert(
                        id.clone(),
                        Price {
                            id: id.clone(),
                            product: usage_product.clone(),
                            lookup_key: price.lookup_key.clone(),
                            unit_amount: price.amount,
                            currency: price.currency.clone(),
                            interval: Some(interval),
                            metadata,
                            created: now,
                            active: true,
                            meter: Some(meter.clone()),
                            currency_options: price.currency_options.clone(),
                        },
                    );
                    self.track(&id);
                }
            }
        }
    }

    /// The emulator clock (real time plus every advance), or the `frozen_time` of the test
    /// clock in scope.
    pub fn now(&self) -> i64 {
        match self.scope.as_ref().and_then(|id| self.test_clocks.get(id)) {
            Some(clock) => clock.frozen_time,
            None => real_now() + self.offset,
        }
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
}
