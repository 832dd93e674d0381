//! Pausing, two ways. Paused collection (`pause_collection` on an update): the subscription stays
//! `active` and renews, but its invoices are not collected (see `World::issue`) until the pause
//! is cleared or its `resumes_at` passes. A `paused` status: a trial that ended without a
//! payment method under `trial_settings.end_behavior.missing_payment_method=pause` (or the
//! emulator's pause control), until `POST /v1/subscriptions/{id}/resume` bills a new period.
//! Also what a trial ending without a payment method does otherwise (`cancel`, or
//! `create_invoice`: an invoice that cannot be collected).

use super::*;
use crate::params::one_of;

impl World {
    /// `pause_collection[behavior|resumes_at]` of an update: `None` when not given, `Some(None)`
    /// when cleared (`pause_collection=`).
    pub(super) fn parse_pause_collection(&self, params: &Params) -> Result<Option<Option<PauseCollection>>, StripeError> {
        match params.value("pause_collection") {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
            Some(Value::Object(map)) => {
                if let Some(unknown) = map.keys().find(|k| !matches!(k.as_str(), "behavior" | "resumes_at")) {
                    return Err(StripeError::unknown_param(&format!("pause_collection[{unknown}]")));
                }
                let behavior = one_of(params, "pause_collection.behavior", PAUSE_BEHAVIORS)?
                    .ok_or_else(|| StripeError::missing_param("pause_collection[behavior]"))?;
                let resumes_at = params.i64("pause_collection.resumes_at")?;
                if resumes_at.is_some_and(|at| at <= self.now()) {
                    return Err(StripeError::invalid(
                        "pause_collection[resumes_at]",
                        "pause_collection[resumes_at] must be in the future.",
                    ));
                }
                Ok(Some(Some(PauseCollection {
                    behavior: behavior.to_owned(),
                    resumes_at,
                })))
            }
            Some(_) => Err(StripeError::invalid("pause_collection", "Invalid object: pause_collection")),
        }
    }

    /// The clock reached `pause_collection[resumes_at]`: collection resumes
    /// (`customer.subscription.updated`).
    pub(super) fn resume_collection(&mut self, id: &str) {
        let before = self.render_subscription(id);
        self.subscriptions.get_mut(id).expect("due").pause_collection = None;
        self.emit_updated(id, &before);
    }

    /// A trial ends and nothing can pay (no payment method on the subscription or its
    /// customer): `missing_payment_method=cancel` cancels it (`customer.subscription.deleted`),
    /// `pause` pauses it (`customer.subscription.paused`, then `updated`). Returns whether it
    /// did; with `create_invoice` (or a payment method) the trial ends with an invoice as usual.
    pub(super) fn end_trial_without_payment_method(&mut self, id: &str) -> bool {
        if self.payment_card(id).is_some() {
            return false;
        }
        match self.subscriptions[id].missing_payment_method.as_str() {
            "cancel" => {
                self.end_subscription(id, Some("cancellation_requested"));
                true
            }
            "pause" => {
                self.set_paused(id);
                true
            }
            _ => false,
        }
    }

    /// Status `paused`: `customer.subscription.paused`, then `customer.subscription.updated`.
    fn set_paused(&mut self, id: &str) {
        let before = self.render_subscription(id);
        let sub = self.subscriptions.get_mut(id).expect("exists");
        sub.status = "paused".into();
        sub.next_retry = None;
        let customer = sub.customer.clone();
        let rendered = self.render_subscription(id);
        self.emit("customer.subscription.paused", rendered, None);
        self.emit_updated(id, &before);
        self.refresh_entitlements(&customer);
    }

    /// Emulator control (as the Dashboard pauses one): an active, trialing or past_due
    /// subscription becomes `paused`.
    pub fn pause_subscription(&mut self, id: &str) -> Result<Value, StripeError> {
        let current = self.subscription_of(id, "id")?;
        if !matches!(current.status.as_str(), "active" | "trialing" | "past_due") {
            return Err(StripeError::state(format!(
                "Only active subscriptions can be paused; this one is `{}`.",
                current.status
            )));
        }
        self.set_paused(id);
        Ok(self.render_subscription(id))
    }

    /// `POST /v1/subscriptions/{id}/resume` of a `paused` subscription. With
    /// `billing_cycle_anchor=now` (the default) a new period starts now and a whole one is
    /// invoiced; with `unchanged` the period that contains now is kept and its rest invoiced pro
    /// rata (unless `proration_behavior=none`). The invoice is collected at once: paid, the
    /// subscription is `active`; declined (or nothing to pay with), `past_due`. Emits
    /// `customer.subscription.resumed` and `customer.subscription.updated`.
    pub fn resume_subscription(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["billing_cycle_anchor", "proration_behavior", "proration_date"])?;
        let current = self.subscription_of(id, "id")?.clone();
        if current.status != "paused" {
            return Err(StripeError::state(format!(
                "Only a paused subscription can be resumed; the subscription `{id}` is `{}`.",
                current.status
            )));
        }
        let anchor = one_of(params, "billing_cycle_anchor", &["now", "unchanged"])?.unwrap_or("now");
        let proration =
            one_of(params, "proration_behavior", &["always_invoice", "create_prorations", "none"])?.unwrap_or("create_prorations");
        params.i64("proration_date")?;
        let now = self.now();
        let before = current.render(&self.prices);
        let period = current
            .items
            .first()
            .and_then(|i| self.prices.get(&i.price))
            .map_or(30 * DAY, Price::period_seconds);
        let sub = self.subscriptions.get_mut(id).expect("checked");
        sub.status = "active".into();
        let (start, end) = if anchor == "now" {
            sub.billing_cycle_anchor = now;
            (now, now + period)
        } else {
            let (mut start, mut end) = (sub.period_start, sub.period_end);
            while end <= now {
                (start, end) = (end, end + period);
            }
            (start, end)
        };
        (sub.period_start, sub.period_end) = (start, end);
        let customer = sub.customer.clone();
        if anchor == "now" || proration != "none" {
            let lines = self.cycle_lines(id, now, end, 0);
            let invoice = self.draft_invoice_with(id, "subscription_update", lines, (now, now));
            self.issue(id, &invoice);
        }
        let rendered = self.render_subscription(id);
        self.emit("customer.subscription.resumed", rendered, None);
        self.emit_updated(id, &before);
        self.refresh_entitlements(&customer);
        Ok(self.render_subscription(id))
    }
}
