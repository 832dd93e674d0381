//! Issuing and collecting invoices: the `invoice.*` events of a finalized invoice, payment with
//! the subscription's payment method (paid, or declined into `past_due` with retries), and the
//! invoices not collected while the subscription's collection is paused (kept as drafts,
//! voided, or marked uncollectible).

use super::*;

impl World {
    /// `invoice.created` (as the draft it was), `invoice.finalized`, and `customer.updated` when
    /// the invoice moved the customer's balance.
    pub(super) fn emit_invoice_issued(&mut self, invoice_id: &str) {
        let invoice = &self.invoices[invoice_id];
        let mut draft = invoice.clone();
        draft.status = "draft".into();
        draft.number = None;
        draft.hosted_invoice_url = None;
        draft.invoice_pdf = None;
        draft.finalized_at = None;
        draft.ending_balance = None;
        let (customer, before, after) = (invoice.customer.clone(), invoice.starting_balance, invoice.ending_balance);
        let draft = draft.render(&self.prices);
        self.emit("invoice.created", draft, None);
        self.emit_invoice("invoice.finalized", invoice_id);
        if after.is_some_and(|after| after != before) {
            let rendered = self.customers[&customer].render();
            self.emit("customer.updated", rendered, Some(json!({"balance": before})));
        }
    }

    /// `invoice.paid` then `invoice.payment_succeeded`.
    pub(super) fn emit_paid(&mut self, invoice_id: &str) {
        self.emit_invoice("invoice.paid", invoice_id);
        self.emit_invoice("invoice.payment_succeeded", invoice_id);
    }

    /// Issues a drafted invoice of the subscription: finalized, then collected. While the
    /// subscription's collection is paused it is not collected: `keep_as_draft` leaves it a
    /// draft (`invoice.created` only); `void` and `mark_uncollectible` finalize it, then void it
    /// (`invoice.voided`, the customer's balance it used given back) or mark it uncollectible
    /// (`invoice.marked_uncollectible`). Returns false only when a payment was declined.
    pub(super) fn issue(&mut self, sub_id: &str, invoice: &str) -> bool {
        let now = self.now();
        let behavior = self.subscriptions[sub_id]
            .pause_collection
            .as_ref()
            .filter(|p| p.resumes_at.is_none_or(|at| now < at))
            .map(|p| p.behavior.clone());
        if behavior.as_deref() == Some("keep_as_draft") {
            let inv = self.invoices.get_mut(invoice).expect("exists");
            inv.next_payment_attempt = None;
            self.emit_invoice("invoice.created", invoice);
            return true;
        }
        if self.invoices[invoice].status == "draft" {
            self.finalize_invoice(invoice);
        }
        self.emit_invoice_issued(invoice);
        let Some(behavior) = behavior else {
            return self.collect(sub_id, invoice);
        };
        let inv = self.invoices.get_mut(invoice).expect("exists");
        inv.next_payment_attempt = None;
        if behavior == "void" {
            inv.status = "void".into();
            inv.voided_at = Some(now);
            let used = inv.ending_balance.unwrap_or(inv.starting_balance) - inv.starting_balance;
            let customer = inv.customer.clone();
            if used != 0 {
                let customer = self.customers.get_mut(&customer).expect("invoices have customers");
                let before = customer.balance;
                customer.balance -= used;
                let rendered = customer.render();
                self.emit("customer.updated", rendered, Some(json!({"balance": before})));
            }
            self.emit_invoice("invoice.voided", invoice);
        } else {
            inv.status = "uncollectible".into();
            inv.marked_uncollectible_at = Some(now);
            self.emit_invoice("invoice.marked_uncollectible", invoice);
        }
        true
    }

    /// Collects an open invoice of the subscription with its payment method (see
    /// [`World::payment_card`]). Nothing due: paid at once. Paid: the subscription is active
    /// again. Declined, or nothing to pay with: `invoice.payment_failed`, and a live
    /// subscription goes `past_due` with retries. Returns whether the invoice was paid.
    pub(super) fn collect(&mut self, sub_id: &str, invoice: &str) -> bool {
        let now = self.now();
        let sub = &self.subscriptions[sub_id];
        let live = sub.status != "canceled";
        if self.invoices[invoice].amount_due == 0 || self.payment_card(sub_id) == Some(Card::Succeeds) {
            self.mark_paid(invoice);
            if live {
                let sub = self.subscriptions.get_mut(sub_id).expect("exists");
                sub.status = "active".into();
                sub.failing_since = None;
                sub.next_retry = None;
            }
            self.emit_paid(invoice);
            return true;
        }
        let retry = live.then(|| now + self.settings.retry_every_days * DAY);
        if live {
            let sub = self.subscriptions.get_mut(sub_id).expect("exists");
            sub.status = "past_due".into();
            sub.failing_since.get_or_insert(now);
            sub.next_retry = retry;
        }
        let inv = self.invoices.get_mut(invoice).expect("exists");
        inv.attempt_count += 1;
        inv.next_payment_attempt = retry;
        self.emit_invoice("invoice.payment_failed", invoice);
        false
    }

    pub(super) fn mark_paid(&mut self, invoice_id: &str) {
        let now = self.now();
        let invoice = self.invoices.get_mut(invoice_id).expect("exists");
        invoice.status = "paid".into();
        invoice.amount_paid = invoice.amount_due;
        if invoice.amount_due > 0 {
            invoice.attempt_count += 1;
        }
        invoice.paid_at = Some(now);
        invoice.next_payment_attempt = None;
    }

    pub(super) fn emit_invoice(&mut self, event_type: &str, invoice_id: &str) {
        let rendered = self.invoices[invoice_id].render(&self.prices);
        self.emit(event_type, rendered, None);
    }
}
