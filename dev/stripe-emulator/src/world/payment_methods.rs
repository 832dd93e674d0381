//! Payment methods (`pm_…`) made from test cards: the one a Checkout Session collects (the
//! subscription's `default_payment_method`), one added in the Billing Portal (the customer's
//! `invoice_settings.default_payment_method`), and which of them pays a subscription.

use super::*;

impl World {
    /// A new card payment method of `customer` (`payment_method.attached`). Its id.
    pub(super) fn new_payment_method(&mut self, number: &str, card: Card, customer: &str) -> String {
        let method = PaymentMethod::of_card(new_id("pm"), number, card, Some(customer.to_owned()), self.now());
        let id = method.id.clone();
        let rendered = method.render();
        self.payment_methods.insert(id.clone(), method);
        self.track(&id);
        self.emit("payment_method.attached", rendered, None);
        id
    }

    /// `GET /v1/payment_methods/{id}`.
    pub fn payment_method(&self, id: &str) -> Result<Value, StripeError> {
        self.payment_methods
            .get(id)
            .map(PaymentMethod::render)
            .ok_or_else(|| StripeError::no_such("payment_method", id, "id"))
    }

    /// The card that pays the subscription's invoices: its `default_payment_method`'s, else its
    /// customer's `invoice_settings.default_payment_method`'s; `None` when neither is set.
    pub(super) fn payment_card(&self, sub_id: &str) -> Option<Card> {
        let sub = self.subscriptions.get(sub_id)?;
        self.card_of(sub.default_payment_method.as_deref(), &sub.customer)
    }

    /// The card that pays for `customer`: `method` if given, else the customer's
    /// `invoice_settings.default_payment_method`; only one attached to the customer (a detached
    /// card pays nothing).
    pub(super) fn card_of(&self, method: Option<&str>, customer: &str) -> Option<Card> {
        let method = method.or_else(|| self.customers.get(customer)?.default_payment_method.as_deref())?;
        self.payment_methods
            .get(method)
            .filter(|m| m.customer.as_deref() == Some(customer))
            .map(|m| m.card)
    }

    /// Emulator control: the subscription's renewals are paid with a new payment method of the
    /// test card `number` from now on.
    pub fn set_card(&mut self, subscription: &str, number: &str, card: Card) -> Result<(), StripeError> {
        let customer = self
            .subscriptions
            .get(subscription)
            .ok_or_else(|| StripeError::no_such_ref("subscription", subscription, "subscription"))?
            .customer
            .clone();
        let method = self.new_payment_method(number, card, &customer);
        let before = self.render_subscription(subscription);
        self.subscriptions.get_mut(subscription).expect("checked").default_payment_method = Some(method);
        self.emit_updated(subscription, &before);
        Ok(())
    }

    /// The Billing Portal's "add a card": a new payment method of the test card `number`
    /// becomes the customer's `invoice_settings.default_payment_method` (`customer.updated`), so
    /// it pays every subscription without one of its own (a trial begun without a card).
    pub fn add_customer_card(&mut self, customer: &str, number: &str) -> Result<Value, StripeError> {
        self.live_customer(customer, "customer")?;
        let card = match classify_card(number) {
            CardOutcome::Card(card) => card,
            CardOutcome::Declined(code) => return Err(StripeError::card_declined(code)),
            CardOutcome::Unknown => {
                return Err(StripeError::invalid(
                    "card",
                    "Use a Stripe test card number such as 4242 4242 4242 4242.",
                ));
            }
        };
        let method = self.new_payment_method(number, card, customer);
        let c = self.customers.get_mut(customer).expect("checked");
        let before = c.render();
        c.default_payment_method = Some(method);
        let after = c.render();
        self.emit(
            "customer.updated",
            after.clone(),
            Some(json!({"invoice_settings": before["invoice_settings"]})),
        );
        Ok(after)
    }
}
