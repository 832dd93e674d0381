//! Subscriptions: retrieve, list, and update (items with prorations, cancellation settings,
//! discounts, `pause_collection`, `billing_cycle_anchor=now`); the change is billed here. The
//! items of a change are read in `subscription_items`; ending in `subscription_lifecycle`;
//! paused collection and resuming in `pause`.

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
            "discounts",
            "pause_collection",
            "billing_cycle_anchor",
            "default_payment_method",
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
        let discounts = self.parse_discounts(&current, params)?;
        let pause = self.parse_pause_collection(params)?;
        let default_payment_method = match params.value("default_payment_method") {
            None => None,
            Some(Value::String(method)) if method.is_empty() => Some(None),
            Some(_) => {
                let method = params.required_str("default_payment_method")?;
                Some(Some(self.attached_method(method, &current.customer, "default_payment_method")?))
            }
        };
        let reset_anchor = match one_of(params, "billing_cycle_anchor", &["now", "unchanged"])? {
            Some("now") if current.status == "trialing" => {
                return Err(StripeError::invalid(
                    "billing_cycle_anchor",
                    "To reset the billing cycle anchor of a trialing subscription, end its trial with `trial_end=now`.",
                ));
            }
            anchor => anchor == Some("now"),
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
            merge_metadata(&mut next.metadata, metadata);
        }
        if let Some(pause) = pause {
            next.pause_collection = pause;
        }
        if let Some(method) = default_payment_method {
            next.default_payment_method = method;
        }
        let items_changed = current
            .items
            .iter()
            .map(|i| (&i.id, &i.price, i.quantity))
            .ne(items.iter().map(|i| (&i.id, &i.price, i.quantity)));
        next.items = items;
        self.subscriptions.insert(id.to_owned(), next);
        if let Some(discounts) = discounts {
            self.set_discounts(id, discounts);
        }
        let invoice = if items_changed || reset_anchor {
            self.reprice(id, &current, proration, proration_date.unwrap_or(now), reset_anchor)
        } else {
            None
        };
        let paid = self.finish_change(id, &before, invoice);
        if !paid && let Some(snapshot) = snapshot {
            let error = if self.payment_card(id).is_none() {
                no_payment_method()
            } else {
                StripeError::card_declined("generic_decline")
            };
            *self = snapshot;
            return Err(error);
        }
        Ok(self.render_subscription(id))
    }

    /// Bills a change of items made on the subscription (`old` is the subscription before it):
    /// proration invoice items for the rest of the period (a credit for the old price ×
    /// quantity, a charge for the new) unless `proration` is `none`; a new billing interval or
    /// `reset_anchor` (`billing_cycle_anchor=now`) restarts the period now and invoices a whole
    /// one at once (with a credit for the unused time unless `none`); `always_invoice` invoices
    /// the prorations at once. Nothing is prorated during a trial. Returns the invoice made now
    /// (a draft, issued by [`World::finish_change`]), if any.
    pub(super) fn reprice(&mut self, id: &str, old: &Subscription, proration: &str, at: i64, reset_anchor: bool) -> Option<String> {
        let sub = self.subscriptions[id].clone();
        if matches!(sub.status.as_str(), "trialing" | "canceled") {
            return None;
        }
        let now = self.now();
        let (start, end) = (old.period_start, old.period_end);
        let interval_of = |items: &[SubscriptionItem]| items.first().and_then(|i| self.prices.get(&i.price)).and_then(|p| p.interval);
        if reset_anchor || interval_of(&old.items) != interval_of(&sub.items) {
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
            return Some(self.draft_invoice_with(id, "subscription_update", lines, (now, now)));
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
            return Some(self.draft_invoice_with(id, "subscription_update", Vec::new(), (now, now)));
        }
        None
    }

    /// Ends a change: `customer.subscription.updated`, then the invoice made by it (issued and
    /// collected, or not while collection is paused, with a second
    /// `customer.subscription.updated` when collection moved the status), then the
    /// entitlements. Returns whether the invoice, if any, was paid (or needed no payment).
    pub(super) fn finish_change(&mut self, id: &str, before: &Value, invoice: Option<String>) -> bool {
        self.emit_updated(id, before);
        let mut paid = true;
        if let Some(invoice) = invoice {
            let before_collection = self.render_subscription(id);
            paid = self.issue(id, &invoice);
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
}

/// Stripe's answer when a payment is needed and nothing can pay it.
pub(super) fn no_payment_method() -> StripeError {
    StripeError {
        code: Some("resource_missing"),
        ..StripeError::state(
            "This customer has no attached payment source or default payment method. Please consider adding a default payment method.",
        )
    }
}

/// `metadata` merged into `into` as Stripe merges it (an empty value removes the key).
pub(super) fn merge_metadata(into: &mut Metadata, metadata: Metadata) {
    for (key, value) in metadata {
        if value.is_empty() {
            into.remove(&key);
        } else {
            into.insert(key, value);
        }
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
