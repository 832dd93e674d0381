//! Invoices as the service shows them: the user's invoice list and the preview of a change; and
//! which subscription (and user) an invoice event is about. Read through the wire shapes of
//! `stripe_wire`: tolerant of API versions (a field missing is `None`, never an error).

use serde::Serialize;
use serde_json::Value;

use crate::domain::stripe_wire::{self as wire, id_of, read};

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
    read(object).and_then(InvoiceSummary::from_wire)
}

impl InvoiceSummary {
    /// `None` as [`parse_invoice`].
    pub(crate) fn from_wire(wire: wire::Invoice) -> Option<Self> {
        Some(InvoiceSummary {
            id: wire.id?,
            number: wire.number,
            status: wire.status,
            currency: wire.currency?,
            amount_due: wire.amount_due.unwrap_or(0),
            amount_paid: wire.amount_paid.unwrap_or(0),
            created: wire.created?,
            period_start: wire.period_start,
            period_end: wire.period_end,
            hosted_invoice_url: wire.hosted_invoice_url,
            invoice_pdf: wire.invoice_pdf,
        })
    }
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

/// When an invoice would be charged: its next payment attempt, else the end of its period.
pub fn charged_at(next_payment_attempt: Option<i64>, period_end: Option<i64>) -> Option<i64> {
    next_payment_attempt.or(period_end)
}

/// What a change credits or charges for the time already paid: the sum of the proration lines
/// (negative: a credit). Saturating: amounts are Stripe's, but an absurd one must not wrap a
/// charge into a credit (release) or panic (debug).
pub fn proration_total(lines: &[PreviewLine]) -> i64 {
    lines
        .iter()
        .filter(|l| l.proration)
        .fold(0i64, |total, l| total.saturating_add(l.amount))
}

/// Reads a preview invoice; `None` without a currency.
pub fn parse_preview(object: &Value) -> Option<InvoicePreview> {
    let wire: wire::Invoice = read(object)?;
    let lines: Vec<PreviewLine> = wire.lines.items().into_iter().map(preview_line).collect();
    Some(InvoicePreview {
        amount_due: wire.amount_due.unwrap_or(0),
        currency: wire.currency?,
        proration: proration_total(&lines),
        lines,
        next_payment_at: charged_at(wire.next_payment_attempt, wire.period_end),
    })
}

fn preview_line(line: wire::InvoiceLine) -> PreviewLine {
    // API versions since 2025 put the proration flag under `parent` and the price under
    // `pricing.price_details`; older ones on the line.
    let proration = [
        line.parent.subscription_item_details.proration,
        line.parent.invoice_item_details.proration,
        line.proration,
    ]
    .contains(&Some(true));
    let price = match line.pricing.price_details.price {
        Some(price) => price,
        None => line.price,
    };
    PreviewLine {
        description: line.description,
        amount: line.amount.unwrap_or(0),
        proration,
        price: id_of(price.as_ref()),
        quantity: line.quantity,
        period_start: line.period.start,
        period_end: line.period.end,
    }
}

/// What an invoice says of its subscription: which one, and whose (for subscriptions made by
/// this service, the user in the subscription's metadata when the invoice was made).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceSubscription {
    pub subscription: Option<String>,
    pub customer: Option<String>,
    /// The owner the subscription details' metadata names (`user_id`, or `org_id` for an
    /// organization's: [`crate::domain::billable::from_metadata`]).
    pub metadata_user_id: Option<String>,
}

/// Reads which subscription an invoice is about. API versions since 2025 keep the subscription
/// details under `parent` (a `null` there is the answer: no details); older ones on the invoice,
/// with `subscription` beside them.
pub fn parse_invoice_subscription(object: &Value) -> InvoiceSubscription {
    let wire: wire::Invoice = read(object).unwrap_or_default();
    let details = wire.parent.subscription_details.or(wire.subscription_details);
    InvoiceSubscription {
        subscription: id_of(details.as_ref().and_then(|d| d.subscription.as_ref())).or_else(|| id_of(wire.subscription.as_ref())),
        customer: id_of(wire.customer.as_ref()),
        metadata_user_id: details.and_then(|d| crate::domain::billable::from_metadata(&d.metadata)),
    }
}

/// An invoice's payment as `payment.*` reports it: the amount paid for `paid`, else the amount
/// due.
pub fn parse_invoice_payment(object: &Value, paid: bool) -> crate::domain::events::PaymentData {
    let wire: wire::Invoice = read(object).unwrap_or_default();
    crate::domain::events::PaymentData {
        invoice_id: wire.id,
        amount: if paid { wire.amount_paid } else { wire.amount_due }.unwrap_or_default(),
        currency: wire.currency,
        attempt: wire.attempt_count.unwrap_or_default(),
        next_attempt: wire.next_payment_attempt,
        hosted_invoice_url: wire.hosted_invoice_url,
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
    fn the_subscription_of_an_invoice_whatever_the_api_version() {
        let basil = parse_invoice_subscription(&json!({
            "customer": "cus_1", "subscription": "sub_top",
            "parent": {"subscription_details": {"subscription": {"id": "sub_1"}, "metadata": {"user_id": "u1"}}}
        }));
        assert_eq!(
            (
                basil.subscription.as_deref(),
                basil.customer.as_deref(),
                basil.metadata_user_id.as_deref()
            ),
            (Some("sub_1"), Some("cus_1"), Some("u1"))
        );
        let old = parse_invoice_subscription(&json!({"subscription": "sub_2", "subscription_details": {"metadata": {"user_id": "u2"}}}));
        assert_eq!(
            (old.subscription.as_deref(), old.metadata_user_id.as_deref()),
            (Some("sub_2"), Some("u2"))
        );
        let null = parse_invoice_subscription(
            &json!({"parent": {"subscription_details": null}, "subscription_details": {"metadata": {"user_id": "u3"}}}),
        );
        assert_eq!(null.metadata_user_id, None, "a null under parent is the answer");
        assert_eq!(parse_invoice_subscription(&json!("in_1")), InvoiceSubscription::default());
    }

    #[test]
    fn a_preview_is_charged_at_its_next_attempt_else_its_period_end() {
        assert_eq!(charged_at(Some(5), Some(9)), Some(5));
        assert_eq!(charged_at(None, Some(9)), Some(9));
        assert_eq!(charged_at(None, None), None);
        let line = |amount, proration| PreviewLine {
            description: None,
            amount,
            proration,
            price: None,
            quantity: None,
            period_start: None,
            period_end: None,
        };
        assert_eq!(proration_total(&[line(-1000, true), line(2900, false), line(2500, true)]), 1500);
        assert_eq!(
            proration_total(&[line(i64::MAX, true), line(1, true)]),
            i64::MAX,
            "never wraps to a credit"
        );
        assert_eq!(proration_total(&[line(i64::MIN, true), line(-1, true)]), i64::MIN);
    }

    #[test]
    fn a_null_price_details_price_is_the_answer() {
        let preview = parse_preview(&json!({"currency": "usd", "lines": {"data": [
            {"pricing": {"price_details": {"price": null}}, "price": "price_old"},
            {"pricing": {"price_details": {}}, "price": "price_old"},
            "not a line"
        ]}}))
        .unwrap();
        let prices: Vec<Option<&str>> = preview.lines.iter().map(|l| l.price.as_deref()).collect();
        assert_eq!(prices, [None, Some("price_old"), None]);
        assert_eq!(preview.lines[2].amount, 0);
    }

    #[test]
    fn an_invoice_without_identity_is_skipped() {
        assert!(parse_invoice(&json!({"currency": "usd", "created": 1})).is_none());
        let invoice = parse_invoice(&json!({"id": "in_1", "currency": "usd", "created": 1, "number": "ABC-0001"})).unwrap();
        assert_eq!((invoice.number.as_deref(), invoice.amount_due), (Some("ABC-0001"), 0));
    }
}
