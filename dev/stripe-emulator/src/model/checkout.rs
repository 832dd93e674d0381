//! Checkout Sessions and their line items.

use serde_json::{Value, json};

use super::Metadata;

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
    /// The promotion code applied on the hosted page (and its coupon), and the discount it gave.
    pub promotion_code: Option<String>,
    pub coupon: Option<String>,
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
    /// `payment_method_collection`: `always`, or `if_required` (no card when nothing is due now).
    pub payment_method_collection: String,
    /// `subscription_data[trial_settings][end_behavior][missing_payment_method]`.
    pub missing_payment_method: Option<String>,
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
            "customer_email": self.customer_email,
            "discounts": self.coupon.as_ref().map(|c| json!([{"coupon": c, "promotion_code": self.promotion_code}])), "expires_at": self.expires_at, "invoice": self.invoice, "invoice_creation": null,
            "livemode": false, "locale": null, "metadata": self.metadata, "mode": self.mode, "payment_intent": self.payment_intent,
            "payment_link": null, "payment_method_collection": self.payment_method_collection, "payment_method_types": ["card"],
            "payment_status": self.payment_status, "phone_number_collection": {"enabled": false}, "recovered_from": null,
            "setup_intent": null, "shipping_address_collection": null, "shipping_cost": null, "shipping_options": [],
            "status": self.status, "submit_type": null, "subscription": self.subscription, "success_url": self.success_url,
            "tax_id_collection": {"enabled": self.tax_id_collection, "required": "never"},
            "total_details": {"amount_discount": self.amount_discount, "amount_shipping": 0, "amount_tax": 0}, "ui_mode": "hosted_page",
            "url": if self.status == "open" { Value::String(self.url.clone()) } else { Value::Null }
        })
    }
}
