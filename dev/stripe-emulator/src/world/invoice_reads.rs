//! Reading invoices and invoice items (retrieve, list, an invoice's lines), and previewing the
//! next invoice (`create_preview`) on a throwaway copy of the world.

use super::*;

impl World {
    pub fn invoice(&self, id: &str) -> Result<Value, StripeError> {
        self.invoices
            .get(id)
            .map(|i| i.render(&self.prices))
            .ok_or_else(|| StripeError::no_such("invoice", id, "id"))
    }

    /// `GET /v1/invoices/{id}/lines`.
    pub fn invoice_lines(&self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["limit", "starting_after", "ending_before"])?;
        let invoice = self.invoices.get(id).ok_or_else(|| StripeError::no_such("invoice", id, "id"))?;
        let items = invoice
            .lines
            .iter()
            .map(|l| (l.id.clone(), invoice.render_line(l, &self.prices)))
            .collect();
        let (data, has_more) = paginate_both(items, params.str("starting_after")?, params.str("ending_before")?, params.limit()?)?;
        Ok(list(&format!("/v1/invoices/{id}/lines"), data, has_more))
    }

    /// `GET /v1/invoices`: `customer`, `subscription`, `status`, `created`; newest first.
    pub fn list_invoices(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "customer",
            "subscription",
            "status",
            "collection_method",
            "created",
            "limit",
            "starting_after",
            "ending_before",
        ])?;
        let (customer, subscription, status) = (params.str("customer")?, params.str("subscription")?, params.str("status")?);
        if let Some(status) = status
            && !matches!(status, "draft" | "open" | "paid" | "uncollectible" | "void")
        {
            return Err(StripeError::invalid(
                "status",
                format!("Invalid status: must be one of draft, open, paid, uncollectible, or void; got `{status}`."),
            ));
        }
        let created = super::events::CreatedFilter::from_params(params)?;
        let ids = self.newest_first(self.invoices.keys());
        let items = ids
            .iter()
            .map(|id| &self.invoices[id])
            .filter(|i| customer.is_none_or(|c| i.customer == c))
            .filter(|i| subscription.is_none_or(|s| i.subscription.as_deref() == Some(s)))
            .filter(|i| status.is_none_or(|s| i.status == s))
            .filter(|i| created.accepts(i.created))
            .map(|i| (i.id.clone(), i.render(&self.prices)))
            .collect();
        let (data, has_more) = paginate_both(items, params.str("starting_after")?, params.str("ending_before")?, params.limit()?)?;
        Ok(list("/v1/invoices", data, has_more))
    }

    /// `GET /v1/invoiceitems`: `customer`, `pending`, `invoice`; newest first.
    pub fn list_invoice_items(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "customer",
            "pending",
            "invoice",
            "created",
            "limit",
            "starting_after",
            "ending_before",
        ])?;
        let (customer, invoice, pending) = (params.str("customer")?, params.str("invoice")?, params.bool("pending")?);
        let created = super::events::CreatedFilter::from_params(params)?;
        let ids = self.newest_first(self.invoice_items.keys());
        let items = ids
            .iter()
            .map(|id| &self.invoice_items[id])
            .filter(|i| customer.is_none_or(|c| i.customer == c))
            .filter(|i| invoice.is_none_or(|inv| i.invoice.as_deref() == Some(inv)))
            .filter(|i| pending.is_none_or(|p| i.invoice.is_none() == p))
            .filter(|i| created.accepts(i.date))
            .map(|i| (i.id.clone(), i.render(&self.prices)))
            .collect();
        let (data, has_more) = paginate_both(items, params.str("starting_after")?, params.str("ending_before")?, params.limit()?)?;
        Ok(list("/v1/invoiceitems", data, has_more))
    }

    pub fn invoice_item(&self, id: &str) -> Result<Value, StripeError> {
        self.invoice_items
            .get(id)
            .map(|i| i.render(&self.prices))
            .ok_or_else(|| StripeError::no_such("invoiceitem", id, "id"))
    }

    /// `POST /v1/invoices/create_preview`: the invoice Stripe would make, computed on a copy of
    /// the world that is then dropped (nothing changes, no event is recorded). With
    /// `subscription_details`, the change is applied to the copy as `POST /v1/subscriptions/{id}`
    /// would: an immediate invoice (`always_invoice`, a new billing interval) is the preview;
    /// otherwise the copy's clock runs to the renewal and the renewal invoice is the preview.
    pub fn create_preview(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "customer",
            "subscription",
            "subscription_details",
            "automatic_tax",
            "currency",
            "preview_mode",
            "issuer",
            "on_behalf_of",
        ])?;
        let customer = params.str("customer")?;
        if let Some(customer) = customer {
            self.live_customer(customer, "customer")?;
        }
        let sub_id = match (params.str("subscription")?, customer) {
            (Some(sub), _) => {
                let found = self.subscription_of(sub, "subscription")?;
                if customer.is_some_and(|c| c != found.customer) {
                    return Err(StripeError::invalid(
                        "subscription",
                        format!(
                            "The subscription `{sub}` does not belong to the customer `{}`.",
                            customer.unwrap_or_default()
                        ),
                    ));
                }
                sub.to_owned()
            }
            (None, Some(customer)) => {
                let live: Vec<&Subscription> = self
                    .subscriptions
                    .values()
                    .filter(|s| s.customer == customer && s.status != "canceled")
                    .collect();
                match live.as_slice() {
                    [one] => one.id.clone(),
                    [] => return Err(no_upcoming(customer)),
                    _ => {
                        return Err(StripeError::invalid(
                            "subscription",
                            "The customer has more than one subscription: pass `subscription` to choose the one to preview.",
                        ));
                    }
                }
            }
            (None, None) => return Err(StripeError::missing_param("customer")),
        };
        let sub = &self.subscriptions[&sub_id];
        if sub.status == "canceled" {
            return Err(no_upcoming(&sub.customer));
        }
        let details = params.value("subscription_details").cloned().unwrap_or(Value::Null);
        let details = match details {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            Value::String(s) if s.is_empty() => serde_json::Map::new(),
            _ => return Err(StripeError::invalid("subscription_details", "Invalid object: subscription_details")),
        };
        const DETAILS: &[&str] = &[
            "items",
            "proration_behavior",
            "proration_date",
            "cancel_at_period_end",
            "cancel_at",
            "metadata",
        ];
        if let Some(unknown) = details.keys().find(|k| !DETAILS.contains(&k.as_str())) {
            return Err(StripeError::unknown_param(&format!("subscription_details[{unknown}]")));
        }
        let mut sim = self.clone();
        sim.pending.clear();
        // A throwaway copy: its clock, which may run ahead to the next renewal, is nobody's.
        sim.settings.clock_file = None;
        let latest = sub.latest_invoice.clone();
        if !details.is_empty() {
            sim.update_subscription(&sub_id, &Params::from_value(Value::Object(details)))
                .map_err(|mut err| {
                    err.param = err.param.map(|p| {
                        let (head, rest) = p.split_once('[').map_or((p.as_str(), String::new()), |(h, r)| (h, format!("[{r}")));
                        format!("subscription_details[{head}]{rest}")
                    });
                    err
                })?;
        }
        let immediate = sim.subscriptions[&sub_id]
            .latest_invoice
            .clone()
            .filter(|id| Some(id) != latest.as_ref());
        let (invoice_id, charge_at) = match immediate {
            Some(id) => {
                let at = sim.invoices[&id].created;
                (id, at)
            }
            None => {
                let s = &sim.subscriptions[&sub_id];
                let renews_at = if s.status == "trialing" {
                    s.trial_end.unwrap_or(s.period_end)
                } else {
                    s.period_end
                };
                if s.status == "past_due" || s.status == "paused" || s.cancel_at_period_end || s.cancel_at.is_some_and(|at| at <= renews_at)
                {
                    return Err(no_upcoming(&s.customer));
                }
                let seconds = (renews_at - sim.now()).max(0);
                sim.advance(seconds)?;
                let renewal = sim.subscriptions[&sub_id]
                    .latest_invoice
                    .clone()
                    .filter(|id| !self.invoices.contains_key(id))
                    .ok_or_else(|| no_upcoming(&sub.customer))?;
                (renewal, renews_at)
            }
        };
        let mut preview = sim.invoices[&invoice_id].clone();
        preview.id = format!("upcoming_{}", new_id("in"));
        preview.status = "draft".into();
        preview.number = None;
        preview.hosted_invoice_url = None;
        preview.invoice_pdf = None;
        preview.finalized_at = None;
        preview.ending_balance = None;
        preview.amount_paid = 0;
        preview.attempt_count = 0;
        preview.paid_at = None;
        preview.next_payment_attempt = Some(charge_at);
        for line in &mut preview.lines {
            line.id = format!("il_tmp_{}", &new_id("x")[2..]);
            if line.invoice_item.as_ref().is_some_and(|ii| !self.invoice_items.contains_key(ii)) {
                line.invoice_item = None;
            }
        }
        Ok(preview.render(&self.prices))
    }
}

/// Stripe's answer when there is nothing to preview.
fn no_upcoming(customer: &str) -> StripeError {
    StripeError {
        code: Some("invoice_upcoming_none"),
        ..StripeError::state(format!("No upcoming invoices for customer: {customer}"))
    }
}
