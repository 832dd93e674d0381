//! Subscriptions made by API, as a team's own tests make them in Stripe's test mode: Stripe's
//! test payment methods (`pm_card_visa`, `pm_card_chargeCustomerFail`, …) attached to a
//! customer (`POST /v1/payment_methods/{id}/attach`), then `POST /v1/subscriptions` with
//! `items`, `default_payment_method`, `trial_period_days`, `payment_behavior`,
//! `proration_behavior` and `metadata`; the first invoice is charged at once.

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

impl World {
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

    /// `POST /v1/payment_methods/{id}/detach`.
    pub fn detach_payment_method(&mut self, id: &str) -> Result<Value, StripeError> {
        let method = self
            .payment_methods
            .get_mut(id)
            .ok_or_else(|| StripeError::no_such("payment_method", id, "payment_method"))?;
        if method.customer.take().is_none() {
            return Err(StripeError::state(
                "The payment method you provided is not attached to a customer so detachment is impossible.",
            ));
        }
        let rendered = method.render();
        self.emit("payment_method.detached", rendered.clone(), None);
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
        if ![
            "allow_incomplete",
            "default_incomplete",
            "error_if_incomplete",
            "pending_if_incomplete",
        ]
        .contains(&behavior.as_str())
        {
            return Err(StripeError::invalid(
                "payment_behavior",
                "Invalid payment_behavior: must be one of allow_incomplete, default_incomplete, error_if_incomplete or pending_if_incomplete",
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
        let period = self.prices.get(&items[0].price).map_or(30 * DAY, Price::period_seconds);
        let card = default_payment_method
            .as_ref()
            .or_else(|| self.customers.get(&customer)?.default_payment_method.as_ref())
            .and_then(|m| self.payment_methods.get(m))
            .map(|m| m.card);
        let sub_id = new_id("sub");
        let subscription = Subscription {
            id: sub_id.clone(),
            customer: customer.clone(),
            currency: currency.unwrap_or_else(|| "usd".into()),
            status: if trial_end.is_some() { "trialing" } else { "incomplete" }.into(),
            items,
            cancel_at_period_end: false,
            cancel_at: None,
            canceled_at: None,
            ended_at: None,
            period_start: now,
            period_end: trial_end.unwrap_or(now + period),
            billing_cycle_anchor: trial_end.unwrap_or(now),
            trial_start: trial_end.map(|_| now),
            trial_end,
            metadata: params.metadata("metadata")?,
            created: now,
            latest_invoice: None,
            default_payment_method,
            discounts: Vec::new(),
            pause_collection: None,
            missing_payment_method: "create_invoice".into(),
            failing_since: None,
            next_retry: None,
            trial_will_end_sent: false,
            cancellation_reason: None,
            cancellation_comment: None,
            cancellation_feedback: None,
            schedule: None,
        };
        let end = subscription.period_end;
        self.subscriptions.insert(sub_id.clone(), subscription);
        let lines = self.cycle_lines(&sub_id, now, end, if trial_end.is_some() { 100 } else { 0 });
        let invoice = self.new_invoice_with(&sub_id, "subscription_create", lines, (now, now));
        let pays = self.invoices[&invoice].amount_due == 0 || card == Some(Card::Succeeds);
        if !pays && behavior == "error_if_incomplete" {
            // Nothing is kept: Stripe refuses the request with the card's error.
            self.invoices.remove(&invoice);
            self.subscriptions.remove(&sub_id);
            return Err(match card {
                None => StripeError::state(
                    "This customer has no attached payment source or default payment method. Please consider adding a default payment method.",
                ),
                Some(_) => StripeError::card_declined("generic_decline"),
            });
        }
        self.track(&sub_id);
        if pays && behavior != "default_incomplete" {
            self.mark_paid(&invoice);
            if trial_end.is_none() {
                self.subscriptions.get_mut(&sub_id).expect("inserted").status = "active".into();
            }
            let rendered = self.render_subscription(&sub_id);
            self.emit("customer.subscription.created", rendered, None);
            self.emit_invoice_issued(&invoice);
            self.emit_paid(&invoice);
        } else {
            // The first invoice stays open: `incomplete` until it is paid (23 hours, then
            // `incomplete_expired` in Stripe; this emulator leaves it incomplete).
            let rendered = self.render_subscription(&sub_id);
            self.emit("customer.subscription.created", rendered, None);
            self.emit_invoice_issued(&invoice);
            if behavior != "default_incomplete" {
                let inv = self.invoices.get_mut(&invoice).expect("exists");
                inv.attempt_count += 1;
                self.emit_invoice("invoice.payment_failed", &invoice);
            }
        }
        self.refresh_entitlements(&customer);
        Ok(self.render_subscription(&sub_id))
    }
}
