//! Invoices and invoice items: building them (cycle and usage lines, prorations, discounts,
//! numbers from the customer's sequence, the customer's balance applied), and the money and
//! date texts of their lines and hosted pages. Issuing and collecting them is in
//! `invoice_collection`; reading and previewing them in `invoice_reads`.

use super::*;

/// `amount × (end − from) / (end − start)`: the share of a period left at `from`, rounded half
/// away from zero as Stripe rounds prorations.
pub fn prorate(amount: i64, from: i64, start: i64, end: i64) -> i64 {
    let length = i128::from((end - start).max(1));
    let left = i128::from((end - from).clamp(0, end - start));
    let scaled = i128::from(amount) * left;
    let rounded = (scaled.abs() * 2 + length) / (2 * length);
    (if scaled < 0 { -rounded } else { rounded }) as i64
}

/// `07 Aug 2025` for a unix time (UTC), as Stripe writes dates in line descriptions.
pub fn date_text(ts: i64) -> String {
    let (year, month, day) = billing::domain::usage::civil_from_days(ts.div_euclid(DAY));
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{day:02} {} {year}", MONTHS[(month - 1) as usize])
}

/// `$29.00`, `€9.50`, `12.00 CHF`.
pub fn money_text(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let (units, cents) = (amount.abs() / 100, amount.abs() % 100);
    match currency {
        "usd" => format!("{sign}${units}.{cents:02}"),
        "eur" => format!("{sign}€{units}.{cents:02}"),
        "gbp" => format!("{sign}£{units}.{cents:02}"),
        other => format!("{sign}{units}.{cents:02} {}", other.to_uppercase()),
    }
}

impl World {
    fn product_name(&self, price: &str) -> String {
        self.prices
            .get(price)
            .and_then(|p| self.products.get(&p.product))
            .map_or_else(|| price.to_owned(), |p| p.name.clone())
    }

    /// `2 × Pro`, or `Pro` for one.
    fn quantity_text(&self, price: &str, quantity: u64) -> String {
        let name = self.product_name(price);
        if quantity == 1 { name } else { format!("{quantity} × {name}") }
    }

    /// One line per licensed subscription item billing `[start, end)` in advance; a period
    /// shorter than the price's is billed pro rata. `percent_off` discounts (100: free, as in a
    /// trial). Metered items are billed in arrears: see [`World::usage_lines`].
    pub(super) fn cycle_lines(&self, sub_id: &str, start: i64, end: i64, percent_off: u32) -> Vec<InvoiceLine> {
        let sub = &self.subscriptions[sub_id];
        sub.items
            .iter()
            .filter(|item| !self.prices.get(&item.price).is_some_and(Price::metered))
            .map(|item| {
                let price = self.prices.get(&item.price);
                let unit = price.map_or(0, |p| p.amount_in(&sub.currency).unwrap_or(p.unit_amount));
                let full = unit * item.quantity as i64;
                let length = price.map_or(30 * DAY, Price::period_seconds);
                let billed = if end - start < length {
                    prorate(full, start, start, start + length) - prorate(full, end, start, start + length)
                } else {
                    full
                };
                let amount = billed - billed * i64::from(percent_off.min(100)) / 100;
                let interval = price.and_then(|p| p.interval).unwrap_or("month");
                let currency = sub.currency.as_str();
                InvoiceLine {
                    id: new_id("il"),
                    price: item.price.clone(),
                    quantity: item.quantity,
                    amount,
                    description: format!(
                        "{} × {} (at {} / {interval})",
                        item.quantity,
                        self.product_name(&item.price),
                        money_text(unit, currency)
                    ),
                    period_start: start,
                    period_end: end,
                    proration: false,
                    invoice_item: None,
                    subscription_item: Some(item.id.clone()),
                    discount_amounts: Vec::new(),
                }
            })
            .collect()
    }

    /// One line per metered subscription item billing its usage in `[start, end)` (from the
    /// item's `usage_from` when later): the meter's aggregate of the customer's events × the
    /// price's unit amount, a negative aggregate billed as 0; line period `[start, end]`.
    /// `percent_off` discounts (100: usage during a trial is free).
    pub(super) fn usage_lines(&self, sub_id: &str, start: i64, end: i64, percent_off: u32) -> Vec<InvoiceLine> {
        let sub = &self.subscriptions[sub_id];
        sub.items
            .iter()
            .filter_map(|item| {
                let price = self.prices.get(&item.price)?;
                let meter = price.meter.as_ref()?;
                let (usage, _) = self.meter_usage(meter, &sub.customer, start.max(item.usage_from), end);
                let units = usage.max(0);
                let unit = price.amount_in(&sub.currency).unwrap_or(price.unit_amount);
                let billed = units.saturating_mul(unit);
                let amount = billed - billed * i64::from(percent_off.min(100)) / 100;
                Some(InvoiceLine {
                    id: new_id("il"),
                    price: item.price.clone(),
                    quantity: units as u64,
                    amount,
                    description: format!(
                        "{units} × {} (at {} / {})",
                        self.product_name(&item.price),
                        money_text(unit, &sub.currency),
                        price.interval.unwrap_or("month")
                    ),
                    period_start: start,
                    period_end: end,
                    proration: false,
                    invoice_item: None,
                    subscription_item: Some(item.id.clone()),
                    discount_amounts: Vec::new(),
                })
            })
            .collect()
    }

    /// Whether the subscription bills metered usage.
    pub(super) fn has_metered_items(&self, sub_id: &str) -> bool {
        self.subscriptions[sub_id]
            .items
            .iter()
            .any(|i| self.prices.get(&i.price).is_some_and(Price::metered))
    }

    /// The final invoice of a subscription that just ended with metered items: their usage from
    /// the period start to `end`, and the pending invoice items; issued and collected.
    pub(super) fn final_usage_invoice(&mut self, sub_id: &str, end: i64, billing_reason: &'static str, percent_off: u32) {
        let start = self.subscriptions[sub_id].period_start;
        let lines = self.usage_lines(sub_id, start, end, percent_off);
        let invoice = self.new_invoice_with(sub_id, billing_reason, lines, (start, end));
        self.emit_invoice_issued(&invoice);
        self.collect(sub_id, &invoice);
    }

    /// Pending invoice items billed with the subscription's next invoice, oldest first.
    pub(super) fn pending_items_of(&self, sub_id: &str) -> Vec<String> {
        let customer = self.subscriptions.get(sub_id).map(|s| s.customer.as_str());
        let mut ids: Vec<String> = self
            .invoice_items
            .values()
            .filter(|ii| ii.invoice.is_none())
            .filter(|ii| match &ii.subscription {
                Some(sub) => sub == sub_id,
                None => Some(ii.customer.as_str()) == customer,
            })
            .map(|ii| ii.id.clone())
            .collect();
        ids.sort_by_key(|id| self.order.get(id).copied().unwrap_or(0));
        ids
    }

    /// A proration invoice item for the subscription (`invoiceitem.created`): a credit for the
    /// unused time of `price × quantity` from `from` to the period end, or a charge for the
    /// remaining time.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn proration_item(
        &mut self,
        sub_id: &str,
        subscription_item: &str,
        price: &str,
        quantity: u64,
        credit: bool,
        from: i64,
        start: i64,
        end: i64,
    ) -> Option<String> {
        let currency = self.subscriptions[sub_id].currency.clone();
        let unit = self
            .prices
            .get(price)
            .map_or(0, |p| p.amount_in(&currency).unwrap_or(p.unit_amount));
        let amount = prorate(unit * quantity as i64, from, start, end);
        if amount == 0 {
            return None;
        }
        let what = self.quantity_text(price, quantity);
        let item = InvoiceItem {
            id: new_id("ii"),
            customer: self.subscriptions[sub_id].customer.clone(),
            subscription: Some(sub_id.to_owned()),
            subscription_item: Some(subscription_item.to_owned()),
            price: price.to_owned(),
            quantity,
            amount: if credit { -amount } else { amount },
            currency,
            description: format!(
                "{} time on {what} after {}",
                if credit { "Unused" } else { "Remaining" },
                date_text(from)
            ),
            period_start: from.max(start),
            period_end: end,
            proration: true,
            invoice: None,
            date: self.now(),
        };
        let id = item.id.clone();
        let rendered = item.render(&self.prices);
        self.invoice_items.insert(id.clone(), item);
        self.track(&id);
        self.emit("invoiceitem.created", rendered, None);
        Some(id)
    }

    /// An invoice of the subscription with `lines` and every pending invoice item it bills, its
    /// discounts applied, finalized at once (see [`World::finalize_invoice`]). Emits nothing
    /// itself (see [`World::emit_invoice_issued`]) but `customer.discount.deleted` for a
    /// discount it used up.
    pub(super) fn new_invoice_with(
        &mut self,
        sub_id: &str,
        billing_reason: &'static str,
        lines: Vec<InvoiceLine>,
        period: (i64, i64),
    ) -> String {
        let id = self.draft_invoice_with(sub_id, billing_reason, lines, period);
        self.finalize_invoice(&id);
        id
    }

    /// [`World::new_invoice_with`] left a draft: no number, no balance applied yet.
    pub(super) fn draft_invoice_with(
        &mut self,
        sub_id: &str,
        billing_reason: &'static str,
        mut lines: Vec<InvoiceLine>,
        period: (i64, i64),
    ) -> String {
        let id = new_id("in");
        for item_id in self.pending_items_of(sub_id) {
            let item = self.invoice_items.get_mut(&item_id).expect("pending");
            item.invoice = Some(id.clone());
            lines.push(InvoiceLine {
                id: new_id("il"),
                price: item.price.clone(),
                quantity: item.quantity,
                amount: item.amount,
                description: item.description.clone(),
                period_start: item.period_start,
                period_end: item.period_end,
                proration: item.proration,
                invoice_item: Some(item.id.clone()),
                subscription_item: item.subscription_item.clone(),
                discount_amounts: Vec::new(),
            });
        }
        let (discounts, discount_amounts) = self.discount_lines(sub_id, &mut lines);
        let now = self.now();
        let sub = &self.subscriptions[sub_id];
        let subtotal: i64 = lines.iter().map(|l| l.amount).sum();
        let total = subtotal - discount_amounts.iter().map(|(_, a)| a).sum::<i64>();
        let invoice = Invoice {
            id: id.clone(),
            customer: sub.customer.clone(),
            subscription: Some(sub_id.to_owned()),
            status: "draft".into(),
            billing_reason,
            currency: sub.currency.clone(),
            subtotal,
            total,
            discounts,
            discount_amounts,
            starting_balance: 0,
            ending_balance: None,
            amount_due: total.max(0),
            amount_paid: 0,
            attempt_count: 0,
            period_start: period.0,
            period_end: period.1,
            created: now,
            finalized_at: None,
            paid_at: None,
            voided_at: None,
            marked_uncollectible_at: None,
            next_payment_attempt: None,
            lines,
            subscription_metadata: sub.metadata.clone(),
            number: None,
            hosted_invoice_url: None,
            invoice_pdf: None,
        };
        self.invoices.insert(id.clone(), invoice);
        self.track(&id);
        self.subscriptions.get_mut(sub_id).expect("exists").latest_invoice = Some(id.clone());
        id
    }

    /// Finalizes a draft: numbered from the customer's sequence, the customer's balance applied
    /// (a credit pays what it can, a negative total adds to the credit), `open`.
    pub(super) fn finalize_invoice(&mut self, id: &str) {
        let now = self.now();
        let base = self.settings.public_url.clone();
        let invoice = self.invoices.get_mut(id).expect("exists");
        let customer = self.customers.get_mut(&invoice.customer).expect("invoices have customers");
        let after = invoice.total + customer.balance;
        invoice.starting_balance = customer.balance;
        invoice.amount_due = after.max(0);
        invoice.ending_balance = Some(after.min(0));
        customer.balance = after.min(0);
        invoice.number = Some(format!("{}-{:04}", customer.invoice_prefix, customer.next_invoice_sequence));
        customer.next_invoice_sequence += 1;
        invoice.status = "open".into();
        invoice.finalized_at = Some(now);
        invoice.next_payment_attempt = Some(now);
        invoice.hosted_invoice_url = Some(format!("{base}/invoices/{id}"));
        invoice.invoice_pdf = Some(format!("{base}/invoices/{id}/pdf"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prorations_round_half_away_from_zero() {
        assert_eq!(prorate(2900, 15, 0, 30), 1450);
        assert_eq!(prorate(2900, 0, 0, 30), 2900);
        assert_eq!(prorate(2900, 30, 0, 30), 0);
        assert_eq!(prorate(1000, 1, 0, 3), 667);
        assert_eq!(prorate(-1000, 1, 0, 3), -667);
        assert_eq!(prorate(1, 1, 0, 2), 1, "half rounds up");
    }

    #[test]
    fn dates_read_as_stripe_writes_them() {
        assert_eq!(date_text(0), "01 Jan 1970");
        assert_eq!(date_text(1_754_524_800), "07 Aug 2025");
        assert_eq!(date_text(951_782_400), "29 Feb 2000");
    }

    #[test]
    fn money_has_symbols() {
        assert_eq!(money_text(2900, "usd"), "$29.00");
        assert_eq!(money_text(-1450, "eur"), "-€14.50");
        assert_eq!(money_text(5, "chf"), "0.05 CHF");
    }
}
