//! Subscriptions: retrieve, list, and update (items with prorations, cancellation settings);
//! the change of items is billed here. Ending, pausing and resuming are in
//! `subscription_lifecycle`.

use super::subscription_lifecycle::CancellationDetails;
use super::*;
use crate::params::one_of;

const PRORATION_BEHAVIORS: &[&str] = &["create_prorations", "none", "always_invoice"];
const PAYMENT_BEHAVIORS: &[&str] = &[
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
];

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
        params.allow(&["customer", "status", "price", "limit", "starting_after", "ending_before"])?;
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
        let (data, has_more) = paginate_both(items, params.str("starting_after")?, params.str("ending_before")?, params.limit()?)?;
        Ok(list("/v1/subscriptions", data, has_more))
    }

    /// The items a request's `items[i][id|price|quantity|deleted]` leave on `current`:
    /// existing items updated or deleted by id, new ones added. Validated as Stripe does: at
    /// least one item, recurring prices of one currency and one interval, no price twice.
    pub(super) fn next_items(&self, current: &Subscription, params: &Params) -> Result<Vec<SubscriptionItem>, StripeError> {
        let mut next = current.items.clone();
        let now = self.now();
        for i in 0..params.array_len("items") {
            let at = |key: &str| format!("items.{i}.{key}");
            let shown = |key: &str| format!("items[{i}][{key}]");
            if let Some(Value::Object(map)) = params.value(&format!("items.{i}"))
                && let Some(unknown) = map.keys().find(|k| {
                    !matches!(
                        k.as_str(),
                        "id" | "price" | "plan" | "quantity" | "deleted" | "metadata" | "clear_usage" | "tax_rates" | "discounts"
                    )
                })
            {
                return Err(StripeError::unknown_param(&shown(unknown)));
            }
            let price = params.str(&at("price"))?.or(params.str(&at("plan"))?);
            if let Some(price_id) = price {
                let found = self
                    .prices
                    .get(price_id)
                    .ok_or_else(|| StripeError::no_such_ref("price", price_id, &shown("price")))?;
                if found.interval.is_none() {
                    return Err(StripeError::invalid(shown("price"), "The price specified is not recurring."));
                }
                if !found.active {
                    return Err(StripeError::invalid(
                        shown("price"),
                        format!("The price specified is inactive. This field only accepts active prices: {price_id}"),
                    ));
                }
            }
            let quantity = params.u64(&at("quantity"))?;
            let deleted = params.bool(&at("deleted"))?.unwrap_or(false);
            let index = match params.str(&at("id"))? {
                Some(item_id) => {
                    let index = next
                        .iter()
                        .position(|it| it.id == item_id)
                        .ok_or_else(|| StripeError::no_such_ref("subscription_item", item_id, &shown("id")))?;
                    if deleted {
                        next.remove(index);
                        continue;
                    }
                    if let Some(price) = price
                        && next[index].price != price
                    {
                        // With billing_mode=classic, usage before a price change is not billed.
                        next[index].price = price.to_owned();
                        next[index].usage_from = now;
                    }
                    index
                }
                None if deleted => return Err(StripeError::missing_param(&shown("id"))),
                None => {
                    let price = price.ok_or_else(|| StripeError::missing_param(&shown("price")))?;
                    next.push(SubscriptionItem {
                        id: new_id("si"),
                        price: price.to_owned(),
                        quantity: 1,
                        created: now,
                        usage_from: now,
                    });
                    next.len() - 1
                }
            };
            // A metered price has no quantity; a licensed one at least 1 (1 when it was metered).
            if self.prices.get(&next[index].price).is_some_and(Price::metered) {
                if quantity.is_some() {
                    return Err(StripeError::invalid(
                        shown("quantity"),
                        "You cannot set the quantity for metered plans.",
                    ));
                }
                next[index].quantity = 0;
            } else {
                if quantity == Some(0) {
                    return Err(StripeError::invalid(shown("quantity"), "Quantity must be at least 1."));
                }
                match quantity {
                    Some(q) => next[index].quantity = q,
                    None if next[index].quantity == 0 => next[index].quantity = 1,
                    None => {}
                }
            }
        }
        self.check_items(&next, &current.currency, "items")?;
        Ok(next)
    }

    /// At least one item, one currency, one interval, no price twice.
    pub(super) fn check_items(&self, items: &[SubscriptionItem], currency: &str, param: &str) -> Result<(), StripeError> {
        if items.is_empty() {
            return Err(StripeError::invalid(param, "A subscription must have at least one active item."));
        }
        let first = &self.prices[&items[0].price];
        for item in items {
            let price = &self.prices[&item.price];
            if price.amount_in(currency).is_none() {
                return Err(StripeError::invalid(
                    param,
                    format!(
                        "The price `{}` is not available in {currency}, the subscription's currency: add it to the price's `currency_options`.",
                        price.id
                    ),
                ));
            }
            if price.interval != first.interval {
                return Err(StripeError::invalid(
                    param,
                    "All prices on a subscription must have the same `recurring.interval` and `recurring.interval_count`.",
                ));
            }
        }
        for (i, item) in items.iter().enumerate() {
            if items[..i].iter().any(|other| other.price == item.price) {
                return Err(StripeError::invalid(
                    param,
                    format!("Cannot add multiple subscription items with the same price: {}", item.price),
                ));
            }
        }
        Ok(())
    }

    pub fn update_subscription(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "cancel_at_period_end",
            "cancel_at",
            "cancellation_details",
            "items",
            "proration_behavior",
            "proration_date",
            "metadata",
            "payment_behavior",
        ])?;
        let current = self.subscription_of(id, "id")?.clone();
        let now = self.now();
        if current.status == "canceled"
            && params
                .keys()
                .iter()
                .any(|k| !matches!(*k, "cancellation_details" | "metadata" | "expand"))
        {
            return Err(StripeError::state(
                "A canceled subscription can only update its cancellation_details and metadata.",
            ));
        }
        let proration = one_of(params, "proration_behavior", PRORATION_BEHAVIORS)?.unwrap_or("create_prorations");
        let payment_behavior = one_of(params, "payment_behavior", PAYMENT_BEHAVIORS)?.unwrap_or("allow_incomplete");
        let touches_cancel = params.value("cancel_at_period_end").is_some() || params.value("cancel_at").is_some();
        if let Some(schedule) = &current.schedule
            && touches_cancel
        {
            return Err(StripeError::state(format!(
                "The subscription is managed by the subscription schedule `{schedule}`, and updating any cancelation behavior directly is not allowed. Please update the schedule instead."
            )));
        }
        let cancel_at_period_end = params.bool("cancel_at_period_end")?;
        let cancel_at: Option<Option<i64>> = match params.value("cancel_at") {
            None => None,
            Some(Value::String(s)) if s.is_empty() => Some(None),
            Some(Value::String(s)) if matches!(s.as_str(), "min_period_end" | "max_period_end" | "max_billed_until") => {
                Some(Some(current.period_end))
            }
            Some(_) => {
                let at = params.i64("cancel_at")?.expect("a non-empty string");
                if at <= now {
                    return Err(StripeError::invalid("cancel_at", "cancel_at must be in the future."));
                }
                Some(Some(at))
            }
        };
        if cancel_at_period_end == Some(true) && matches!(cancel_at, Some(Some(_))) {
            return Err(StripeError::invalid(
                "cancel_at",
                "You may only specify one of these parameters: cancel_at, cancel_at_period_end.",
            ));
        }
        let details = CancellationDetails::parse(params)?;
        let proration_date = params.i64("proration_date")?;
        if let Some(date) = proration_date
            && !(current.period_start..=current.period_end).contains(&date)
        {
            return Err(StripeError::invalid(
                "proration_date",
                format!(
                    "proration_date must be within the subscription's current period ({} to {}).",
                    current.period_start, current.period_end
                ),
            ));
        }
        let items = if params.value("items").is_some() {
            self.next_items(&current, params)?
        } else {
            current.items.clone()
        };
        let metadata = if params.value("metadata").is_some() {
            Some(params.metadata("metadata")?)
        } else {
            None
        };

        // Validated: from here on the request succeeds (or, with error_if_incomplete and a
        // declined payment, is rolled back whole).
        let snapshot = (payment_behavior == "error_if_incomplete").then(|| self.clone());
        let before = current.render(&self.prices);
        let mut next = current.clone();
        if let Some(flag) = cancel_at_period_end {
            next.cancel_at_period_end = flag;
            if flag {
                next.cancel_at = None;
            }
        }
        if let Some(at) = cancel_at {
            next.cancel_at = at;
            if at.is_some() {
                next.cancel_at_period_end = false;
            }
        }
        if cancel_at_period_end.is_some() || cancel_at.is_some() {
            let canceling = next.effective_cancel_at().is_some();
            next.cancellation_reason = canceling.then_some("cancellation_requested");
            next.canceled_at = canceling.then_some(now);
        }
        details.apply(&mut next);
        if let Some(metadata) = metadata {
            for (key, value) in metadata {
                if value.is_empty() {
                    next.metadata.remove(&key);
                } else {
                    next.metadata.insert(key, value);
                }
            }
        }
        let items_changed = current
            .items
            .iter()
            .map(|i| (&i.id, &i.price, i.quantity))
            .ne(items.iter().map(|i| (&i.id, &i.price, i.quantity)));
        next.items = items;
        self.subscriptions.insert(id.to_owned(), next);
        let invoice = if items_changed {
            self.reprice(id, &current, proration, proration_date.unwrap_or(now))
        } else {
            None
        };
        let paid = self.finish_change(id, &before, invoice);
        if !paid && let Some(snapshot) = snapshot {
            *self = snapshot;
            return Err(StripeError::card_declined("generic_decline"));
        }
        Ok(self.render_subscription(id))
    }

    /// Bills a change of items made on the subscription (`old` is the subscription before it):
    /// proration invoice items for the rest of the period (a credit for the old price ×
    /// quantity, a charge for the new) unless `proration` is `none`; a new billing interval
    /// restarts the period now and invoices at once; `always_invoice` invoices the prorations
    /// at once. Nothing is prorated during a trial. Returns the invoice made now, if any.
    pub(super) fn reprice(&mut self, id: &str, old: &Subscription, proration: &str, at: i64) -> Option<String> {
        let sub = self.subscriptions[id].clone();
        if matches!(sub.status.as_str(), "trialing" | "canceled") {
            return None;
        }
        let now = self.now();
        let (start, end) = (old.period_start, old.period_end);
        let interval_of = |items: &[SubscriptionItem]| items.first().and_then(|i| self.prices.get(&i.price)).and_then(|p| p.interval);
        if interval_of(&old.items) != interval_of(&sub.items) {
            if proration != "none" {
                for item in &old.items {
                    self.proration_item(id, &item.id, &item.price, item.quantity, true, at, start, end);
                }
            }
            let period = sub
                .items
                .first()
                .and_then(|i| self.prices.get(&i.price))
                .map_or(30 * DAY, Price::period_seconds);
            let s = self.subscriptions.get_mut(id).expect("exists");
            s.period_start = now;
            s.period_end = now + period;
            s.billing_cycle_anchor = now;
            let lines = self.cycle_lines(id, now, now + period, 0);
            return Some(self.new_invoice_with(id, "subscription_update", lines, (now, now)));
        }
        if proration == "none" {
            return None;
        }
        for item in &old.items {
            let kept = sub.items.iter().find(|i| i.id == item.id);
            if kept.is_none_or(|k| k.price != item.price || k.quantity != item.quantity) {
                self.proration_item(id, &item.id, &item.price, item.quantity, true, at, start, end);
            }
        }
        for item in &sub.items {
            let was = old.items.iter().find(|i| i.id == item.id);
            if was.is_none_or(|w| w.price != item.price || w.quantity != item.quantity) {
                self.proration_item(id, &item.id, &item.price, item.quantity, false, at, start, end);
            }
        }
        if proration == "always_invoice" && !self.pending_items_of(id).is_empty() {
            return Some(self.new_invoice_with(id, "subscription_update", Vec::new(), (now, now)));
        }
        None
    }

    /// Ends a change: `customer.subscription.updated`, then the invoice made by it (issued and
    /// collected, with a second `customer.subscription.updated` when collection moved the
    /// status), then the entitlements. Returns whether the invoice, if any, was paid.
    pub(super) fn finish_change(&mut self, id: &str, before: &Value, invoice: Option<String>) -> bool {
        self.emit_updated(id, before);
        let mut paid = true;
        if let Some(invoice) = invoice {
            self.emit_invoice_issued(&invoice);
            let before_collection = self.render_subscription(id);
            paid = self.collect(id, &invoice);
            self.emit_updated(id, &before_collection);
        }
        let customer = self.subscriptions[id].customer.clone();
        self.refresh_entitlements(&customer);
        paid
    }

    /// `customer.subscription.updated` with the top-level fields that changed.
    pub(super) fn emit_updated(&mut self, id: &str, before: &Value) {
        let after = self.render_subscription(id);
        if let Some(previous) = changed_fields(before, &after) {
            self.emit("customer.subscription.updated", after, Some(previous));
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

/// The top-level fields of `before` that differ in `after` (an event's `previous_attributes`).
pub(super) fn changed_fields(before: &Value, after: &Value) -> Option<Value> {
    let mut previous = serde_json::Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (key, old) in b {
            if a.get(key) != Some(old) {
                previous.insert(key.clone(), old.clone());
            }
        }
    }
    (!previous.is_empty()).then_some(Value::Object(previous))
}

/// A missing object: 404 when the path names it (`param` "id"), 400 when a parameter refers to it.
fn missing(kind: &str, id: &str, param: &str) -> StripeError {
    if param == "id" {
        StripeError::no_such(kind, id, param)
    } else {
        StripeError::no_such_ref(kind, id, param)
    }
}
