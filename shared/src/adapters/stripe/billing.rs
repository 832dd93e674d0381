//! Subscription management calls of the Stripe port: change, cancel and resume a subscription,
//! Subscription Schedules for changes at period end, invoice previews and the invoice list.
//!
//! Parameters are encoded the way async-stripe encodes its own request structs (`serde_qs`
//! over a JSON object: `items[0][price]=…`); answers are read into the domain's types.

use serde_json::{Map, Value, json};
use stripe_client_core::{RequestBuilder, StripeMethod};

use super::{GatewayError, Stripe};
use crate::domain::invoices::{InvoicePreview, InvoiceSummary, Proration, parse_preview};
use crate::domain::objects::{SubscriptionSnapshot, parse_subscription};
use crate::domain::schedules::{ScheduleSnapshot, parse_schedule};
use crate::domain::stripe_wire::{self as wire, List, read};

/// The item of a subscription after a change: its price and quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemChange {
    /// The subscription item to change (`si_…`).
    pub item_id: String,
    pub price: String,
    pub quantity: u64,
    /// Metered items to add (a price) or remove (an item id), so that the subscription carries
    /// the new plan's metered prices and no others.
    pub metered: Vec<MeteredChange>,
}

/// A change of a subscription's metered items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeteredChange {
    Add { price: String },
    Remove { item_id: String },
}

impl ItemChange {
    /// The `items` parameter of a subscription update or preview.
    fn items(&self) -> Value {
        let mut items = vec![json!({"id": self.item_id, "price": self.price, "quantity": self.quantity})];
        for change in &self.metered {
            items.push(match change {
                MeteredChange::Add { price } => json!({"price": price}),
                MeteredChange::Remove { item_id } => json!({"id": item_id, "deleted": true}),
            });
        }
        Value::Array(items)
    }
}

/// A change of a subscription (`POST /v1/subscriptions/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionUpdate {
    pub item: Option<ItemChange>,
    pub proration: Option<Proration>,
    /// Sets or clears the cancellation at period end.
    pub cancel_at_period_end: Option<bool>,
    /// Clears a `cancel_at` that is not the period end.
    pub clear_cancel_at: bool,
    /// `cancellation_details[feedback]` (Stripe's enum).
    pub feedback: Option<String>,
    /// `payment_behavior=error_if_incomplete`: when the change's invoice cannot be paid, Stripe
    /// refuses the change (402) instead of applying it with an open invoice.
    pub error_if_incomplete: bool,
}

/// One phase of a schedule this service writes: from `start` to `end` (or for one billing
/// interval when `end` is `None`), with the terms it carries (copied from the phase in effect,
/// so that a rewrite drops no trial, discount, tax rate or payment setting).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhasePlan {
    pub start: i64,
    pub end: Option<i64>,
    /// Price ids and quantities (`None` for metered prices).
    pub items: Vec<(String, Option<u64>)>,
    /// `month` or `year`: the length of an open-ended phase.
    pub interval: &'static str,
    pub trial_end: Option<i64>,
    /// `(coupon | discount | promotion_code, id)`.
    pub discounts: Vec<(String, String)>,
    pub default_tax_rates: Vec<String>,
    pub default_payment_method: Option<String>,
    pub collection_method: Option<String>,
    /// Stripe copies a phase's metadata onto the subscription when the phase starts.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// One page of a customer's invoices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoicePage {
    pub invoices: Vec<InvoiceSummary>,
    pub has_more: bool,
}

pub(super) fn form(method: StripeMethod, path: String, params: &Value) -> RequestBuilder {
    let builder = RequestBuilder::new(method, path);
    match params.as_object() {
        Some(map) if !map.is_empty() => builder.form(params),
        _ => builder,
    }
}

fn unreadable(operation: &'static str, what: &'static str) -> GatewayError {
    GatewayError::Unreadable { operation, what }
}

impl Stripe {
    async fn subscription_answer(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        key: Option<&str>,
    ) -> Result<SubscriptionSnapshot, GatewayError> {
        let value = self.json(operation, "subscription", request, key).await?;
        parse_subscription(&value).ok_or_else(|| unreadable(operation, "subscription"))
    }

    async fn schedule_answer(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        key: Option<&str>,
    ) -> Result<ScheduleSnapshot, GatewayError> {
        let value = self.json(operation, "subscription schedule", request, key).await?;
        parse_schedule(&value).ok_or_else(|| unreadable(operation, "subscription schedule"))
    }

    /// `POST /v1/subscriptions/{id}` under `key`.
    pub async fn update_subscription(
        &self,
        id: &str,
        update: &SubscriptionUpdate,
        key: &str,
    ) -> Result<SubscriptionSnapshot, GatewayError> {
        let mut params = Map::new();
        if let Some(item) = &update.item {
            params.insert("items".into(), item.items());
        }
        if let Some(proration) = update.proration {
            params.insert("proration_behavior".into(), proration.as_str().into());
        }
        if let Some(flag) = update.cancel_at_period_end {
            params.insert("cancel_at_period_end".into(), flag.into());
        }
        if update.error_if_incomplete {
            params.insert("payment_behavior".into(), "error_if_incomplete".into());
        }
        if update.clear_cancel_at {
            params.insert("cancel_at".into(), "".into());
        }
        if let Some(feedback) = &update.feedback {
            params.insert("cancellation_details".into(), json!({"feedback": feedback}));
        }
        let request = form(StripeMethod::Post, format!("/subscriptions/{id}"), &Value::Object(params));
        self.subscription_answer("update_subscription", request, Some(key)).await
    }

    /// `DELETE /v1/subscriptions/{id}`: ends it now; with `prorate`, the unused time is credited;
    /// with `invoice_now`, a final invoice bills it and the period's metered usage at once.
    pub async fn cancel_subscription_now(
        &self,
        id: &str,
        prorate: bool,
        invoice_now: bool,
        feedback: Option<&str>,
        key: &str,
    ) -> Result<SubscriptionSnapshot, GatewayError> {
        let mut params = Map::new();
        if prorate {
            params.insert("prorate".into(), true.into());
        }
        if prorate || invoice_now {
            params.insert("invoice_now".into(), true.into());
        }
        if let Some(feedback) = feedback {
            params.insert("cancellation_details".into(), json!({"feedback": feedback}));
        }
        let request = form(StripeMethod::Delete, format!("/subscriptions/{id}"), &Value::Object(params));
        self.subscription_answer("cancel_subscription", request, Some(key)).await
    }

    /// `POST /v1/subscriptions/{id}/resume`: resumes a paused subscription.
    pub async fn resume_subscription(&self, id: &str, key: &str) -> Result<SubscriptionSnapshot, GatewayError> {
        let request = RequestBuilder::new(StripeMethod::Post, format!("/subscriptions/{id}/resume"));
        self.subscription_answer("resume_subscription", request, Some(key)).await
    }

    /// `POST /v1/customers/{id}` with `address[…]` (fields left out are cleared, so the address
    /// is exactly the one given). `None` when Stripe has no such customer.
    pub async fn update_customer_address(
        &self,
        customer: &str,
        address: &crate::domain::address::Address,
        key: &str,
    ) -> Result<Option<crate::domain::objects::CustomerSnapshot>, GatewayError> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let request = form(
            StripeMethod::Post,
            format!("/customers/{customer}"),
            &serde_json::json!({"address": {
                "line1": address.line1, "line2": text(&address.line2), "city": text(&address.city),
                "state": text(&address.state), "postal_code": text(&address.postal_code), "country": address.country,
            }}),
        );
        match self.json("update_customer_address", "customer", request, Some(key)).await {
            Ok(value) => crate::domain::objects::parse_customer(&value)
                .map(Some)
                .ok_or(GatewayError::Unreadable {
                    operation: "update_customer_address",
                    what: "customer",
                }),
            Err(GatewayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `GET /v1/subscription_schedules/{id}`; `None` when Stripe has no such schedule.
    pub async fn retrieve_schedule(&self, id: &str) -> Result<Option<ScheduleSnapshot>, GatewayError> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/subscription_schedules/{id}"));
        match self.schedule_answer("retrieve_schedule", request, None).await {
            Ok(schedule) => Ok(Some(schedule)),
            Err(GatewayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/subscription_schedules` with `from_subscription`: a schedule whose one phase is
    /// the subscription as it is.
    pub async fn schedule_subscription(&self, subscription: &str, key: &str) -> Result<ScheduleSnapshot, GatewayError> {
        let request = form(
            StripeMethod::Post,
            "/subscription_schedules".into(),
            &json!({"from_subscription": subscription}),
        );
        self.schedule_answer("create_schedule", request, Some(key)).await
    }

    /// `POST /v1/subscription_schedules/{id}`: replaces the phases; the schedule releases the
    /// subscription when the last one ends. Tagged with `metadata.user_id`.
    pub async fn set_schedule_phases(
        &self,
        id: &str,
        user_id: &str,
        phases: &[PhasePlan],
        key: &str,
    ) -> Result<ScheduleSnapshot, GatewayError> {
        let phases: Vec<Value> = phases
            .iter()
            .map(|phase| {
                let items: Vec<Value> = phase
                    .items
                    .iter()
                    .map(|(price, quantity)| match quantity {
                        Some(quantity) => json!({"price": price, "quantity": quantity}),
                        None => json!({"price": price}),
                    })
                    .collect();
                let mut value = json!({"start_date": phase.start, "items": items, "proration_behavior": "none"});
                match phase.end {
                    Some(end) => value["end_date"] = end.into(),
                    None => value["duration"] = json!({"interval": phase.interval, "interval_count": 1}),
                }
                if let Some(trial_end) = phase.trial_end {
                    value["trial_end"] = trial_end.into();
                }
                if !phase.discounts.is_empty() {
                    value["discounts"] = phase.discounts.iter().map(|(kind, id)| json!({ kind: id })).collect();
                }
                if !phase.default_tax_rates.is_empty() {
                    value["default_tax_rates"] = json!(phase.default_tax_rates);
                }
                if let Some(method) = &phase.default_payment_method {
                    value["default_payment_method"] = method.as_str().into();
                }
                if let Some(method) = &phase.collection_method {
                    value["collection_method"] = method.as_str().into();
                }
                if !phase.metadata.is_empty() {
                    value["metadata"] = json!(phase.metadata);
                }
                value
            })
            .collect();
        let params = json!({"phases": phases, "end_behavior": "release", "metadata": {"user_id": user_id}});
        let request = form(StripeMethod::Post, format!("/subscription_schedules/{id}"), &params);
        self.schedule_answer("update_schedule", request, Some(key)).await
    }

    /// `POST /v1/subscription_schedules/{id}/release`: the subscription goes on as it is now.
    pub async fn release_schedule(&self, id: &str, key: &str) -> Result<ScheduleSnapshot, GatewayError> {
        let request = RequestBuilder::new(StripeMethod::Post, format!("/subscription_schedules/{id}/release"));
        self.schedule_answer("release_schedule", request, Some(key)).await
    }

    /// `POST /v1/invoices/create_preview`: the invoice Stripe would make for `item` on the
    /// customer's subscription, with `proration` as of `at`. Nothing changes.
    pub async fn preview_change(
        &self,
        customer: &str,
        subscription: &str,
        item: &ItemChange,
        proration: Proration,
        at: i64,
    ) -> Result<InvoicePreview, GatewayError> {
        let params = json!({
            "customer": customer,
            "subscription": subscription,
            "subscription_details": {
                "items": item.items(),
                "proration_behavior": proration.as_str(),
                "proration_date": at,
            },
        });
        let request = form(StripeMethod::Post, "/invoices/create_preview".into(), &params);
        // A preview changes nothing: no idempotency key needed, and retrying is safe.
        let value = self.json("preview_invoice", "invoice", request, None).await?;
        parse_preview(&value).ok_or_else(|| unreadable("preview_invoice", "invoice"))
    }

    /// `GET /v1/invoices?customer=`: newest first, `limit` per page, after `starting_after`.
    pub async fn list_invoices(&self, customer: &str, limit: u8, starting_after: Option<&str>) -> Result<InvoicePage, GatewayError> {
        let mut params = json!({"customer": customer, "limit": limit});
        if let Some(after) = starting_after {
            params["starting_after"] = after.into();
        }
        let request = RequestBuilder::new(StripeMethod::Get, "/invoices").query(&params);
        let page = self.json("list_invoices", "invoice", request, None).await?;
        let page: List<wire::Invoice> = read(&page).unwrap_or_default();
        let invoices = page
            .data
            .ok_or_else(|| unreadable("list_invoices", "invoice list"))?
            .into_iter()
            .map(|invoice| InvoiceSummary::from_wire(invoice).ok_or_else(|| unreadable("list_invoices", "invoice")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InvoicePage {
            invoices,
            has_more: page.has_more.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_encoded_as_stripe_reads_them() {
        let request = form(
            StripeMethod::Post,
            "/subscriptions/sub_1".into(),
            &json!({"items": [{"id": "si_1", "price": "price_2", "quantity": 3}], "proration_behavior": "none", "cancel_at": ""}),
        );
        let body = request.body.unwrap();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        for expected in [
            ("items[0][id]", "si_1"),
            ("items[0][price]", "price_2"),
            ("items[0][quantity]", "3"),
            ("proration_behavior", "none"),
            ("cancel_at", ""),
        ] {
            assert!(
                pairs.iter().any(|(k, v)| (k.as_str(), v.as_str()) == expected),
                "{expected:?} in {pairs:?}"
            );
        }
        assert!(form(StripeMethod::Post, "/x".into(), &json!({})).body.is_none());
    }
}
