//! A subscription's end: canceled now (with prorations and a final invoice) or at the end of
//! its schedule, with the `cancellation_details` a cancellation records. Pausing and resuming
//! are in `pause`.

use super::*;
use crate::params::one_of;

/// Changes to `cancellation_details`: each `Some` replaces (with `None` clearing).
#[derive(Default)]
pub(super) struct CancellationDetails {
    comment: Option<Option<String>>,
    feedback: Option<Option<String>>,
}

impl CancellationDetails {
    pub(super) fn parse(params: &Params) -> Result<Self, StripeError> {
        match params.value("cancellation_details") {
            None => return Ok(Self::default()),
            Some(Value::String(s)) if s.is_empty() => {
                return Ok(Self {
                    comment: Some(None),
                    feedback: Some(None),
                });
            }
            Some(Value::Object(map)) => {
                if let Some(unknown) = map
                    .keys()
                    .find(|k| !matches!(k.as_str(), "comment" | "feedback" | "feedback_option"))
                {
                    return Err(StripeError::unknown_param(&format!("cancellation_details[{unknown}]")));
                }
            }
            Some(_) => return Err(StripeError::invalid("cancellation_details", "Invalid object: cancellation_details")),
        }
        let comment = params
            .value("cancellation_details.comment")
            .map(|_| params.str("cancellation_details.comment").map(|c| c.map(str::to_owned)))
            .transpose()?;
        if comment.as_ref().and_then(|c| c.as_ref()).is_some_and(|c| c.chars().count() > 5000) {
            return Err(StripeError::invalid(
                "cancellation_details[comment]",
                "Comments can be at most 5000 characters long.",
            ));
        }
        let feedback = params
            .value("cancellation_details.feedback")
            .map(|_| one_of(params, "cancellation_details.feedback", CANCELLATION_FEEDBACK).map(|f| f.map(str::to_owned)))
            .transpose()?;
        Ok(Self { comment, feedback })
    }

    pub(super) fn apply(self, sub: &mut Subscription) {
        if let Some(comment) = self.comment {
            sub.cancellation_comment = comment;
        }
        if let Some(feedback) = self.feedback {
            sub.cancellation_feedback = feedback;
        }
    }
}

impl World {
    /// `DELETE /v1/subscriptions/{id}` without parameters.
    pub fn cancel_subscription(&mut self, id: &str) -> Result<Value, StripeError> {
        self.cancel_subscription_with(id, &Params::empty())
    }

    /// `DELETE /v1/subscriptions/{id}`: `prorate` (a credit invoice item for the unused time),
    /// `invoice_now` (a final invoice with the pending items; a negative total is credited to
    /// the customer's balance), `cancellation_details[comment|feedback]`.
    pub fn cancel_subscription_with(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["prorate", "invoice_now", "cancellation_details"])?;
        let current = self.subscription_of(id, "id")?.clone();
        if current.status == "canceled" {
            return Err(StripeError::state(format!("No such subscription: '{id}' is already canceled.")));
        }
        let prorate = params.bool("prorate")?.unwrap_or(false);
        let invoice_now = params.bool("invoice_now")?.unwrap_or(false);
        let details = CancellationDetails::parse(params)?;
        self.end_with_prorations(id, prorate, invoice_now, details);
        Ok(self.render_subscription(id))
    }

    /// Cancels now (validated by the caller): proration credits when `prorate`, the
    /// subscription ended (`customer.subscription.deleted`), then the final invoice when
    /// `invoice_now` and something is pending or metered. Without `invoice_now`, the metered
    /// usage of the unfinished period is not billed.
    pub(super) fn end_with_prorations(&mut self, id: &str, prorate: bool, invoice_now: bool, details: CancellationDetails) {
        let now = self.now();
        let sub = self.subscriptions[id].clone();
        if prorate && !matches!(sub.status.as_str(), "trialing" | "paused") {
            for item in &sub.items {
                self.proration_item(
                    id,
                    &item.id,
                    &item.price,
                    item.quantity,
                    true,
                    now,
                    sub.period_start,
                    sub.period_end,
                );
            }
        }
        details.apply(self.subscriptions.get_mut(id).expect("exists"));
        self.end_subscription(id, Some("cancellation_requested"));
        if !invoice_now {
            return;
        }
        // The final invoice: un-invoiced metered usage of the period so far, this second
        // included (free in a trial), and the pending invoice items.
        let mut usage = self.usage_lines(id, sub.period_start, now + 1, if sub.status == "trialing" { 100 } else { 0 });
        for line in &mut usage {
            line.period_end = now;
        }
        if !usage.is_empty() || !self.pending_items_of(id).is_empty() {
            let period = if usage.is_empty() { (now, now) } else { (sub.period_start, now) };
            let invoice = self.new_invoice_with(id, "subscription_update", usage, period);
            self.emit_invoice_issued(&invoice);
            self.collect(id, &invoice);
        }
    }

    /// Ends a subscription now: status `canceled`, `customer.subscription.deleted`. A schedule
    /// still managing it is canceled with it (`subscription_schedule.canceled`).
    pub(super) fn end_subscription(&mut self, id: &str, reason: Option<&'static str>) {
        let now = self.now();
        let sub = self.subscriptions.get_mut(id).expect("caller checked");
        sub.status = "canceled".into();
        sub.ended_at = Some(now);
        sub.canceled_at.get_or_insert(now);
        sub.cancellation_reason = reason.or(sub.cancellation_reason);
        sub.next_retry = None;
        let customer = sub.customer.clone();
        let schedule = sub.schedule.clone();
        let rendered = self.render_subscription(id);
        self.emit("customer.subscription.deleted", rendered, None);
        if let Some(schedule) = schedule
            && let Some(s) = self.schedules.get_mut(&schedule)
            && matches!(s.status.as_str(), "active" | "not_started")
        {
            s.status = "canceled".into();
            s.canceled_at = Some(now);
            let rendered = s.render();
            self.emit("subscription_schedule.canceled", rendered, None);
        }
        self.refresh_entitlements(&customer);
    }
}
