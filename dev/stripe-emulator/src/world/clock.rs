//! The clock: schedule phases, renewals (not collected while collection is paused), trial ends
//! (with or without a payment method), payment retries, dunning, scheduled cancellations
//! (`cancel_at`, `cancel_at_period_end`) and paused collection resuming at `resumes_at`.

use super::*;

impl World {
    /// Moves the clock forward by `seconds`, applying every schedule phase change, renewal,
    /// trial end, payment retry, dunning cancellation and scheduled cancellation that falls due,
    /// in time order. At one instant a schedule's phase change comes before its subscription's
    /// renewal, so the renewal bills the new phase's prices.
    pub fn advance(&mut self, seconds: i64) -> Result<i64, StripeError> {
        if !(0..=5 * 365 * DAY).contains(&seconds) {
            return Err(StripeError::invalid("seconds", "Advance by 0 to 5 years."));
        }
        let target = self.now() + seconds;
        if let Some(clock) = self.scope.clone() {
            // On a test clock's time (a preview on a copy of the world): its time moves.
            self.run_due(target, |world, at| world.set_frozen_time(&clock, at));
            self.set_frozen_time(&clock, target);
            return Ok(self.now());
        }
        self.run_due(target, |world, at| {
            world.offset += (at - world.now()).max(0);
            // The functions see each step's time before its events reach them.
            world.write_clock_file();
        });
        self.offset += (target - self.now()).max(0);
        self.write_clock_file();
        Ok(self.now())
    }

    /// Applies every action due by `target` in time order, `step` first moving the time to
    /// each one's instant (the global offset, or a test clock's `frozen_time`).
    pub(super) fn run_due(&mut self, target: i64, mut step: impl FnMut(&mut Self, i64)) {
        while let Some((at, _, id, action)) = self.next_due(target) {
            step(self, at);
            self.apply(&id, action);
        }
    }

    /// The earliest due action: (time, rank, object id, action); schedules rank first. Only the
    /// objects of customers on the test clock in scope (none: of customers on no test clock).
    fn next_due(&self, target: i64) -> Option<(i64, u8, String, Due)> {
        let mut candidates: Vec<(i64, u8, String, Due)> = Vec::new();
        for schedule in self
            .schedules
            .values()
            .filter(|s| s.status == "active" && self.in_scope(&s.customer))
        {
            if let Some(phase) = schedule.phases.get(schedule.current)
                && phase.end_date <= target
            {
                candidates.push((phase.end_date, 0, schedule.id.clone(), Due::Phase));
            }
        }
        for sub in self.subscriptions.values().filter(|s| self.in_scope(&s.customer)) {
            // Collection resumes before a renewal of the same instant, so that one is collected.
            if let Some(at) = sub.pause_collection.as_ref().and_then(|p| p.resumes_at)
                && at <= target
                && sub.status != "canceled"
            {
                candidates.push((at, 1, sub.id.clone(), Due::ResumeCollection));
            }
            let cancel_at = sub.cancel_at.filter(|_| !sub.cancel_at_period_end);
            let candidate = match sub.status.as_str() {
                "trialing" => {
                    let end = sub.trial_end.unwrap_or(sub.period_end);
                    if let Some(at) = cancel_at.filter(|at| *at <= end && *at <= target) {
                        Some((at, Due::End))
                    } else if !sub.trial_will_end_sent && !sub.cancel_at_period_end && end - 3 * DAY <= target {
                        Some(((end - 3 * DAY).max(sub.created), Due::TrialWillEnd))
                    } else if end <= target {
                        Some((end, if sub.cancel_at_period_end { Due::End } else { Due::Charge }))
                    } else {
                        None
                    }
                }
                "active" => {
                    if let Some(at) = cancel_at.filter(|at| *at <= sub.period_end && *at <= target) {
                        Some((at, Due::End))
                    } else if sub.period_end <= target {
                        Some((sub.period_end, if sub.cancel_at_period_end { Due::End } else { Due::Charge }))
                    } else {
                        None
                    }
                }
                "past_due" => {
                    let give_up = sub.failing_since.unwrap_or(sub.period_start) + self.settings.dunning_days * DAY;
                    let retry = sub.next_retry.unwrap_or(give_up);
                    let scheduled_end = sub.effective_cancel_at().filter(|at| *at <= target);
                    if scheduled_end.is_some_and(|end| end <= retry.min(give_up)) {
                        scheduled_end.map(|end| (end, Due::End))
                    } else if retry < give_up && retry <= target {
                        Some((retry, Due::Retry))
                    } else if give_up <= target {
                        Some((give_up, Due::Dunning))
                    } else {
                        scheduled_end.map(|end| (end, Due::End))
                    }
                }
                _ => None,
            };
            if let Some((at, due)) = candidate {
                candidates.push((at, 1, sub.id.clone(), due));
            }
        }
        candidates.into_iter().min_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)))
    }

    fn apply(&mut self, id: &str, due: Due) {
        match due {
            Due::Phase => self.end_phase(id),
            Due::TrialWillEnd => {
                self.subscriptions.get_mut(id).expect("due").trial_will_end_sent = true;
                let rendered = self.render_subscription(id);
                self.emit("customer.subscription.trial_will_end", rendered, None);
            }
            Due::End => {
                // Metered usage is billed in arrears: the period that ends with the subscription
                // gets a final invoice for it (free when it was a trial). Pending invoice items
                // (prorations) are collected at the end of the period too, as Stripe does for a
                // subscription set to cancel then.
                let trial = self.subscriptions[id].status == "trialing";
                self.end_subscription(id, Some("cancellation_requested"));
                if self.has_metered_items(id) || !self.pending_items_of(id).is_empty() {
                    let now = self.now();
                    self.final_usage_invoice(id, now, "subscription_cycle", if trial { 100 } else { 0 });
                }
            }
            Due::Dunning => {
                if let Some(invoice) = self.subscriptions[id].latest_invoice.clone() {
                    self.invoices.get_mut(&invoice).expect("exists").next_payment_attempt = None;
                }
                self.end_subscription(id, Some("payment_failed"));
            }
            Due::ResumeCollection => self.resume_collection(id),
            Due::Charge => {
                if self.subscriptions[id].status == "trialing" && self.end_trial_without_payment_method(id) {
                    return;
                }
                let before = self.render_subscription(id);
                let price = self.subscriptions[id].items.first().map(|i| i.price.clone());
                let period = price.and_then(|p| self.prices.get(&p)).map_or(30 * DAY, Price::period_seconds);
                let sub = self.subscriptions.get_mut(id).expect("due");
                let usage_off = if sub.status == "trialing" { 100 } else { 0 };
                // The trial is over whatever its invoice comes to: collected (active, or
                // past_due when it fails), or not collected while collection is paused (active,
                // the invoice voided), never trialing again (the trial end would be due again).
                if sub.status == "trialing" {
                    sub.status = "active".into();
                }
                let (old_start, old_end) = (sub.period_start, sub.period_end);
                let mut end = old_end + period;
                // A cancel_at inside the new period shortens it (billed pro rata).
                if let Some(at) = sub.cancel_at.filter(|at| !sub.cancel_at_period_end && *at > old_end && *at < end) {
                    end = at;
                }
                sub.period_start = old_end;
                sub.period_end = end;
                // Licensed items for the new period in advance, metered usage of the period
                // that just ended in arrears; in the order of the items.
                let mut lines = self.cycle_lines(id, old_end, end, 0);
                lines.extend(self.usage_lines(id, old_start, old_end, usage_off));
                let items = &self.subscriptions[id].items;
                lines.sort_by_key(|l| items.iter().position(|i| Some(&i.id) == l.subscription_item.as_ref()));
                let invoice = self.draft_invoice_with(id, "subscription_cycle", lines, (old_start, old_end));
                self.issue(id, &invoice);
                self.emit_updated(id, &before);
                let customer = self.subscriptions[id].customer.clone();
                self.refresh_entitlements(&customer);
            }
            Due::Retry => {
                let before = self.render_subscription(id);
                if let Some(invoice) = self.subscriptions[id].latest_invoice.clone()
                    && self.invoices[&invoice].status == "open"
                {
                    self.collect(id, &invoice);
                } else {
                    self.subscriptions.get_mut(id).expect("due").next_retry = None;
                }
                self.emit_updated(id, &before);
                let customer = self.subscriptions[id].customer.clone();
                self.refresh_entitlements(&customer);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Phase,
    TrialWillEnd,
    Charge,
    Retry,
    Dunning,
    End,
    ResumeCollection,
}
