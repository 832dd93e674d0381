//! Payments outside invoices: the test cards the emulator understands, and charges with
//! their refunds and disputes.

use serde_json::{Value, json};

use super::DAY;

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

/// A card payment method (`pm_…`) made from a test card: on Checkout's page (the
/// subscription's `default_payment_method`) or in the Billing Portal (the customer's
/// `invoice_settings.default_payment_method`).
#[derive(Debug, Clone)]
pub struct PaymentMethod {
    pub id: String,
    pub card: Card,
    pub brand: &'static str,
    pub last4: String,
    pub customer: Option<String>,
    pub created: i64,
    /// Detached from its customer: Stripe never lets it be used or attached again.
    pub detached: bool,
}

impl PaymentMethod {
    /// The payment method of a test card `number` (one [`classify_card`] accepts).
    pub fn of_card(id: String, number: &str, card: Card, customer: Option<String>, created: i64) -> Self {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let brand = if digits.starts_with('5') { "mastercard" } else { "visa" };
        let last4 = digits[digits.len().saturating_sub(4)..].to_owned();
        Self {
            id,
            card,
            brand,
            last4,
            customer,
            created,
            detached: false,
        }
    }

    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "payment_method", "allow_redisplay": "unspecified",
            "billing_details": {"address": null, "email": null, "name": null, "phone": null, "tax_id": null},
            "card": {
                "brand": self.brand, "checks": {"address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass"},
                "country": "US", "display_brand": self.brand, "exp_month": 12, "exp_year": 2034, "fingerprint": format!("fp{}", self.last4),
                "funding": "credit", "generated_from": null, "last4": self.last4, "networks": {"available": [self.brand], "preferred": null},
                "regulated_status": "unregulated", "three_d_secure_usage": {"supported": true}, "wallet": null
            },
            "created": self.created, "customer": self.customer, "customer_account": null, "livemode": false, "metadata": {}, "type": "card"
        })
    }
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
