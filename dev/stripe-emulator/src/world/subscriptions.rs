//! Subscriptions: retrieve, list, update, cancel, pause, resume.

use super::*;

impl World {
    pub(super) fn subscription_of(&self, id: &str, param: &str) -> Result<&Subscription, StripeError> {
        self.subscriptions.get(id).ok_or_else(|| missing("subscription", id, param))
    }

    pub fn render_subscription(&self, id: &str) -> Value {
        self.subscriptions[id].render(&self.prices)
    }

    pub fn subscription(&self, id: &str) -> Result<Value, StripeError> {
        self.subscription_of(id, "id").map(|s| s.render(&self.prices))
    }

    pub fn list_subscriptions(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["customer", "status", "price", "limit", "starting_after"])?;
        let customer = params.str("customer")?;
        let status = params.str("status")?;
        let price = params.str("price")?;
        let ids = self.newest_first(self.subscriptions.keys());
        let items = ids
            .iter()
            .map(|id| &self.subscriptions[id])
            .filter(|s| customer.is_none_or(|c| s.customer == c))
            .filter(|s| match status {
                None => s.status != "canceled",
                Some("all") => true,
                Some(status) => s.status == status,
            })
            .filter(|s| price.is_none_or(|p| s.items.iter().any(|i| i.price == p)))
            .map(|s| (s.id.clone(), s.render(&self.prices)))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/subscriptions", data, has_more))
    }

    pub fn update_subscription(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "cancel_at_period_end",
            "items",
            "proration_behavior",
            "metadata",
            "payment_behavior",
        ])?;
        let current = self.subscription_of(id, "id")?.clone();
        if current.status == "canceled" {
            return Err(StripeError::state(
                "A canceled subscription can only update its cancellation_details and metadata.",
            ));
        }
        let proration = params.str("proration_behavior")?.unwrap_or("create_prorations");
        if !matches!(proration, "create_prorations" | "none" | "always_invoice") {
            return Err(StripeError::invalid(
                "proration_behavior",
                format!("Invalid proration_behavior `{proration}`."),
            ));
        }
        let mut next = current.clone();
        if let Some(flag) = params.bool("cancel_at_period_end")? {
            next.cancel_at_period_end = flag;
            next.cancellation_reason = flag.then_some("cancellation_requested");
            next.canceled_at = flag.then(|| self.now());
        }
        for i in 0..params.array_len("items") {
            let item_id = params.str(&format!("items.{i}.id"))?;
            let index = match item_id {
                Some(item_id) => Some(
                    next.items
                        .iter()
                        .position(|it| it.id == item_id)
                        .ok_or_else(|| StripeError::no_such_ref("subscription_item", item_id, &format!("items[{i}][id]")))?,
                ),
                None => None,
            };
            if let Some(price_id) = params.str(&format!("items.{i}.price"))? {
                let price = self
                    .prices
                    .get(price_id)
                    .ok_or_else(|| StripeError::no_such_ref("price", price_id, &format!("items[{i}][price]")))?;
                if price.interval.is_none() {
                    return Err(StripeError::invalid(
                        format!("items[{i}][price]"),
                        "The price specified is not recurring.",
                    ));
                }
            }
            let quantity = params.u64(&format!("items.{i}.quantity"))?;
            if quantity == Some(0) {
                return Err(StripeError::invalid(
                    format!("items[{i}][quantity]"),
                    "Quantity must be at least 1.",
                ));
            }
            let price = params.str(&format!("items.{i}.price"))?.map(str::to_owned);
            match index {
                Some(index) => {
                    if let Some(price) = price {
                        next.items[index].price = price;
                    }
                    if let Some(q) = quantity {
                        next.items[index].quantity = q;
                    }
                }
                None => {
                    let price = price.ok_or_else(|| StripeError::missing_param(&format!("items[{i}][price]")))?;
                    next.items.push(SubscriptionItem {
                        id: new_id("si"),
                        price,
                        quantity: quantity.unwrap_or(1),
                        created: self.now(),
                    });
                }
            }
        }
        if params.value("metadata").is_some() {
            next.metadata.extend(params.metadata("metadata")?);
        }
        let before = current.render(&self.prices);
        let price_changed = current
            .items
            .iter()
            .map(|i| (&i.price, i.quantity))
            .ne(next.items.iter().map(|i| (&i.price, i.quantity)));
        self.subscriptions.insert(id.to_owned(), next);
        if price_changed && proration == "always_invoice" {
            let invoice = self.new_invoice(id, "subscription_update", 0);
            self.mark_paid(&invoice);
            self.emit_invoice("invoice.paid", &invoice);
        }
        self.emit_updated(id, &before);
        let customer = current.customer.clone();
        self.refresh_entitlements(&customer);
        Ok(self.render_subscription(id))
    }

    pub fn cancel_subscription(&mut self, id: &str) -> Result<Value, StripeError> {
        let current = self.subscription_of(id, "id")?;
        if current.status == "canceled" {
            return Err(StripeError::state(format!("No such subscription: '{id}' is already canceled.")));
        }
        self.end_subscription(id, Some("cancellation_requested"));
        Ok(self.render_subscription(id))
    }

    pub fn pause_subscription(&mut self, id: &str) -> Result<Value, StripeError> {
        let current = self.subscription_of(id, "id")?;
        if !matches!(current.status.as_str(), "active" | "trialing" | "past_due") {
            return Err(StripeError::state(format!(
                "Only active subscriptions can be paused; this one is `{}`.",
                current.status
            )));
        }
        let before = current.render(&self.prices);
        let customer = current.customer.clone();
        self.subscriptions.get_mut(id).expect("checked").status = "paused".into();
        let rendered = self.render_subscription(id);
        self.emit("customer.subscription.paused", rendered, None);
        self.emit_updated(id, &before);
        self.refresh_entitlements(&customer);
        Ok(self.render_subscription(id))
    }

    pub fn resume_subscription(&mut self, id: &str) -> Result<Value, StripeError> {
        let current = self.subscription_of(id, "id")?;
        if current.status != "paused" {
            return Err(StripeError::state(format!(
                "Only paused subscriptions can be resumed; this one is `{}`.",
                current.status
            )));
        }
        let before = current.render(&self.prices);
        let customer = current.customer.clone();
        let now = self.now();
        let sub = self.subscriptions.get_mut(id).expect("checked");
        let period = sub.period_end - sub.period_start;
        sub.status = "active".into();
        sub.period_start = now;
        sub.period_end = now + period.max(DAY);
        let rendered = self.render_subscription(id);
        self.emit("customer.subscription.resumed", rendered, None);
        self.emit_updated(id, &before);
        self.refresh_entitlements(&customer);
        Ok(self.render_subscription(id))
    }

    /// Ends a subscription now: status `canceled`, `customer.subscription.deleted`.
    pub(super) fn end_subscription(&mut self, id: &str, reason: Option<&'static str>) {
        let now = self.now();
        let sub = self.subscriptions.get_mut(id).expect("caller checked");
        sub.status = "canceled".into();
        sub.ended_at = Some(now);
        sub.canceled_at.get_or_insert(now);
        sub.cancellation_reason = reason.or(sub.cancellation_reason);
        sub.next_retry = None;
        let customer = sub.customer.clone();
        let rendered = self.render_subscription(id);
        self.emit("customer.subscription.deleted", rendered, None);
        self.refresh_entitlements(&customer);
    }

    /// `customer.subscription.updated` with the top-level fields that changed.
    pub(super) fn emit_updated(&mut self, id: &str, before: &Value) {
        let after = self.render_subscription(id);
        let mut previous = serde_json::Map::new();
        if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
            for (key, old) in b {
                if a.get(key) != Some(old) {
                    previous.insert(key.clone(), old.clone());
                }
            }
        }
        if !previous.is_empty() {
            self.emit("customer.subscription.updated", after, Some(Value::Object(previous)));
        }
    }

    /// The customer ids of subscriptions in a portal session (for the hosted page).
    pub fn customer_subscriptions(&self, customer: &str) -> Vec<&Subscription> {
        let ids = self.newest_first(self.subscriptions.values().filter(|s| s.customer == customer).map(|s| &s.id));
        ids.iter().map(|id| &self.subscriptions[id]).collect()
    }

    /// Pays the next renewals of `customer`'s subscriptions with `card` from now on.
    pub fn set_card(&mut self, subscription: &str, card: Card) -> Result<(), StripeError> {
        let sub = self
            .subscriptions
            .get_mut(subscription)
            .ok_or_else(|| StripeError::no_such_ref("subscription", subscription, "subscription"))?;
        sub.card = card;
        Ok(())
    }
}

/// A missing object: 404 when the path names it (`param` "id"), 400 when a parameter refers to it.
fn missing(kind: &str, id: &str, param: &str) -> StripeError {
    if param == "id" {
        StripeError::no_such(kind, id, param)
    } else {
        StripeError::no_such_ref(kind, id, param)
    }
}
