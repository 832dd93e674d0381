//! The emulator's objects and their Stripe JSON shapes (API version
//! [`API_VERSION`], the one async-stripe pins). Every shape is checked by tests that
//! deserialize it with async-stripe's own types.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The API version async-stripe 1.0.0-rc.10 pins and sends.
pub const API_VERSION: &str = "2026-09-30.endive";

/// Entitlements embedded in a summary event before `has_more`.
pub const SUMMARY_EMBED_LIMIT: usize = 10;

pub type Metadata = BTreeMap<String, String>;

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub metadata: Metadata,
    pub created: i64,
    pub deleted: bool,
    /// Stripe's customer balance in cents: negative is credit applied to the next invoices.
    pub balance: i64,
    pub invoice_prefix: String,
    /// The sequence number of the customer's next finalized invoice.
    pub next_invoice_sequence: u64,
    /// `address` as Stripe renders it (`null` until one is set).
    pub address: Option<Value>,
}

impl Customer {
    pub fn render(&self) -> Value {
        if self.deleted {
            return json!({"id": self.id, "object": "customer", "deleted": true});
        }
        json!({
            "id": self.id, "object": "customer", "address": self.address, "balance": self.balance, "created": self.created,
            "currency": "usd", "default_source": null, "delinquent": false, "description": null, "discount": null,
            "email": self.email, "invoice_prefix": self.invoice_prefix,
            "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
            "livemode": false, "metadata": self.metadata, "name": self.name, "next_invoice_sequence": self.next_invoice_sequence, "phone": null,
            "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": null
        })
    }
}

#[derive(Debug, Clone)]
pub struct Feature {
    pub id: String,
    pub lookup_key: String,
    pub name: String,
}

impl Feature {
    pub fn render(&self) -> Value {
        json!({"id": self.id, "object": "entitlements.feature", "active": true, "livemode": false, "lookup_key": self.lookup_key, "metadata": {}, "name": self.name})
    }
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub feature_ids: Vec<String>,
    pub metadata: Metadata,
    pub created: i64,
}

impl Product {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "product", "active": true, "created": self.created, "default_price": null,
            "description": self.description, "images": [], "livemode": false, "marketing_features": [], "metadata": self.metadata,
            "name": self.name, "package_dimensions": null, "shippable": null, "statement_descriptor": null, "tax_code": null,
            "type": "service", "unit_label": null, "updated": self.created, "url": null
        })
    }
}

#[derive(Debug, Clone)]
pub struct Price {
    pub id: String,
    pub product: String,
    pub lookup_key: Option<String>,
    pub unit_amount: i64,
    pub currency: String,
    /// `month` / `year`; `None` for one-time prices.
    pub interval: Option<&'static str>,
    pub metadata: Metadata,
    pub created: i64,
    pub active: bool,
    /// The billing meter (`mtr_…`) of a metered price (`recurring.usage_type = metered`): billed
    /// in arrears from the meter's aggregated events; `None` for licensed and one-time prices.
    pub meter: Option<String>,
    /// The same price in other currencies (`currency_options`): currency → unit amount.
    pub currency_options: std::collections::BTreeMap<String, i64>,
}

impl Price {
    /// Billed from a meter's usage rather than by quantity.
    pub fn metered(&self) -> bool {
        self.meter.is_some()
    }

    fn usage_type(&self) -> &'static str {
        if self.metered() { "metered" } else { "licensed" }
    }

    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "price", "active": self.active, "billing_scheme": "per_unit", "created": self.created,
            "currency": self.currency, "custom_unit_amount": null, "livemode": false, "lookup_key": self.lookup_key,
            "metadata": self.metadata, "nickname": null, "product": self.product,
            "recurring": self.interval.map(|i| json!({"interval": i, "interval_count": 1, "meter": self.meter, "trial_period_days": null, "usage_type": self.usage_type()})),
            "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null,
            "type": if self.interval.is_some() { "recurring" } else { "one_time" },
            "unit_amount": self.unit_amount, "unit_amount_decimal": self.unit_amount.to_string()
        })
    }

    /// [`Price::render`] with `currency_options` (every currency the price is sold in, its own
    /// included), which Stripe sends only when asked (`expand[]=currency_options`).
    pub fn render_with_currency_options(&self) -> Value {
        let mut rendered = self.render();
        let option = |amount: i64| json!({"custom_unit_amount": null, "tax_behavior": "unspecified", "unit_amount": amount, "unit_amount_decimal": amount.to_string()});
        let mut options = serde_json::Map::new();
        options.insert(self.currency.clone(), option(self.unit_amount));
        for (currency, amount) in &self.currency_options {
            options.insert(currency.clone(), option(*amount));
        }
        rendered["currency_options"] = Value::Object(options);
        rendered
    }

    /// The unit amount in `currency`: the price's own, or one of its `currency_options`.
    pub fn amount_in(&self, currency: &str) -> Option<i64> {
        if currency == self.currency {
            Some(self.unit_amount)
        } else {
            self.currency_options.get(currency).copied()
        }
    }

    /// The legacy `plan` object Stripe still embeds in subscription items.
    pub fn render_plan(&self) -> Value {
        json!({
            "id": self.id, "object": "plan", "active": true, "amount": self.unit_amount, "amount_decimal": self.unit_amount.to_string(),
            "billing_scheme": "per_unit", "created": self.created, "currency": self.currency, "interval": self.interval.unwrap_or("month"),
            "interval_count": 1, "livemode": false, "metadata": {}, "meter": self.meter, "nickname": null, "product": self.product,
            "tiers_mode": null, "transform_usage": null, "trial_period_days": null, "usage_type": self.usage_type()
        })
    }

    /// Seconds in one billing period.
    pub fn period_seconds(&self) -> i64 {
        match self.interval {
            Some("year") => 365 * DAY,
            Some("week") => 7 * DAY,
            Some("day") => DAY,
            _ => 30 * DAY,
        }
    }
}

pub const DAY: i64 = 86_400;

/// Which test card paid, deciding future renewals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    /// 4242 4242 4242 4242: every payment succeeds.
    Succeeds,
    /// 4000 0000 0000 0341: attaches and pays now, fails every later charge.
    FailsLater,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardOutcome {
    Card(Card),
    Declined(&'static str),
    Unknown,
}

/// Stripe's test card numbers this emulator understands (spaces and dashes ignored).
pub fn classify_card(number: &str) -> CardOutcome {
    let digits: String = number.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    match digits.as_str() {
        "4242424242424242" | "5555555555554444" => CardOutcome::Card(Card::Succeeds),
        "4000000000000341" => CardOutcome::Card(Card::FailsLater),
        "4000000000009995" => CardOutcome::Declined("insufficient_funds"),
        "4000000000000002" => CardOutcome::Declined("generic_decline"),
        "4000000000009987" => CardOutcome::Declined("lost_card"),
        _ => CardOutcome::Unknown,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub price: String,
    /// `0` for a metered price, which has no quantity (rendered without one).
    pub quantity: u64,
}

#[derive(Debug, Clone)]
pub struct CheckoutSession {
    pub id: String,
    pub mode: String,
    pub status: String,
    pub payment_status: String,
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    pub customer_creation: Option<String>,
    pub client_reference_id: Option<String>,
    pub metadata: Metadata,
    pub line_items: Vec<LineItem>,
    pub trial_period_days: Option<u32>,
    pub subscription_metadata: Metadata,
    pub allow_promotion_codes: bool,
    /// The promotion code applied on the hosted page, and the discount it gave.
    pub promotion_code: Option<String>,
    pub amount_discount: i64,
    pub success_url: String,
    pub cancel_url: Option<String>,
    pub subscription: Option<String>,
    pub invoice: Option<String>,
    pub payment_intent: Option<String>,
    pub amount_total: i64,
    pub currency: String,
    pub url: String,
    pub created: i64,
    pub expires_at: i64,
    /// `billing_address_collection` (`auto`, `required`), as asked.
    pub billing_address_collection: Option<String>,
    /// `automatic_tax[enabled]`: tax computed (as zero here) from the customer's address.
    pub automatic_tax: bool,
    /// `tax_id_collection[enabled]`.
    pub tax_id_collection: bool,
    /// `customer_update[address]` (`auto`, `never`).
    pub customer_update_address: Option<String>,
}

impl CheckoutSession {
    pub fn render(&self, customer_email: Option<&str>) -> Value {
        let complete = self.status == "complete";
        json!({
            "id": self.id, "object": "checkout.session", "adaptive_pricing": null, "after_expiration": null,
            "allow_promotion_codes": self.allow_promotion_codes, "amount_subtotal": self.amount_total + self.amount_discount, "amount_total": self.amount_total,
            "automatic_tax": if self.automatic_tax {
                json!({"enabled": true, "liability": {"type": "self"}, "provider": "stripe", "status": if complete { "complete" } else { "requires_location_inputs" }})
            } else {
                json!({"enabled": false, "liability": null, "provider": null, "status": null})
            },
            "billing_address_collection": self.billing_address_collection, "cancel_url": self.cancel_url, "client_reference_id": self.client_reference_id,
            "client_secret": null, "consent": null, "consent_collection": null, "created": self.created, "currency": self.currency,
            "custom_fields": [], "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
            "customer": self.customer, "customer_creation": self.customer_creation,
            "customer_details": if complete { json!({"address": null, "email": customer_email, "name": null, "phone": null, "tax_exempt": "none", "tax_ids": []}) } else { Value::Null },
            "customer_email": self.customer_email, "expires_at": self.expires_at, "invoice": self.invoice, "invoice_creation": null,
            "livemode": false, "locale": null, "metadata": self.metadata, "mode": self.mode, "payment_intent": self.payment_intent,
            "payment_link": null, "payment_method_collection": "always", "payment_method_types": ["card"],
            "payment_status": self.payment_status, "phone_number_collection": {"enabled": false}, "recovered_from": null,
            "setup_intent": null, "shipping_address_collection": null, "shipping_cost": null, "shipping_options": [],
            "status": self.status, "submit_type": null, "subscription": self.subscription, "success_url": self.success_url,
            "tax_id_collection": {"enabled": self.tax_id_collection, "required": "never"},
            "total_details": {"amount_discount": self.amount_discount, "amount_shipping": 0, "amount_tax": 0}, "ui_mode": "hosted_page",
            "url": if self.status == "open" { Value::String(self.url.clone()) } else { Value::Null }
        })
    }
}

#[derive(Debug, Clone)]
pub struct PortalSession {
    pub id: String,
    pub customer: String,
    pub return_url: Option<String>,
    pub flow: Option<String>,
    pub url: String,
    pub created: i64,
}

impl PortalSession {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "billing_portal.session", "configuration": "bpc_emulator_default", "created": self.created,
            "customer": self.customer, "flow": self.flow.as_ref().map(|f| json!({"type": f, "after_completion": {"type": "portal_homepage", "hosted_confirmation": null, "redirect": null}})),
            "livemode": false, "locale": null, "on_behalf_of": null, "return_url": self.return_url, "url": self.url
        })
    }
}

#[derive(Debug, Clone)]
pub struct SubscriptionItem {
    pub id: String,
    pub price: String,
    /// `0` for a metered price, which has no quantity (rendered without one).
    pub quantity: u64,
    pub created: i64,
    /// Usage of a metered price counts from here (the item's creation or its last price change):
    /// with `billing_mode=classic`, usage before a price change is not billed.
    pub usage_from: i64,
}

/// Stripe's `cancellation_details[feedback]` values.
pub const CANCELLATION_FEEDBACK: &[&str] = &[
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
];

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    /// The currency it bills in (the Checkout Session's): every price is charged at its amount
    /// in it (the price's own, or one of its `currency_options`).
    pub currency: String,
    pub items: Vec<SubscriptionItem>,
    pub cancel_at_period_end: bool,
    /// An explicit `cancel_at` (not the period end that `cancel_at_period_end` implies).
    pub cancel_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub period_start: i64,
    pub period_end: i64,
    pub billing_cycle_anchor: i64,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    pub metadata: Metadata,
    pub created: i64,
    pub latest_invoice: Option<String>,
    pub card: Card,
    /// When the first failed renewal happened (dunning start).
    pub failing_since: Option<i64>,
    /// Next payment retry while past_due.
    pub next_retry: Option<i64>,
    pub trial_will_end_sent: bool,
    pub cancellation_reason: Option<&'static str>,
    pub cancellation_comment: Option<String>,
    pub cancellation_feedback: Option<String>,
    /// The subscription schedule managing this subscription.
    pub schedule: Option<String>,
}

impl Subscription {
    /// When the subscription is set to end: the period end with `cancel_at_period_end`, else
    /// an explicit `cancel_at`.
    pub fn effective_cancel_at(&self) -> Option<i64> {
        if self.cancel_at_period_end {
            Some(self.period_end)
        } else {
            self.cancel_at
        }
    }

    pub fn render(&self, prices: &BTreeMap<String, Price>) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|item| {
                let price = prices.get(&item.price);
                let mut rendered = json!({
                    "id": item.id, "object": "subscription_item", "billing_thresholds": null, "created": item.created,
                    "current_period_end": self.period_end, "current_period_start": self.period_start, "discounts": [], "metadata": {},
                    "plan": price.map(Price::render_plan), "price": price.map(Price::render), "quantity": item.quantity,
                    "subscription": self.id, "tax_rates": []
                });
                // Stripe leaves `quantity` out of a metered item.
                if price.is_some_and(Price::metered) {
                    rendered.as_object_mut().expect("an object").remove("quantity");
                }
                rendered
            })
            .collect();
        let currency = &self.currency;
        json!({
            "id": self.id, "object": "subscription", "application": null, "application_fee_percent": null,
            "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
            "billing_cycle_anchor": self.billing_cycle_anchor, "billing_cycle_anchor_config": null,
            "billing_mode": {"flexible": null, "type": "classic", "updated_at": null}, "billing_schedules": [], "billing_thresholds": null,
            "cancel_at": self.effective_cancel_at(), "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": self.canceled_at,
            "cancellation_details": {"comment": self.cancellation_comment, "feedback": self.cancellation_feedback, "reason": self.cancellation_reason},
            "collection_method": "charge_automatically", "created": self.created, "currency": currency,
            "current_period_end": self.period_end, "current_period_start": self.period_start,
            "customer": self.customer, "days_until_due": null, "default_payment_method": null, "default_source": null,
            "description": null, "discounts": [], "ended_at": self.ended_at,
            "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
            "items": {"object": "list", "data": items, "has_more": false, "url": format!("/v1/subscription_items?subscription={}", self.id)},
            "latest_invoice": self.latest_invoice, "livemode": false, "metadata": self.metadata, "next_pending_invoice_item_invoice": null,
            "on_behalf_of": null, "pause_collection": null, "pending_invoice_item_interval": null, "pending_setup_intent": null,
            "pending_update": null, "schedule": self.schedule, "start_date": self.created, "status": self.status, "test_clock": null,
            "transfer_data": null, "trial_end": self.trial_end, "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": self.trial_start
        })
    }

    /// Stripe keeps entitlements while a subscription is in one of these states.
    pub fn provisions_entitlements(&self) -> bool {
        matches!(self.status.as_str(), "active" | "trialing" | "past_due")
    }
}

/// A pending or invoiced invoice item (`ii_…`); the emulator makes them for prorations.
#[derive(Debug, Clone)]
pub struct InvoiceItem {
    pub id: String,
    pub customer: String,
    pub subscription: Option<String>,
    pub subscription_item: Option<String>,
    pub price: String,
    pub quantity: u64,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub period_start: i64,
    pub period_end: i64,
    pub proration: bool,
    /// The invoice that billed it; `None` while pending.
    pub invoice: Option<String>,
    pub date: i64,
}

impl InvoiceItem {
    pub fn render(&self, prices: &BTreeMap<String, Price>) -> Value {
        let product = prices.get(&self.price).map(|p| p.product.clone());
        json!({
            "id": self.id, "object": "invoiceitem", "amount": self.amount, "currency": self.currency, "customer": self.customer,
            "customer_account": null, "date": self.date, "description": self.description, "discountable": !self.proration,
            "discounts": [], "invoice": self.invoice, "livemode": false, "metadata": {}, "net_amount": self.amount,
            "parent": self.subscription.as_ref().map(|sub| json!({
                "type": "subscription_details",
                "subscription_details": {"subscription": sub, "subscription_item": self.subscription_item}
            })),
            "period": {"end": self.period_end, "start": self.period_start},
            "pricing": {"price_details": {"price": self.price, "product": product}, "type": "price_details", "unit_amount_decimal": unit_amount_decimal(self.amount, self.quantity)},
            "proration": self.proration,
            "proration_details": {"credited_items": null, "discount_amounts": []},
            "quantity": self.quantity, "quantity_decimal": self.quantity.to_string(), "tax_rates": [], "test_clock": null
        })
    }
}

/// `amount / quantity` as Stripe's decimal string.
fn unit_amount_decimal(amount: i64, quantity: u64) -> String {
    let quantity = quantity.max(1) as i64;
    if amount % quantity == 0 {
        (amount / quantity).to_string()
    } else {
        let value = format!("{:.12}", amount as f64 / quantity as f64);
        value.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

#[derive(Debug, Clone)]
pub struct InvoiceLine {
    pub id: String,
    pub price: String,
    pub quantity: u64,
    pub amount: i64,
    pub description: String,
    pub period_start: i64,
    pub period_end: i64,
    pub proration: bool,
    /// The invoice item billed on this line (prorations), `None` for a subscription item's cycle.
    pub invoice_item: Option<String>,
    pub subscription_item: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: String,
    pub customer: String,
    pub subscription: Option<String>,
    /// `draft` (previews), `open`, `paid`.
    pub status: String,
    pub billing_reason: &'static str,
    pub currency: String,
    /// Sum of the lines.
    pub total: i64,
    /// The customer's balance before this invoice, and after it was finalized.
    pub starting_balance: i64,
    pub ending_balance: Option<i64>,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub attempt_count: u64,
    pub period_start: i64,
    pub period_end: i64,
    pub created: i64,
    pub finalized_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub next_payment_attempt: Option<i64>,
    pub lines: Vec<InvoiceLine>,
    pub subscription_metadata: Metadata,
    pub number: Option<String>,
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
}

impl Invoice {
    pub fn render_line(&self, line: &InvoiceLine, prices: &BTreeMap<String, Price>) -> Value {
        let product = prices.get(&line.price).map(|p| p.product.clone());
        // A metered line's unit amount is its price's (its quantity may be 0).
        let unit_amount = match prices.get(&line.price).filter(|p| p.metered()) {
            Some(price) => price.unit_amount.to_string(),
            None => unit_amount_decimal(line.amount, line.quantity),
        };
        let parent = match (&line.subscription_item, &line.invoice_item) {
            (Some(si), _) => json!({
                "type": "subscription_item_details", "invoice_item_details": null,
                "subscription_item_details": {
                    "invoice_item": line.invoice_item, "proration": line.proration,
                    "proration_details": {"credited_items": null}, "subscription": self.subscription, "subscription_item": si
                }
            }),
            (None, Some(ii)) => json!({
                "type": "invoice_item_details", "subscription_item_details": null,
                "invoice_item_details": {
                    "invoice_item": ii, "proration": line.proration, "proration_details": {"credited_items": null},
                    "subscription": self.subscription
                }
            }),
            (None, None) => Value::Null,
        };
        json!({
            "id": line.id, "object": "line_item", "amount": line.amount, "currency": self.currency, "description": line.description,
            "discount_amounts": [], "discountable": !line.proration, "discounts": [], "invoice": self.id, "livemode": false, "metadata": {},
            "parent": parent, "period": {"end": line.period_end, "start": line.period_start}, "pretax_credit_amounts": [],
            "pricing": {"price_details": {"price": line.price, "product": product}, "type": "price_details", "unit_amount_decimal": unit_amount},
            "quantity": line.quantity, "quantity_decimal": line.quantity.to_string(), "subscription": self.subscription, "subtotal": line.amount, "taxes": []
        })
    }

    pub fn render(&self, prices: &BTreeMap<String, Price>) -> Value {
        let lines: Vec<Value> = self.lines.iter().map(|line| self.render_line(line, prices)).collect();
        let paid = self.status == "paid";
        let draft = self.status == "draft";
        json!({
            "id": self.id, "object": "invoice", "account_country": "US", "account_name": "Stripe Emulator",
            "amount_due": self.amount_due, "amount_overpaid": 0, "amount_paid": self.amount_paid,
            "amount_remaining": self.amount_due - self.amount_paid, "amount_shipping": 0, "application": null,
            "attempt_count": self.attempt_count, "attempted": self.attempt_count > 0, "auto_advance": !paid && !draft,
            "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null},
            "automatically_finalizes_at": null,
            "billing_reason": self.billing_reason, "collection_method": "charge_automatically", "created": self.created,
            "currency": self.currency, "customer": self.customer, "customer_account": null, "default_tax_rates": [], "description": null, "discounts": [],
            "due_date": null, "effective_at": self.finalized_at, "ending_balance": self.ending_balance,
            "hosted_invoice_url": self.hosted_invoice_url, "invoice_pdf": self.invoice_pdf,
            "issuer": {"type": "self"}, "last_finalization_error": null,
            "lines": {"object": "list", "data": lines, "has_more": false, "url": format!("/v1/invoices/{}/lines", self.id)},
            "livemode": false, "metadata": {}, "next_payment_attempt": self.next_payment_attempt, "number": self.number,
            "parent": self.subscription.as_ref().map(|sub| json!({
                "quote_details": null, "type": "subscription_details",
                "subscription_details": {"metadata": self.subscription_metadata, "subscription": sub}
            })),
            "payment_settings": {"default_mandate": null, "payment_method_options": null, "payment_method_types": null},
            "period_end": self.period_end, "period_start": self.period_start, "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0, "receipt_number": null, "starting_balance": self.starting_balance, "status": self.status,
            "status_transitions": {"finalized_at": self.finalized_at, "marked_uncollectible_at": null, "paid_at": self.paid_at, "voided_at": null},
            "subtotal": self.total, "subtotal_excluding_tax": self.total, "total": self.total, "total_discount_amounts": [],
            "total_excluding_tax": self.total, "total_pretax_credit_amounts": [], "total_taxes": [], "webhooks_delivered_at": self.finalized_at
        })
    }
}

/// One phase of a subscription schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulePhase {
    pub start_date: i64,
    pub end_date: i64,
    pub items: Vec<LineItem>,
    pub proration_behavior: String,
    pub metadata: Metadata,
    pub currency: String,
    /// The phase is a trial until then (`None`: no trial: entering it ends a running trial).
    pub trial_end: Option<i64>,
    /// `(coupon | discount | promotion_code, id)`, kept and rendered as given.
    pub discounts: Vec<(String, String)>,
    pub default_tax_rates: Vec<String>,
    pub default_payment_method: Option<String>,
    pub collection_method: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SubscriptionSchedule {
    pub id: String,
    pub customer: String,
    pub subscription: Option<String>,
    /// `not_started`, `active`, `completed`, `released`, `canceled`.
    pub status: String,
    pub end_behavior: String,
    pub phases: Vec<SchedulePhase>,
    /// Index of the phase in effect while active.
    pub current: usize,
    pub metadata: Metadata,
    pub created: i64,
    pub canceled_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub released_at: Option<i64>,
    pub released_subscription: Option<String>,
}

impl SubscriptionSchedule {
    pub fn render(&self) -> Value {
        let phases: Vec<Value> = self
            .phases
            .iter()
            .map(|phase| {
                let items: Vec<Value> = phase
                    .items
                    .iter()
                    .map(|item| {
                        let mut rendered = json!({
                            "billing_thresholds": null, "discounts": [], "metadata": {}, "plan": item.price, "price": item.price,
                            "quantity": item.quantity, "tax_rates": []
                        });
                        // A metered price's item has no quantity.
                        if item.quantity == 0 {
                            rendered.as_object_mut().expect("an object").remove("quantity");
                        }
                        rendered
                    })
                    .collect();
                json!({
                    "add_invoice_items": [], "application_fee_percent": null, "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
                    "billing_cycle_anchor": null, "billing_thresholds": null, "collection_method": phase.collection_method, "currency": phase.currency,
                    "default_payment_method": phase.default_payment_method, "default_tax_rates": phase.default_tax_rates.iter().map(|id| json!({"id": id, "object": "tax_rate"})).collect::<Vec<_>>(),
                    "description": null,
                    "discounts": phase.discounts.iter().map(|(kind, id)| {
                        let mut d = json!({"coupon": null, "discount": null, "promotion_code": null});
                        d[kind.as_str()] = id.as_str().into();
                        d
                    }).collect::<Vec<_>>(),
                    "end_date": phase.end_date, "invoice_settings": null, "items": items, "metadata": phase.metadata,
                    "on_behalf_of": null, "proration_behavior": phase.proration_behavior, "start_date": phase.start_date,
                    "transfer_data": null, "trial_end": phase.trial_end
                })
            })
            .collect();
        let current_phase = (self.status == "active")
            .then(|| self.phases.get(self.current))
            .flatten()
            .map(|p| json!({"end_date": p.end_date, "start_date": p.start_date}));
        json!({
            "id": self.id, "object": "subscription_schedule", "application": null,
            "billing_mode": {"flexible": null, "type": "classic", "updated_at": null},
            "canceled_at": self.canceled_at, "completed_at": self.completed_at, "created": self.created,
            "current_phase": current_phase, "customer": self.customer, "customer_account": null,
            "default_settings": {
                "application_fee_percent": null, "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
                "billing_cycle_anchor": "automatic", "billing_thresholds": null, "collection_method": "charge_automatically",
                "default_payment_method": null, "description": null,
                "invoice_settings": {"account_tax_ids": null, "custom_fields": null, "days_until_due": null, "description": null, "footer": null, "issuer": {"type": "self"}},
                "on_behalf_of": null, "transfer_data": null
            },
            "end_behavior": self.end_behavior, "livemode": false, "metadata": self.metadata, "pause_schedules": [], "phases": phases,
            "released_at": self.released_at, "released_subscription": self.released_subscription, "status": self.status,
            "subscription": self.subscription, "test_clock": null
        })
    }
}

#[derive(Debug, Clone)]
pub struct ActiveEntitlement {
    pub id: String,
    pub feature: String,
    pub lookup_key: String,
}

impl ActiveEntitlement {
    pub fn render(&self) -> Value {
        json!({"id": self.id, "object": "entitlements.active_entitlement", "feature": self.feature, "livemode": false, "lookup_key": self.lookup_key})
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    pub object: Value,
    pub previous_attributes: Option<Value>,
}

impl Event {
    pub fn render(&self) -> Value {
        let mut data = json!({"object": self.object});
        if let Some(previous) = &self.previous_attributes {
            data["previous_attributes"] = previous.clone();
        }
        json!({
            "id": self.id, "object": "event", "api_version": API_VERSION, "context": null, "created": self.created, "data": data,
            "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": self.event_type
        })
    }
}

/// A promotion code customers can enter on the hosted Checkout page (seeded: `FREE100`, `HALF50`).
#[derive(Debug, Clone)]
pub struct PromotionCode {
    pub id: String,
    pub code: String,
    pub coupon: String,
    pub percent_off: u32,
}

#[derive(Debug, Clone)]
pub struct Charge {
    pub id: String,
    pub payment_intent: String,
    pub customer: Option<String>,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub dispute: Option<String>,
    pub created: i64,
}

impl Charge {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "charge", "amount": self.amount, "amount_captured": self.amount,
            "amount_refunded": self.amount_refunded, "balance_transaction": null, "billing_details": {"address": null, "email": null, "name": null, "phone": null},
            "captured": true, "created": self.created, "currency": self.currency, "customer": self.customer, "description": null,
            "disputed": self.dispute.is_some(), "failure_code": null, "failure_message": null, "livemode": false, "metadata": {},
            "outcome": {"network_status": "approved_by_network", "reason": null, "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"},
            "paid": true, "payment_intent": self.payment_intent, "payment_method": null, "receipt_url": null,
            "refunded": self.amount_refunded >= self.amount, "status": "succeeded"
        })
    }
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub charge: String,
    pub payment_intent: String,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub created: i64,
}

impl Refund {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "refund", "amount": self.amount, "balance_transaction": null, "charge": self.charge,
            "created": self.created, "currency": self.currency, "metadata": {}, "payment_intent": self.payment_intent,
            "reason": self.reason, "receipt_number": null, "source_transfer_reversal": null, "status": "succeeded", "transfer_reversal": null,
            "customer": null, "customer_account": null, "destination_details": {"card": {"type": "reversal"}, "type": "card"}, "payment_method": null
        })
    }
}

#[derive(Debug, Clone)]
pub struct Dispute {
    pub id: String,
    pub charge: String,
    pub payment_intent: String,
    pub amount: i64,
    pub currency: String,
    /// `needs_response`, `won`, `lost`.
    pub status: String,
    pub created: i64,
}

impl Dispute {
    pub fn render(&self) -> Value {
        let evidence = [
            "access_activity_log",
            "billing_address",
            "cancellation_policy",
            "cancellation_policy_disclosure",
            "cancellation_rebuttal",
            "customer_communication",
            "customer_email_address",
            "customer_name",
            "customer_purchase_ip",
            "customer_signature",
            "duplicate_charge_documentation",
            "duplicate_charge_explanation",
            "duplicate_charge_id",
            "product_description",
            "receipt",
            "refund_policy",
            "refund_policy_disclosure",
            "refund_refusal_explanation",
            "service_date",
            "service_documentation",
            "shipping_address",
            "shipping_carrier",
            "shipping_date",
            "shipping_documentation",
            "shipping_tracking_number",
            "uncategorized_file",
            "uncategorized_text",
        ];
        let mut evidence: serde_json::Map<String, Value> = evidence.iter().map(|k| ((*k).to_owned(), Value::Null)).collect();
        evidence.insert("enhanced_evidence".into(), json!({}));
        json!({
            "id": self.id, "object": "dispute", "amount": self.amount, "balance_transactions": [], "charge": self.charge,
            "created": self.created, "currency": self.currency, "enhanced_eligibility_types": [], "evidence": evidence,
            "evidence_details": {"due_by": self.created + 14 * DAY, "enhanced_eligibility": {}, "has_evidence": false, "past_due": false, "submission_count": 0},
            "is_charge_refundable": false, "livemode": false, "metadata": {}, "network_reason_code": null,
            "payment_intent": self.payment_intent,
            "payment_method_details": {"card": {"brand": "visa", "case_type": "chargeback", "network": "visa", "network_reason_code": "10.4"}, "type": "card"},
            "reason": "fraudulent", "status": self.status
        })
    }
}

/// A Billing Meter (`billing.meter`, `mtr_test_…`): how meter events with its `event_name` are
/// mapped to a customer and aggregated.
#[derive(Debug, Clone)]
pub struct Meter {
    pub id: String,
    pub display_name: String,
    pub event_name: String,
    /// `sum`, `count` or `last`.
    pub formula: String,
    /// The payload key naming the customer (`stripe_customer_id`), mapped `by_id`.
    pub customer_key: String,
    /// The payload key holding the value (`value`).
    pub value_key: String,
    /// Pre-aggregated events (`day`, `hour`): the last event received in each window counts.
    pub event_time_window: Option<String>,
    /// `active` or `inactive`.
    pub status: String,
    pub deactivated_at: Option<i64>,
    pub created: i64,
    pub updated: i64,
}

impl Meter {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "billing.meter", "created": self.created,
            "customer_mapping": {"event_payload_key": self.customer_key, "type": "by_id"},
            "default_aggregation": {"formula": self.formula}, "display_name": self.display_name, "event_name": self.event_name,
            "event_time_window": self.event_time_window, "livemode": false, "status": self.status,
            "status_transitions": {"deactivated_at": self.deactivated_at}, "updated": self.updated,
            "value_settings": {"event_payload_key": self.value_key}
        })
    }
}

/// A recorded meter event (`billing.meter_event`), kept with what the meter read from it.
#[derive(Debug, Clone)]
pub struct MeterEvent {
    pub identifier: String,
    pub event_name: String,
    pub payload: Metadata,
    pub timestamp: i64,
    pub created: i64,
    /// The meter that counts it, the customer it maps to and its value (a whole number, possibly
    /// negative; 0 when the meter counts events).
    pub meter: String,
    pub customer: String,
    pub value: i64,
    /// Order of arrival (the `last` formula and pre-aggregated windows keep the latest).
    pub seq: u64,
}

impl MeterEvent {
    pub fn render(&self) -> Value {
        json!({
            "object": "billing.meter_event", "created": self.created, "event_name": self.event_name,
            "identifier": self.identifier, "livemode": false, "payload": self.payload, "timestamp": self.timestamp
        })
    }
}

/// A list envelope as Stripe renders it.
pub fn list(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({"object": "list", "data": data, "has_more": has_more, "url": url})
}
