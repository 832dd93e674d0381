//! Subscription schedules: created from a subscription, updated with phases, released,
//! canceled; the clock moves them from phase to phase (see [`World::end_phase`]). The phases
//! a request sends are read and checked in `schedule_params`.

use super::schedule_params::PRORATIONS;
use super::subscription_lifecycle::CancellationDetails;
use super::subscriptions::changed_fields;
use super::*;
use crate::params::one_of;

impl World {
    fn schedule_of(&self, id: &str) -> Result<&SubscriptionSchedule, StripeError> {
        self.schedules
            .get(id)
            .ok_or_else(|| StripeError::no_such("subscription_schedule", id, "id"))
    }

    pub fn subscription_schedule(&self, id: &str) -> Result<Value, StripeError> {
        self.schedule_of(id).map(SubscriptionSchedule::render)
    }

    /// `GET /v1/subscription_schedules`: `customer`, `scheduled`; newest first.
    pub fn list_subscription_schedules(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "customer",
            "scheduled",
            "created",
            "canceled_at",
            "completed_at",
            "released_at",
            "limit",
            "starting_after",
            "ending_before",
        ])?;
        let customer = params.str("customer")?;
        let scheduled = params.bool("scheduled")?;
        let created = super::events::CreatedFilter::from_params(params)?;
        let ids = self.newest_first(self.schedules.keys());
        let items = ids
            .iter()
            .map(|id| &self.schedules[id])
            .filter(|s| customer.is_none_or(|c| s.customer == c))
            .filter(|s| scheduled.is_none_or(|want| (s.status == "not_started") == want))
            .filter(|s| created.accepts(s.created))
            .map(|s| (s.id.clone(), s.render()))
            .collect();
        let (data, has_more) = paginate_both(items, params.str("starting_after")?, params.str("ending_before")?, params.limit()?)?;
        Ok(list("/v1/subscription_schedules", data, has_more))
    }

    /// `POST /v1/subscription_schedules` with `from_subscription` (alone, as Stripe requires):
    /// one phase mirroring the subscription's items and current period.
    pub fn create_subscription_schedule(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "from_subscription",
            "customer",
            "phases",
            "end_behavior",
            "metadata",
            "start_date",
            "default_settings",
            "billing_mode",
        ])?;
        let Some(sub_id) = params.str("from_subscription")? else {
            return Err(StripeError::invalid(
                "from_subscription",
                "The Stripe emulator creates subscription schedules from an existing subscription only: pass `from_subscription`.",
            ));
        };
        for other in ["customer", "phases", "end_behavior", "metadata", "start_date", "default_settings"] {
            if params.value(other).is_some() {
                return Err(StripeError::invalid(
                    other,
                    format!("You cannot set `{other}` if `from_subscription` is set."),
                ));
            }
        }
        let sub = self.subscription_of(sub_id, "from_subscription")?.clone();
        if let Some(existing) = &sub.schedule {
            return Err(StripeError::invalid(
                "from_subscription",
                format!("You cannot migrate a subscription that is already attached to a schedule: `{existing}`."),
            ));
        }
        if matches!(sub.status.as_str(), "canceled" | "incomplete_expired") {
            return Err(StripeError::invalid(
                "from_subscription",
                format!("You cannot migrate a subscription that is `{}`.", sub.status),
            ));
        }
        let currency = sub.currency.clone();
        let id = new_id("sub_sched");
        let end_date = if sub.cancel_at_period_end {
            sub.period_end
        } else {
            sub.cancel_at.unwrap_or(sub.period_end).min(sub.period_end)
        };
        let schedule = SubscriptionSchedule {
            id: id.clone(),
            customer: sub.customer.clone(),
            subscription: Some(sub.id.clone()),
            status: "active".into(),
            // A subscription set to end keeps ending: the schedule cancels it at its last phase.
            end_behavior: if sub.effective_cancel_at().is_some() { "cancel" } else { "release" }.into(),
            phases: vec![SchedulePhase {
                start_date: sub.period_start,
                end_date,
                items: sub
                    .items
                    .iter()
                    .map(|i| LineItem {
                        price: i.price.clone(),
                        quantity: i.quantity,
                    })
                    .collect(),
                proration_behavior: "create_prorations".into(),
                metadata: Metadata::new(),
                currency,
                // The trial goes on in the schedule's first phase.
                trial_end: sub.trial_end.filter(|_| sub.status == "trialing"),
                discounts: Vec::new(),
                default_tax_rates: Vec::new(),
                default_payment_method: None,
                collection_method: None,
            }],
            current: 0,
            metadata: Metadata::new(),
            created: self.now(),
            canceled_at: None,
            completed_at: None,
            released_at: None,
            released_subscription: None,
        };
        let rendered = schedule.render();
        self.schedules.insert(id.clone(), schedule);
        self.track(&id);
        let before = self.render_subscription(&sub.id);
        self.subscriptions.get_mut(&sub.id).expect("checked").schedule = Some(id.clone());
        self.sync_cancel_at(&id);
        self.emit("subscription_schedule.created", rendered.clone(), None);
        self.emit_updated(&sub.id, &before);
        Ok(rendered)
    }

    /// `POST /v1/subscription_schedules/{id}`: `phases` (items, start and end dates or a
    /// duration, proration behavior, metadata), `end_behavior`, `proration_behavior`,
    /// `metadata`. The current phase's items take effect on the subscription at once.
    pub fn update_subscription_schedule(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["phases", "end_behavior", "proration_behavior", "metadata", "default_settings"])?;
        let schedule = self.schedule_of(id)?.clone();
        if !matches!(schedule.status.as_str(), "not_started" | "active") {
            return Err(StripeError::state(format!(
                "You cannot update a subscription schedule that is currently in the `{}` status. It must be in one of the following statuses: `not_started`, `active`.",
                schedule.status
            )));
        }
        let end_behavior = one_of(params, "end_behavior", &["release", "cancel"])?;
        let proration = one_of(params, "proration_behavior", PRORATIONS)?;
        let phases = if params.value("phases").is_some() {
            Some(self.parse_phases(params, &schedule)?)
        } else {
            None
        };
        let metadata = if params.value("metadata").is_some() {
            Some(params.metadata("metadata")?)
        } else {
            None
        };

        let before = schedule.render();
        let mut next = schedule.clone();
        if let Some(end_behavior) = end_behavior {
            next.end_behavior = end_behavior.to_owned();
        }
        if let Some(metadata) = metadata {
            next.metadata.extend(metadata);
            next.metadata.retain(|_, v| !v.is_empty());
        }
        if let Some(phases) = phases {
            next.phases = phases;
            next.current = 0;
        }
        self.schedules.insert(id.to_owned(), next.clone());
        if let (Some(sub_id), "active") = (&next.subscription, next.status.as_str()) {
            let before_sub = self.render_subscription(sub_id);
            self.sync_cancel_at(id);
            match next.phases.first() {
                Some(phase) => {
                    let behavior = proration.unwrap_or(phase.proration_behavior.as_str()).to_owned();
                    self.enter_phase(sub_id, phase, &behavior, &before_sub);
                }
                None => self.emit_updated(sub_id, &before_sub),
            }
        }
        let after = self.schedules[id].render();
        if let Some(previous) = changed_fields(&before, &after) {
            self.emit("subscription_schedule.updated", after, Some(previous));
        }
        // A current phase ending `now` moves on at once.
        self.advance(0)?;
        self.subscription_schedule(id)
    }

    /// Puts a phase's items (and metadata) on the subscription, billed as an update with
    /// `proration` would be; at a period boundary nothing is left to prorate.
    fn enter_phase(&mut self, sub_id: &str, phase: &SchedulePhase, proration: &str, before: &Value) {
        let current = self.subscriptions[sub_id].clone();
        let now = self.now();
        let items: Vec<SubscriptionItem> = phase
            .items
            .iter()
            .map(|wanted| match current.items.iter().find(|i| i.price == wanted.price) {
                Some(existing) => SubscriptionItem {
                    quantity: wanted.quantity,
                    ..existing.clone()
                },
                None => SubscriptionItem {
                    id: new_id("si"),
                    price: wanted.price.clone(),
                    quantity: wanted.quantity,
                    created: now,
                    usage_from: now,
                },
            })
            .collect();
        let changed = current
            .items
            .iter()
            .map(|i| (&i.price, i.quantity))
            .ne(items.iter().map(|i| (&i.price, i.quantity)));
        let sub = self.subscriptions.get_mut(sub_id).expect("exists");
        sub.metadata.extend(phase.metadata.clone());
        sub.items = items;
        // A trialing subscription entering a phase without a trial ends its trial now (billed by
        // the clock at once); a phase with one keeps (or sets) it.
        if sub.status == "trialing" {
            match phase.trial_end.filter(|end| *end > now) {
                Some(end) => sub.trial_end = Some(end),
                None => {
                    sub.trial_end = Some(now);
                    sub.period_end = now;
                }
            }
        }
        let invoice = if changed {
            self.reprice(sub_id, &current, proration, now, false)
        } else {
            None
        };
        self.finish_change(sub_id, before, invoice);
    }

    /// The clock reached the end of a schedule's current phase: the next phase's items replace
    /// the subscription's (`customer.subscription.updated`, `subscription_schedule.updated`),
    /// or after the last phase the schedule releases the subscription
    /// (`subscription_schedule.released`) or cancels it (`subscription_schedule.completed`).
    pub(super) fn end_phase(&mut self, id: &str) {
        let schedule = self.schedules[id].clone();
        let Some(sub_id) = schedule.subscription.clone() else {
            return;
        };
        let before = schedule.render();
        let now = self.now();
        if let Some(next) = schedule.phases.get(schedule.current + 1) {
            self.schedules.get_mut(id).expect("due").current += 1;
            let behavior = next.proration_behavior.clone();
            let before_sub = self.render_subscription(&sub_id);
            self.enter_phase(&sub_id, next, &behavior, &before_sub);
            let after = self.schedules[id].render();
            self.emit("subscription_schedule.updated", after.clone(), changed_fields(&before, &after));
            return;
        }
        match schedule.end_behavior.as_str() {
            "cancel" => {
                let s = self.schedules.get_mut(id).expect("due");
                s.status = "completed".into();
                s.completed_at = Some(now);
                self.subscriptions.get_mut(&sub_id).expect("exists").schedule = None;
                let trial = self.subscriptions[&sub_id].status == "trialing";
                self.end_subscription(&sub_id, Some("cancellation_requested"));
                let rendered = self.schedules[id].render();
                self.emit("subscription_schedule.completed", rendered, None);
                // The metered usage of the last period, in arrears.
                if self.has_metered_items(&sub_id) {
                    self.final_usage_invoice(&sub_id, now, "subscription_cycle", if trial { 100 } else { 0 });
                }
            }
            _ => self.release(id, &sub_id, true),
        }
    }

    /// A schedule that cancels at its end sets the subscription's `cancel_at` to the end of
    /// its last phase (so the last period is billed up to it); one that releases sets none.
    fn sync_cancel_at(&mut self, id: &str) {
        let schedule = &self.schedules[id];
        let (Some(sub_id), Some(last)) = (schedule.subscription.clone(), schedule.phases.last()) else {
            return;
        };
        let cancel_at = (schedule.end_behavior == "cancel").then_some(last.end_date);
        let now = self.now();
        let sub = self.subscriptions.get_mut(&sub_id).expect("exists");
        if sub.cancel_at != cancel_at || sub.cancel_at_period_end {
            sub.cancel_at = cancel_at;
            sub.cancel_at_period_end = false;
            sub.cancellation_reason = cancel_at.map(|_| "cancellation_requested");
            sub.canceled_at = cancel_at.map(|_| now);
        }
    }

    /// Detaches the subscription, which goes on by itself: `subscription_schedule.released`.
    /// Without `preserve_cancel_date`, a cancellation the schedule had set is lifted.
    fn release(&mut self, id: &str, sub_id: &str, preserve_cancel_date: bool) {
        let now = self.now();
        let sub_before = self.render_subscription(sub_id);
        if !preserve_cancel_date && self.schedules[id].end_behavior == "cancel" {
            let sub = self.subscriptions.get_mut(sub_id).expect("exists");
            sub.cancel_at = None;
            sub.cancel_at_period_end = false;
            sub.cancellation_reason = None;
            sub.canceled_at = None;
        }
        let s = self.schedules.get_mut(id).expect("exists");
        s.status = "released".into();
        s.released_at = Some(now);
        s.released_subscription = Some(sub_id.to_owned());
        s.subscription = None;
        self.subscriptions.get_mut(sub_id).expect("exists").schedule = None;
        let rendered = self.schedules[id].render();
        self.emit("subscription_schedule.released", rendered, None);
        self.emit_updated(sub_id, &sub_before);
    }

    /// `POST /v1/subscription_schedules/{id}/release`.
    pub fn release_subscription_schedule(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["preserve_cancel_date"])?;
        let preserve = params.bool("preserve_cancel_date")?.unwrap_or(false);
        let schedule = self.schedule_of(id)?.clone();
        if !matches!(schedule.status.as_str(), "not_started" | "active") {
            return Err(StripeError::state(format!(
                "You cannot release a subscription schedule that is currently in the `{}` status. It must be in one of the following statuses: `not_started`, `active`.",
                schedule.status
            )));
        }
        match &schedule.subscription {
            Some(sub_id) => self.release(id, sub_id, preserve),
            None => {
                let now = self.now();
                let s = self.schedules.get_mut(id).expect("checked");
                s.status = "released".into();
                s.released_at = Some(now);
                let rendered = s.render();
                self.emit("subscription_schedule.released", rendered, None);
            }
        }
        self.subscription_schedule(id)
    }

    /// `POST /v1/subscription_schedules/{id}/cancel`: `invoice_now`, `prorate` (default true);
    /// cancels the subscription now too.
    pub fn cancel_subscription_schedule(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["invoice_now", "prorate"])?;
        let prorate = params.bool("prorate")?.unwrap_or(true);
        let invoice_now = params.bool("invoice_now")?.unwrap_or(false);
        let schedule = self.schedule_of(id)?.clone();
        if !matches!(schedule.status.as_str(), "not_started" | "active") {
            return Err(StripeError::state(format!(
                "You cannot cancel a subscription schedule that is currently in the `{}` status. It must be in one of the following statuses: `not_started`, `active`.",
                schedule.status
            )));
        }
        // Ending the subscription cancels its schedule (`subscription_schedule.canceled`).
        match schedule
            .subscription
            .as_ref()
            .filter(|s| self.subscriptions[*s].status != "canceled")
        {
            Some(sub_id) => self.end_with_prorations(sub_id, prorate, invoice_now, CancellationDetails::default()),
            None => {
                let now = self.now();
                let s = self.schedules.get_mut(id).expect("checked");
                s.status = "canceled".into();
                s.canceled_at = Some(now);
                let rendered = s.render();
                self.emit("subscription_schedule.canceled", rendered, None);
            }
        }
        self.subscription_schedule(id)
    }
}
