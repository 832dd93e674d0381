//! Subscriptions and their items, with the cancellation details Stripe records, their
//! discounts, paused collection and trial settings.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Metadata, Price};

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

/// `pause_collection`: renewals go on, their invoices are not collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseCollection {
    /// `void`, `keep_as_draft` or `mark_uncollectible`: what becomes of each renewal invoice.
    pub behavior: String,
    /// When collection resumes by itself.
    pub resumes_at: Option<i64>,
}

/// `pause_collection[behavior]` values.
pub const PAUSE_BEHAVIORS: &[&str] = &["keep_as_draft", "mark_uncollectible", "void"];

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
    /// The payment method (`pm_…`) that pays it; without one, the customer's
    /// `invoice_settings.default_payment_method` does (and without that, nothing can).
    pub default_payment_method: Option<String>,
    /// The discounts (`di_…`) on its next invoices, in the order applied.
    pub discounts: Vec<String>,
    pub pause_collection: Option<PauseCollection>,
    /// `trial_settings.end_behavior.missing_payment_method`: `create_invoice` (default),
    /// `pause` or `cancel` when the trial ends with no payment method.
    pub missing_payment_method: String,
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
    /// The test clock of its customer (`clock_…`), if any: it lives on that clock's time.
    pub test_clock: Option<String>,
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
            "customer": self.customer, "days_until_due": null, "default_payment_method": self.default_payment_method, "default_source": null,
            "description": null, "discounts": self.discounts, "ended_at": self.ended_at,
            "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
            "items": {"object": "list", "data": items, "has_more": false, "url": format!("/v1/subscription_items?subscription={}", self.id)},
            "latest_invoice": self.latest_invoice, "livemode": false, "metadata": self.metadata, "next_pending_invoice_item_invoice": null,
            "on_behalf_of": null,
            "pause_collection": self.pause_collection.as_ref().map(|p| json!({"behavior": p.behavior, "resumes_at": p.resumes_at})), "pending_invoice_item_interval": null, "pending_setup_intent": null,
            "pending_update": null, "schedule": self.schedule, "start_date": self.created, "status": self.status, "test_clock": self.test_clock,
            "transfer_data": null, "trial_end": self.trial_end, "trial_settings": {"end_behavior": {"missing_payment_method": self.missing_payment_method}},
            "trial_start": self.trial_start
        })
    }

    /// Stripe keeps entitlements while a subscription is in one of these states.
    pub fn provisions_entitlements(&self) -> bool {
        matches!(self.status.as_str(), "active" | "trialing" | "past_due")
    }
}
