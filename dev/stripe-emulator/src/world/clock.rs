//! The clock: renewals, trial ends, payment retries, dunning and period-end cancellations.

use super::*;

impl World {
    /// Moves the clock forward by `seconds`, applying every renewal, trial end, payment retry,
    /// dunning cancellation and period-end cancellation that falls due, in time order.
    pub fn advance(&mut self, seconds: i64) -> Result<i64, StripeError> {
        if !(0..=5 * 365 * DAY).contains(&seconds) {
            return Err(StripeError::invalid("seconds", "Advance by 0 to 5 years."));
        }
        let target = self.now() + seconds;
        while let Some((at, id, action)) = self.next_due(target) {
            self.offset += (at - self.now()).max(0);
            self.apply(&id, action);
        }
        self.offset += (target - self.now()).max(0);
        Ok(self.now())
    }

    fn next_due(&self, target: i64) -> Option<(i64, String, Due)> {
        let mut best: Option<(i64, String, Due)> = None;
        for sub in self.subscriptions.values() {
            let candidate = match sub.status.as_str() {
                "trialing" => {
                    let end = sub.trial_end.unwrap_or(sub.period_end);
                    if !sub.trial_will_end_sent && !sub.cancel_at_period_end && end - 3 * DAY <= target {
                        Some(((end - 3 * DAY).max(sub.created), Due::TrialWillEnd))
                    } else if end <= target {
                        Some((end, if sub.cancel_at_period_end { Due::End } else { Due::Charge }))
                    } else {
                        None
                    }
                }
                "active" if sub.period_end <= target => {
                    Some((sub.period_end, if sub.cancel_at_period_end { Due::End } else { Due::Charge }))
                }
                "past_due" => {
                    let give_up = sub.failing_since.unwrap_or(sub.period_start) + self.settings.dunning_days * DAY;
                    let retry = sub.next_retry.unwrap_or(give_up);
                    if retry < give_up && retry <= target {
                        Some((retry, Due::Retry))
                    } else if give_up <= target {
                        Some((give_up, Due::Dunning))
                    } else if sub.cancel_at_period_end && sub.period_end <= target {
                        Some((sub.period_end, Due::End))
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some((at, due)) = candidate
                && best.as_ref().is_none_or(|(t, id, _)| (at, &sub.id) < (*t, id))
            {
                best = Some((at, sub.id.clone(), due));
            }
        }
        best
    }

    fn apply(&mut self, id: &str, due: Due) {
        match due {
            Due::TrialWillEnd => {
                self.subscriptions.get_mut(id).expect("due").trial_will_end_sent = true;
                let rendered = self.render_subscription(id);
                self.emit("customer.subscription.trial_will_end", rendered, None);
            }
            Due::End => self.end_subscription(id, Some("cancellation_requested")),
            Due::Dunning => {
                if let Some(invoice) = self.subscriptions[id].latest_invoice.clone() {
                    self.invoices.get_mut(&invoice).expect("exists").next_payment_attempt = None;
                }
                self.end_subscription(id, Some("payment_failed"));
            }
            Due::Charge => {
                let before = self.render_subscription(id);
                let price = self.subscriptions[id].items.first().map(|i| i.price.clone());
                let period = price.and_then(|p| self.prices.get(&p)).map_or(30 * DAY, Price::period_seconds);
                let sub = self.subscriptions.get_mut(id).expect("due");
                sub.period_start = sub.period_end;
                sub.period_end += period;
                let invoice = self.new_invoice(id, "subscription_cycle", 0);
                self.charge_renewal(id, &invoice, &before);
            }
            Due::Retry => {
                let before = self.render_subscription(id);
                if let Some(invoice) = self.subscriptions[id].latest_invoice.clone() {
                    self.charge_renewal(id, &invoice, &before);
                }
            }
        }
    }

    /// Attempts the subscription's card on `invoice`.
    fn charge_renewal(&mut self, id: &str, invoice: &str, before: &Value) {
        let now = self.now();
        let card = self.subscriptions[id].card;
        match card {
            Card::Succeeds => {
                self.mark_paid(invoice);
                let sub = self.subscriptions.get_mut(id).expect("due");
                sub.status = "active".into();
                sub.failing_since = None;
                sub.next_retry = None;
                self.emit_invoice("invoice.paid", invoice);
            }
            Card::FailsLater => {
                let retry = now + self.settings.retry_every_days * DAY;
                let sub = self.subscriptions.get_mut(id).expect("due");
                sub.status = "past_due".into();
                sub.failing_since.get_or_insert(now);
                sub.next_retry = Some(retry);
                let inv = self.invoices.get_mut(invoice).expect("exists");
                inv.attempt_count += 1;
                inv.next_payment_attempt = Some(retry);
                self.emit_invoice("invoice.payment_failed", invoice);
            }
        }
        self.emit_updated(id, before);
        let customer = self.subscriptions[id].customer.clone();
        self.refresh_entitlements(&customer);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    TrialWillEnd,
    Charge,
    Retry,
    Dunning,
    End,
}
