//! Customers (`cus_…`): contact details, the balance that credits later invoices, and the
//! invoice numbering sequence.

use serde_json::{Value, json};

use super::Metadata;

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
    /// `invoice_settings.default_payment_method`: pays subscriptions that have none of their own.
    pub default_payment_method: Option<String>,
    /// The test clock (`clock_…`) its objects live on, fixed at creation.
    pub test_clock: Option<String>,
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
            "invoice_settings": {"custom_fields": null, "default_payment_method": self.default_payment_method, "footer": null, "rendering_options": null},
            "livemode": false, "metadata": self.metadata, "name": self.name, "next_invoice_sequence": self.next_invoice_sequence, "phone": null,
            "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": self.test_clock
        })
    }
}
