//! Invoices.

use super::*;

impl World {
    /// A new invoice for the subscription's items, `percent_off` discounted (100: free, as in a
    /// trial or with a 100 % promotion code).
    pub(super) fn new_invoice(&mut self, sub_id: &str, billing_reason: &'static str, percent_off: u32) -> String {
        let sub = &self.subscriptions[sub_id];
        let lines: Vec<InvoiceLine> = sub
            .items
            .iter()
            .map(|item| {
                let full = self.prices.get(&item.price).map_or(0, |p| p.unit_amount) * item.quantity as i64;
                let amount = full - full * i64::from(percent_off.min(100)) / 100;
                InvoiceLine {
                    id: new_id("il"),
                    price: item.price.clone(),
                    quantity: item.quantity,
                    amount,
                }
            })
            .collect();
        let currency = sub
            .items
            .first()
            .and_then(|i| self.prices.get(&i.price))
            .map_or_else(|| "usd".into(), |p| p.currency.clone());
        let invoice = Invoice {
            id: new_id("in"),
            customer: sub.customer.clone(),
            subscription: Some(sub_id.to_owned()),
            status: "open".into(),
            billing_reason,
            currency,
            amount_due: lines.iter().map(|l| l.amount).sum(),
            amount_paid: 0,
            attempt_count: 0,
            period_start: sub.period_start,
            period_end: sub.period_end,
            created: self.now(),
            paid_at: None,
            next_payment_attempt: None,
            lines,
            subscription_metadata: sub.metadata.clone(),
        };
        let id = invoice.id.clone();
        self.invoices.insert(id.clone(), invoice);
        self.track(&id);
        self.subscriptions.get_mut(sub_id).expect("exists").latest_invoice = Some(id.clone());
        id
    }

    pub(super) fn mark_paid(&mut self, invoice_id: &str) {
        let now = self.now();
        let invoice = self.invoices.get_mut(invoice_id).expect("exists");
        invoice.status = "paid".into();
        invoice.amount_paid = invoice.amount_due;
        invoice.attempt_count += 1;
        invoice.paid_at = Some(now);
        invoice.next_payment_attempt = None;
    }

    pub(super) fn emit_invoice(&mut self, event_type: &str, invoice_id: &str) {
        let rendered = self.invoices[invoice_id].render(&self.prices);
        self.emit(event_type, rendered, None);
    }

    pub fn invoice(&self, id: &str) -> Result<Value, StripeError> {
        self.invoices
            .get(id)
            .map(|i| i.render(&self.prices))
            .ok_or_else(|| StripeError::no_such("invoice", id, "id"))
    }
}
