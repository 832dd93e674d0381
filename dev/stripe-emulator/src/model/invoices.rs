//! Invoices, their lines (with the discount each line got), and invoice items (the pending
//! prorations an invoice bills).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Metadata, Price};

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
    /// What each discount (`di_…`) took off this line; empty for lines not discountable.
    pub discount_amounts: Vec<(String, i64)>,
}

/// `[{"amount", "discount"}]`, as invoices and their lines render discount amounts.
fn discount_amounts(amounts: &[(String, i64)]) -> Value {
    amounts.iter().map(|(d, amount)| json!({"amount": amount, "discount": d})).collect()
}

#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: String,
    pub customer: String,
    pub subscription: Option<String>,
    /// `draft` (previews, renewals kept as drafts while collection is paused), `open`, `paid`,
    /// `void`, `uncollectible`.
    pub status: String,
    pub billing_reason: &'static str,
    pub currency: String,
    /// Sum of the lines, before discounts.
    pub subtotal: i64,
    /// The subtotal less the discounts.
    pub total: i64,
    /// The discounts (`di_…`) applied, and what each took off in all.
    pub discounts: Vec<String>,
    pub discount_amounts: Vec<(String, i64)>,
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
    pub voided_at: Option<i64>,
    pub marked_uncollectible_at: Option<i64>,
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
            "discount_amounts": discount_amounts(&line.discount_amounts), "discountable": !line.proration, "discounts": [], "invoice": self.id, "livemode": false, "metadata": {},
            "parent": parent, "period": {"end": line.period_end, "start": line.period_start}, "pretax_credit_amounts": [],
            "pricing": {"price_details": {"price": line.price, "product": product}, "type": "price_details", "unit_amount_decimal": unit_amount},
            "quantity": line.quantity, "quantity_decimal": line.quantity.to_string(), "subscription": self.subscription, "subtotal": line.amount, "taxes": []
        })
    }

    pub fn render(&self, prices: &BTreeMap<String, Price>) -> Value {
        let lines: Vec<Value> = self.lines.iter().map(|line| self.render_line(line, prices)).collect();
        json!({
            "id": self.id, "object": "invoice", "account_country": "US", "account_name": "Stripe Emulator",
            "amount_due": self.amount_due, "amount_overpaid": 0, "amount_paid": self.amount_paid,
            "amount_remaining": if self.status == "void" { 0 } else { self.amount_due - self.amount_paid }, "amount_shipping": 0, "application": null,
            "attempt_count": self.attempt_count, "attempted": self.attempt_count > 0, "auto_advance": self.status == "open",
            "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null},
            "automatically_finalizes_at": null,
            "billing_reason": self.billing_reason, "collection_method": "charge_automatically", "created": self.created,
            "currency": self.currency, "customer": self.customer, "customer_account": null, "default_tax_rates": [], "description": null, "discounts": self.discounts,
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
            "status_transitions": {
                "finalized_at": self.finalized_at, "marked_uncollectible_at": self.marked_uncollectible_at, "paid_at": self.paid_at,
                "voided_at": self.voided_at
            },
            "subtotal": self.subtotal, "subtotal_excluding_tax": self.subtotal, "total": self.total,
            "total_discount_amounts": discount_amounts(&self.discount_amounts),
            "total_excluding_tax": self.total, "total_pretax_credit_amounts": [], "total_taxes": [], "webhooks_delivered_at": self.finalized_at
        })
    }
}
