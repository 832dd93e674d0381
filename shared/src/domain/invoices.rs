//! Invoices as the service shows them: the user's invoice list and the preview of a change.
//! Tolerant of API versions (a field missing is `None`, never an error).

use serde::Serialize;
use serde_json::Value;

use crate::domain::objects::id_of;

/// How Stripe bills a change of price or quantity made now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Proration {
    /// Credit and charge the rest of the period on the next invoice (Stripe's default).
    #[default]
    CreateProrations,
    /// The same, invoiced and charged now.
    AlwaysInvoice,
    /// No proration: the new price applies from the next period.
    None,
}

impl Proration {
    pub fn as_str(self) -> &'static str {
        match self {
            Proration::CreateProrations => "create_prorations",
            Proration::AlwaysInvoice => "always_invoice",
            Proration::None => "none",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "create_prorations" => Some(Proration::CreateProrations),
            "always_invoice" => Some(Proration::AlwaysInvoice),
            "none" => Some(Proration::None),
            _ => None,
        }
    }
}

/// One invoice of the user's list (`GET /invoices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceSummary {
    pub id: String,
    pub number: Option<String>,
    pub status: Option<String>,
    pub currency: String,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub created: i64,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
}

/// Reads an invoice of a list; `None` without an id, a currency or `created`.
pub fn parse_invoice(object: &Value) -> Option<InvoiceSummary> {
    let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
    Some(InvoiceSummary {
        id: text("id")?,
        number: text("number"),
        status: text("status"),
        currency: text("currency")?,
        amount_due: object.get("amount_due").and_then(Value::as_i64).unwrap_or(0),
        amount_paid: object.get("amount_paid").and_then(Value::as_i64).unwrap_or(0),
        created: object.get("created")?.as_i64()?,
        period_start: object.get("period_start").and_then(Value::as_i64),
        period_end: object.get("period_end").and_then(Value::as_i64),
        hosted_invoice_url: text("hosted_invoice_url"),
        invoice_pdf: text("invoice_pdf"),
    })
}

/// One line of a previewed invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewLine {
    pub description: Option<String>,
    pub amount: i64,
    pub proration: bool,
    pub price: Option<String>,
    pub quantity: Option<u64>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
}

/// The invoice a change would produce (`POST /v1/invoices/create_preview`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoicePreview {
    pub amount_due: i64,
    pub currency: String,
    /// The sum of the proration lines (negative: a credit).
    pub proration: i64,
    pub lines: Vec<PreviewLine>,
    /// When the invoice would be charged.
    pub next_payment_at: Option<i64>,
}

/// Reads a preview invoice; `None` without a currency.
pub fn parse_preview(object: &Value) -> Option<InvoicePreview> {
    let lines: Vec<PreviewLine> = object
        .pointer("/lines/data")
        .and_then(Value::as_array)
        .map(|lines| lines.iter().map(parse_line).collect())
        .unwrap_or_default();
    let next_payment_at = object
        .get("next_payment_attempt")
        .and_then(Value::as_i64)
        .or_else(|| object.get("period_end").and_then(Value::as_i64));
    Some(InvoicePreview {
        amount_due: object.get("amount_due").and_then(Value::as_i64).unwrap_or(0),
        currency: object.get("currency")?.as_str()?.to_owned(),
        proration: lines.iter().filter(|l| l.proration).map(|l| l.amount).sum(),
        lines,
        next_payment_at,
    })
}

fn parse_line(line: &Value) -> PreviewLine {
    // API versions since 2025 put the proration flag under `parent`; older ones on the line.
    let proration = [
        "/parent/subscription_item_details/proration",
        "/parent/invoice_item_details/proration",
        "/proration",
    ]
    .iter()
    .any(|p| line.pointer(p).and_then(Value::as_bool) == Some(true));
    let price = line
        .pointer("/pricing/price_details/price")
        .or_else(|| line.get("price"))
        .and_then(|p| id_of(Some(p)));
    PreviewLine {
        description: line.get("description").and_then(Value::as_str).map(str::to_owned),
        amount: line.get("amount").and_then(Value::as_i64).unwrap_or(0),
        proration,
        price,
        quantity: line.get("quantity").and_then(Value::as_u64),
        period_start: line.pointer("/period/start").and_then(Value::as_i64),
        period_end: line.pointer("/period/end").and_then(Value::as_i64),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn proration_lines_are_summed_whatever_the_api_version() {
        let preview = parse_preview(&json!({
            "amount_due": 1500, "currency": "usd", "next_payment_attempt": null, "period_end": 900,
            "lines": {"data": [
                {"amount": -1000, "description": "Unused time", "parent": {"subscription_item_details": {"proration": true}},
                 "pricing": {"price_details": {"price": "price_a"}}, "quantity": 1, "period": {"start": 1, "end": 2}},
                {"amount": 2500, "proration": true, "price": {"id": "price_b"}},
                {"amount": 2900, "parent": {"subscription_item_details": {"proration": false}}}
            ]}
        }))
        .unwrap();
        assert_eq!(preview.proration, 1500);
        assert_eq!(preview.lines[0].price.as_deref(), Some("price_a"));
        assert_eq!(preview.lines[1].price.as_deref(), Some("price_b"));
        assert!(!preview.lines[2].proration);
        assert_eq!(preview.next_payment_at, Some(900), "the period end when no attempt is set");
    }

    #[test]
    fn an_invoice_without_identity_is_skipped() {
        assert!(parse_invoice(&json!({"currency": "usd", "created": 1})).is_none());
        let invoice = parse_invoice(&json!({"id": "in_1", "currency": "usd", "created": 1, "number": "ABC-0001"})).unwrap();
        assert_eq!((invoice.number.as_deref(), invoice.amount_due), (Some("ABC-0001"), 0));
    }
}
