//! Paying a Checkout Session with a test card (or none, when the session collects one only if
//! required and nothing is due now) and a promotion code: the customer it makes, the
//! subscription (with its payment method and discount) and its first invoice, or a one-time
//! charge; then `checkout.session.completed`.

use super::subscription_create::Start;
use super::*;

impl World {
    /// Pays an open session with a test card. On success returns the URL to redirect to.
    pub fn pay_session(&mut self, id: &str, card_number: &str) -> Result<String, StripeError> {
        self.pay_session_with(id, card_number, None)
    }

    /// [`World::pay_session`], with a promotion code entered on the page (the session must allow
    /// them; checked as Stripe checks a code). A 100 % code makes the payment
    /// `no_payment_required`. An empty `card_number` pays without a card when the session has
    /// `payment_method_collection=if_required` and nothing is due now (a trial, or a total of
    /// zero): the subscription then has no payment method.
    ///
    /// Runs on the test clock of the session's customer, if any (the subscription starts at its
    /// time).
    pub fn pay_session_with(&mut self, id: &str, card_number: &str, promotion_code: Option<&str>) -> Result<String, StripeError> {
        let clock = self
            .sessions
            .get(id)
            .and_then(|s| s.customer.as_deref())
            .and_then(|c| self.clock_of(c));
        self.with_scope(clock, |world| world.pay_session_in_scope(id, card_number, promotion_code))
    }

    fn pay_session_in_scope(&mut self, id: &str, card_number: &str, promotion_code: Option<&str>) -> Result<String, StripeError> {
        let session = self
            .sessions
            .get(id)
            .ok_or_else(|| StripeError::no_such("checkout.session", id, "session"))?
            .clone();
        if session.status != "open" {
            return Err(StripeError::state(format!(
                "This Checkout Session is no longer open (status `{}`).",
                session.status
            )));
        }
        let promotion = match promotion_code.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(_) if !session.allow_promotion_codes => {
                return Err(StripeError::invalid(
                    "promotion_code",
                    "This Checkout Session does not accept promotion codes.",
                ));
            }
            Some(code) => Some(self.entered_promotion_code(&session, code)?),
        };
        let amount_discount = promotion.as_ref().map_or(0, |p| {
            self.coupons
                .get(&p.coupon)
                .map_or(0, |c| c.discount_on(session.amount_total, &session.currency))
        });
        let amount_due = session.amount_total - amount_discount;
        let nothing_due_now = session.trial_period_days.is_some() || amount_due == 0;
        let card = match classify_card(card_number) {
            _ if card_number.is_empty() && session.payment_method_collection == "if_required" && nothing_due_now => None,
            CardOutcome::Card(card) => Some(card),
            CardOutcome::Declined(code) => return Err(StripeError::card_declined(code)),
            CardOutcome::Unknown => {
                return Err(StripeError::invalid(
                    "card",
                    "Use a Stripe test card number such as 4242 4242 4242 4242.",
                ));
            }
        };
        let customer = match (&session.customer, session.mode.as_str(), session.customer_creation.as_deref()) {
            (Some(id), _, _) => Some(id.clone()),
            (None, "subscription", _) | (None, _, Some("always")) => {
                Some(self.new_customer(session.customer_email.clone(), None, Metadata::new()))
            }
            (None, _, _) => None,
        };
        let now = self.now();
        let mut updated = session.clone();
        updated.customer = customer.clone();
        updated.status = "complete".into();
        updated.promotion_code = promotion.as_ref().map(|p| p.id.clone());
        updated.coupon = promotion.as_ref().map(|p| p.coupon.clone());
        updated.amount_discount = amount_discount;
        updated.amount_total = amount_due;
        if session.mode == "subscription" {
            let customer = customer.expect("subscription mode always has a customer");
            let trial_end = session.trial_period_days.map(|d| now + d as i64 * DAY);
            let sub_id = new_id("sub");
            let default_payment_method = card.map(|card| self.new_payment_method(card_number, card, &customer));
            let subscription = self.fresh_subscription(
                &sub_id,
                Start {
                    customer: customer.clone(),
                    currency: session.currency.clone(),
                    status: if trial_end.is_some() { "trialing" } else { "active" },
                    items: session
                        .line_items
                        .iter()
                        .map(|l| SubscriptionItem {
                            id: new_id("si"),
                            price: l.price.clone(),
                            quantity: l.quantity,
                            created: now,
                            usage_from: now,
                        })
                        .collect(),
                    trial_end,
                    metadata: session.subscription_metadata.clone(),
                    default_payment_method,
                    missing_payment_method: session.missing_payment_method.clone().unwrap_or_else(|| "create_invoice".into()),
                },
            );
            self.subscriptions.insert(sub_id.clone(), subscription);
            self.track(&sub_id);
            if let Some(promo) = &promotion {
                let discount = self.redeem(&promo.coupon, Some(promo.id.clone()), &customer, Some(&sub_id), Some(id));
                self.subscriptions.get_mut(&sub_id).expect("inserted").discounts.push(discount);
            }
            // A trial is free; the first paid invoice takes the discount.
            let end = self.subscriptions[&sub_id].period_end;
            let lines = self.cycle_lines(&sub_id, now, end, if trial_end.is_some() { 100 } else { 0 });
            let invoice = self.new_invoice_with(&sub_id, "subscription_create", lines, (now, now));
            let free = trial_end.is_some() || self.invoices[&invoice].amount_due == 0;
            self.mark_paid(&invoice);
            let rendered = self.render_subscription(&sub_id);
            self.emit("customer.subscription.created", rendered, None);
            self.emit_invoice_issued(&invoice);
            self.emit_paid(&invoice);
            updated.subscription = Some(sub_id.clone());
            updated.invoice = Some(invoice);
            updated.payment_status = if free { "no_payment_required" } else { "paid" }.into();
            self.sessions.insert(id.to_owned(), updated.clone());
            let completed = self.session(id)?;
            self.emit("checkout.session.completed", completed, None);
            self.refresh_entitlements(&customer);
        } else {
            if let Some(promo) = &promotion {
                self.count_redemption(&promo.coupon, Some(&promo.id));
            }
            if amount_due > 0 {
                let payment_intent = new_id("pi");
                let charge = Charge {
                    id: new_id("ch"),
                    payment_intent: payment_intent.clone(),
                    customer: customer.clone(),
                    amount: amount_due,
                    amount_refunded: 0,
                    currency: session.currency.clone(),
                    dispute: None,
                    created: now,
                };
                self.track(&charge.id);
                self.emit("charge.succeeded", charge.render(), None);
                self.charges.insert(charge.id.clone(), charge);
                updated.payment_intent = Some(payment_intent);
                updated.payment_status = "paid".into();
            } else {
                updated.payment_status = "no_payment_required".into();
            }
            self.sessions.insert(id.to_owned(), updated.clone());
            let completed = self.session(id)?;
            self.emit("checkout.session.completed", completed, None);
        }
        Ok(updated.success_url.replace("{CHECKOUT_SESSION_ID}", id))
    }

    /// The promotion code `code` (any case) entered on the session's page, if it can be
    /// redeemed there.
    fn entered_promotion_code(&self, session: &CheckoutSession, code: &str) -> Result<PromotionCode, StripeError> {
        let customer = session.customer.as_deref();
        let mut matching: Vec<&PromotionCode> = self
            .promotion_codes
            .values()
            .filter(|p| p.code.eq_ignore_ascii_case(code))
            .collect();
        // The code usable by this customer first, then any other for the reason it is refused.
        let now = self.now();
        matching.sort_by_key(|p| (!p.usable(self.coupons.get(&p.coupon), now), p.customer.as_deref() != customer));
        let promo = *matching
            .first()
            .ok_or_else(|| StripeError::invalid("promotion_code", "This promotion code is invalid."))?;
        self.check_promotion_code(promo, customer, session.amount_total, &session.currency, "promotion_code")?;
        self.check_coupon(&promo.coupon, &session.currency, "promotion_code")?;
        Ok(promo.clone())
    }
}
