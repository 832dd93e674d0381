//! Subscriptions made by API, as a team's own tests make them in Stripe's test mode: Stripe's
//! test payment methods (`pm_card_visa`, `pm_card_chargeCustomerFail`, …) attached to a
//! customer (`POST /v1/payment_methods/{id}/attach`), then `POST /v1/subscriptions` with
//! `items`, `default_payment_method`, `trial_period_days`, `payment_behavior`,
//! `proration_behavior` and `metadata`; the first invoice is charged at once.

use super::subscriptions::no_payment_method;
use super::*;

/// Stripe's test payment methods and the test card each stands for.
const TEST_METHODS: [(&str, &str); 7] = [
    ("pm_card_visa", "4242424242424242"),
    ("pm_card_us", "4242424242424242"),
    ("pm_card_mastercard", "5555555555554444"),
    ("pm_card_chargeCustomerFail", "4000000000000341"),
    ("pm_card_chargeDeclined", "4000000000000002"),
    ("pm_card_chargeDeclinedInsufficientFunds", "4000000000009995"),
    ("pm_card_chargeDeclinedLostCard", "4000000000009987"),
];

/// What a new subscription starts from: Checkout's payment, or `POST /v1/subscriptions`.
pub(super) struct Start {
    pub customer: String,
    pub currency: String,
    pub status: &'static str,
    pub items: Vec<SubscriptionItem>,
    pub trial_end: Option<i64>,
    pub metadata: Metadata,
    pub default_payment_method: Option<String>,
    pub missing_payment_method: String,
}

impl World {
    /// A subscription starting now (on its customer's test clock, if any): its first period
    /// runs to the trial's end, else one interval of its first price.
    pub(super) fn fresh_subscription(&self, id: &str, start: Start) -> Subscription {
        let now = self.now();
        let period = start
            .items
            .first()
            .and_then(|item| self.prices.get(&item.price))
            .map_or(30 * DAY, Price::period_seconds);
        Subscription {
            id: id.to_owned(),
            test_clock: self.clock_of(&start.customer),
            customer: start.customer,
            currency: start.currency,
            status: start.status.into(),
            items: start.items,
            cancel_at_period_end: false,
            cancel_at: None,
            canceled_at: None,
            ended_at: None,
            period_start: now,
            period_end: start.trial_end.unwrap_or(now + period),
            billing_cycle_anchor: start.trial_end.unwrap_or(now),
            trial_start: start.trial_end.map(|_| now),
            trial_end: start.trial_end,
            metadata: start.metadata,
            created: now,
            latest_invoice: None,
            default_payment_method: start.default_payment_method,
            discounts: Vec::new(),
            pause_collection: None,
            missing_payment_method: start.missing_payment_method,
            failing_since: None,
            next_retry: None,
            trial_will_end_sent: false,
            cancellation_reason: None,
            cancellation_comment: None,
            cancellation_feedback: None,
            schedule: None,
        }
    }

    /// `POST /v1/payment_methods/{id}/attach` with `customer`. A test payment method
    /// (`pm_card_visa`) makes a new payment method of its card, attached; a declining one
    /// (`pm_card_chargeDeclined`) is refused as Stripe refuses it (`card_declined`); one of
    /// this emulator's `pm_…` is attached if it is not attached already.
    pub fn attach_payment_method(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["customer", "expand"])?;
        let customer = params.required_str("customer")?.to_owned();
        self.live_customer(&customer, "customer")?;
        if let Some((_, number)) = TEST_METHODS.iter().find(|(name, _)| *name == id) {
            return match classify_card(number) {
                CardOutcome::Card(card) => {
                    let method = self.new_payment_method(number, card, &customer);
                    self.payment_method(&method)
                }
                CardOutcome::Declined(code) => Err(StripeError::card_declined(code)),
                CardOutcome::Unknown => Err(StripeError::no_such("payment_method", id, "payment_method")),
            };
        }
        let method = self
            .payment_methods
            .get_mut(id)
            .ok_or_else(|| StripeError::no_such("payment_method", id, "payment_method"))?;
        if method.detached {
            return Err(StripeError::state(
                "This PaymentMethod was previously used without being attached to a Customer or was detached from a Customer, and may not be used again.",
            ));
        }
        match &method.customer {
            Some(owner) if *owner == customer => {}
            Some(_) => {
                return Err(StripeError::state(
                    "The payment method you provided has already been attached to a customer.",
                ));
            }
            None => {
                method.customer = Some(customer);
                let rendered = method.render();
                self.emit("payment_method.attached", rendered, None);
            }
        }
        self.payment_method(id)
    }

    /// `POST /v1/payment_methods/{id}/detach`: it no longer pays anything; a customer's or a
    /// subscription's default that named it is cleared (`customer.updated`,
    /// `customer.subscription.updated`), as Stripe clears them.
    pub fn detach_payment_method(&mut self, id: &str) -> Result<Value, StripeError> {
        let method = self
            .payment_methods
            .get_mut(id)
            .ok_or_else(|| StripeError::no_such("payment_method", id, "payment_method"))?;
        let Some(customer) = method.customer.take() else {
            return Err(StripeError::state(
                "The payment method you provided is not attached to a customer so detachment is impossible.",
            ));
        };
        method.detached = true;
        let rendered = method.render();
        self.emit("payment_method.detached", rendered.clone(), None);
        if let Some(c) = self.customers.get_mut(&customer)
            && c.default_payment_method.as_deref() == Some(id)
        {
            let before = c.render();
            c.default_payment_method = None;
            let after = c.render();
            self.emit(
                "customer.updated",
                after,
                Some(json!({"invoice_settings": before["invoice_settings"]})),
            );
        }
        let subs: Vec<String> = self
            .subscriptions
            .values()
            .filter(|s| s.default_payment_method.as_deref() == Some(id))
            .map(|s| s.id.clone())
            .collect();
        for sub in subs {
            let before = self.render_subscription(&sub);
            self.subscriptions.get_mut(&sub).expect("listed").default_payment_method = None;
            self.emit_updated(&sub, &before);
        }
        Ok(rendered)
    }

    /// `method`, when it is a payment method attached to `customer`; Stripe's error otherwise.
    pub(super) fn attached_method(&self, method: &str, customer: &str, param: &str) -> Result<String, StripeError> {
        match self.payment_methods.get(method) {
            Some(m) if m.customer.as_deref() == Some(customer) => Ok(method.to_owned()),
            _ => Err(StripeError::invalid(
                param,
                format!(
                    "The customer does not have a payment method with the ID {method}. The payment method must be attached to the customer."
                ),
            )),
        }
    }

    /// `POST /v1/subscriptions`.
    pub fn create_subscription(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "customer",
            "items",
            "default_payment_method",
            "trial_period_days",
            "trial_end",
            "payment_behavior",
            "proration_behavior",
            "metadata",
            "currency",
            "expand",
            "collection_method",
            "off_session",
        ])?;
        let customer = params.required_str("customer")?.to_owned();
        self.live_customer(&customer, "customer")?;
        let behavior = params.str("payment_behavior")?.unwrap_or("allow_incomplete").to_owned();
        if behavior == "pending_if_incomplete" {
            return Err(StripeError::invalid(
                "payment_behavior",
                "The `pending_if_incomplete` payment behavior is only supported when updating a subscription.",
            ));
        }
        if !["allow_incomplete", "default_incomplete", "error_if_incomplete"].contains(&behavior.as_str()) {
            return Err(StripeError::invalid(
                "payment_behavior",
                "Invalid payment_behavior: must be one of allow_incomplete, default_incomplete or error_if_incomplete",
            ));
        }
        if let Some(proration) = params.str("proration_behavior")?
            && !["create_prorations", "always_invoice", "none"].contains(&proration)
        {
            return Err(StripeError::invalid("proration_behavior", "Invalid proration_behavior."));
        }
        if params.str("collection_method")?.is_some_and(|m| m != "charge_automatically") {
            return Err(StripeError::invalid(
                "collection_method",
                "This emulator collects subscriptions automatically only (collection_method=charge_automatically).",
            ));
        }
        let default_payment_method = match params.str("default_payment_method")? {
            None => None,
            Some(method) => Some(self.attached_method(method, &customer, "default_payment_method")?),
        };
        let count = params.array_len("items");
        if count == 0 {
            return Err(StripeError::invalid("items", "Missing required param: items."));
        }
        let mut items = Vec::new();
        let mut currency: Option<String> = params.str("currency")?.map(str::to_lowercase);
        let now = self.now();
        for n in 0..count {
            let price_id = params.required_str(&format!("items.{n}.price"))?.to_owned();
            let price = self
                .prices
                .get(&price_id)
                .ok_or_else(|| StripeError::no_such_ref("price", &price_id, &format!("items[{n}][price]")))?;
            if price.interval.is_none() {
                return Err(StripeError::invalid(
                    format!("items[{n}][price]"),
                    "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
                ));
            }
            let currency = currency.get_or_insert_with(|| price.currency.clone());
            if price.currency != *currency && !price.currency_options.contains_key(currency.as_str()) {
                return Err(StripeError::invalid(
                    format!("items[{n}][price]"),
                    format!("The price specified does not support the currency `{currency}`."),
                ));
            }
            let metered = price.metered();
            let quantity = match params.u64(&format!("items.{n}.quantity"))? {
                Some(_) if metered => {
                    return Err(StripeError::invalid(
                        format!("items[{n}][quantity]"),
                        "Quantity should not be specified where usage_type is `metered`. Remove quantity from `items[0]` and try again.",
                    ));
                }
                Some(q) => q,
                None if metered => 0,
                None => 1,
            };
            items.push(SubscriptionItem {
                id: new_id("si"),
                price: price_id,
                quantity,
                created: now,
                usage_from: now,
            });
        }
        let currency = currency.unwrap_or_else(|| "usd".into());
        // Stripe's rules on the items: one billing interval, no price twice, one currency.
        self.check_items(&items, &currency, "items")?;
        let trial_end = match (params.u64("trial_period_days")?, params.i64("trial_end")?) {
            (Some(days), _) if days > 730 => {
                return Err(StripeError::invalid("trial_period_days", "Trial period days must be at most 730."));
            }
            (Some(0), _) | (None, None) => None,
            (Some(days), _) => Some(now + days as i64 * DAY),
            (None, Some(end)) if end <= now => {
                return Err(StripeError::invalid(
                    "trial_end",
                    "Invalid timestamp: must be an integer Unix timestamp in the future.",
                ));
            }
            (None, Some(end)) => Some(end),
        };
        let card = self.card_of(default_payment_method.as_deref(), &customer);
        let sub_id = new_id("sub");
        let subscription = self.fresh_subscription(
            &sub_id,
            Start {
                customer: customer.clone(),
                currency,
                status: if trial_end.is_some() { "trialing" } else { "incomplete" },
                items,
                trial_end,
                metadata: params.metadata("metadata")?,
                default_payment_method,
                missing_payment_method: "create_invoice".into(),
            },
        );
        let end = subscription.period_end;
        // A refused request leaves nothing behind (invoice numbers and the customer's balance
        // included): the world as it was is put back.
        let snapshot = self.clone();
        self.subscriptions.insert(sub_id.clone(), subscription);
        let lines = self.cycle_lines(&sub_id, now, end, if trial_end.is_some() { 100 } else { 0 });
        let invoice = self.new_invoice_with(&sub_id, "subscription_create", lines, (now, now));
        let free = self.invoices[&invoice].amount_due == 0;
        if !free && card.is_none() && behavior != "default_incomplete" {
            *self = snapshot;
            return Err(no_payment_method());
        }
        let pays = free || (card == Some(Card::Succeeds) && behavior != "default_incomplete");
        if !pays && behavior == "error_if_incomplete" {
            *self = snapshot;
            return Err(StripeError::card_declined("generic_decline"));
        }
        self.track(&sub_id);
        if pays {
            self.mark_paid(&invoice);
            if trial_end.is_none() {
                self.subscriptions.get_mut(&sub_id).expect("inserted").status = "active".into();
            }
            let rendered = self.render_subscription(&sub_id);
            self.emit("customer.subscription.created", rendered, None);
            self.emit_invoice_issued(&invoice);
            self.emit_paid(&invoice);
        } else {
            // The first invoice stays open and the subscription `incomplete` until it is paid
            // (`POST /v1/invoices/{id}/pay`); Stripe expires it after 23 hours, this emulator
            // does not.
            let rendered = self.render_subscription(&sub_id);
            self.emit("customer.subscription.created", rendered, None);
            self.emit_invoice_issued(&invoice);
            if behavior == "allow_incomplete" {
                self.invoices.get_mut(&invoice).expect("exists").attempt_count += 1;
                self.emit_invoice("invoice.payment_failed", &invoice);
            }
        }
        self.refresh_entitlements(&customer);
        Ok(self.render_subscription(&sub_id))
    }

    /// `POST /v1/invoices/{id}/pay` (`payment_method`: one attached to the customer): an open
    /// invoice charged with it, else with the subscription's or the customer's default. Paid:
    /// an `incomplete` or `past_due` subscription becomes `active`. Declined: 402
    /// `card_declined`, nothing changed.
    pub fn pay_invoice(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["payment_method", "off_session", "expand"])?;
        let invoice = self
            .invoices
            .get(id)
            .ok_or_else(|| StripeError::no_such("invoice", id, "invoice"))?;
        match invoice.status.as_str() {
            "open" => {}
            "paid" => return Err(StripeError::state("Invoice is already paid")),
            status => {
                return Err(StripeError::state(format!(
                    "You can only pay an invoice whose status is `open`; this one is `{status}`."
                )));
            }
        }
        let (customer, sub) = (invoice.customer.clone(), invoice.subscription.clone());
        let card = match params.str("payment_method")? {
            Some(method) => {
                let method = self.attached_method(method, &customer, "payment_method")?;
                self.card_of(Some(&method), &customer)
            }
            None => match &sub {
                Some(sub) => self.payment_card(sub),
                None => self.card_of(None, &customer),
            },
        };
        match card {
            Some(Card::Succeeds) => {
                self.mark_paid(id);
                if let Some(sub) = &sub
                    && let Some(s) = self.subscriptions.get(sub)
                    && s.latest_invoice.as_deref() == Some(id)
                    && matches!(s.status.as_str(), "incomplete" | "past_due")
                {
                    let before = self.render_subscription(sub);
                    let s = self.subscriptions.get_mut(sub).expect("checked");
                    s.status = "active".into();
                    s.failing_since = None;
                    s.next_retry = None;
                    self.emit_updated(sub, &before);
                }
                self.emit_paid(id);
                self.refresh_entitlements(&customer);
                self.invoice(id)
            }
            // Refused as a whole: the invoice stays as it was.
            Some(_) => Err(StripeError::card_declined("generic_decline")),
            None => Err(no_payment_method()),
        }
    }
}
