//! Subscription schedules: created from a subscription, updated with phases, released,
//! canceled; the clock moves them from phase to phase (see [`World::end_phase`]).

use super::subscriptions::{CancellationDetails, changed_fields, one_of};
use super::*;

const PHASE_KEYS: &[&str] = &[
    "items",
    "start_date",
    "end_date",
    "duration",
    "proration_behavior",
    "metadata",
    "currency",
    "description",
    "billing_cycle_anchor",
    "collection_method",
    "default_tax_rates",
    "trial_end",
    "discounts",
    "default_payment_method",
];
const PHASE_ITEM_KEYS: &[&str] = &["price", "plan", "quantity", "metadata", "tax_rates", "discounts"];
const PRORATIONS: &[&str] = &["create_prorations", "none", "always_invoice"];

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

    /// `phases[i][…]`, checked as Stripe checks them: items of recurring prices in the
    /// subscription's currency, the first phase starting at the current phase's start (while
    /// active), each next phase where the previous one ends, each phase ending after it starts.
    fn parse_phases(&self, params: &Params, schedule: &SubscriptionSchedule) -> Result<Vec<SchedulePhase>, StripeError> {
        let now = self.now();
        let count = params.array_len("phases");
        if count == 0 {
            return Err(StripeError::invalid("phases", "A subscription schedule needs at least one phase."));
        }
        let currency = schedule.phases.first().map(|p| p.currency.clone());
        let mut phases: Vec<SchedulePhase> = Vec::new();
        for i in 0..count {
            let shown = |key: &str| format!("phases[{i}][{key}]");
            let at = |key: &str| format!("phases.{i}.{key}");
            if let Some(Value::Object(map)) = params.value(&format!("phases.{i}")) {
                if let Some(unknown) = map.keys().find(|k| !PHASE_KEYS.contains(&k.as_str())) {
                    return Err(StripeError::unknown_param(&shown(unknown)));
                }
            } else {
                return Err(StripeError::invalid(format!("phases[{i}]"), "Invalid object"));
            }
            let item_count = params.array_len(&at("items"));
            if item_count == 0 {
                return Err(StripeError::missing_param(&shown("items")));
            }
            let mut items: Vec<LineItem> = Vec::new();
            let mut phase_currency: Option<String> = None;
            let mut phase_interval = None;
            for j in 0..item_count {
                let item_at = |key: &str| format!("phases.{i}.items.{j}.{key}");
                let item_shown = |key: &str| format!("phases[{i}][items][{j}][{key}]");
                if let Some(Value::Object(map)) = params.value(&format!("phases.{i}.items.{j}"))
                    && let Some(unknown) = map.keys().find(|k| !PHASE_ITEM_KEYS.contains(&k.as_str()))
                {
                    return Err(StripeError::unknown_param(&item_shown(unknown)));
                }
                let price_id = params
                    .str(&item_at("price"))?
                    .or(params.str(&item_at("plan"))?)
                    .ok_or_else(|| StripeError::missing_param(&item_shown("price")))?;
                let price = self
                    .prices
                    .get(price_id)
                    .ok_or_else(|| StripeError::no_such_ref("price", price_id, &item_shown("price")))?;
                if price.interval.is_none() {
                    return Err(StripeError::invalid(item_shown("price"), "The price specified is not recurring."));
                }
                let offered = |c: &String| price.amount_in(c).is_some();
                if phase_currency.as_ref().is_some_and(|c| !offered(c)) || currency.as_ref().is_some_and(|c| !offered(c)) {
                    return Err(StripeError::invalid(
                        item_shown("price"),
                        format!(
                            "The price `{price_id}` is in {}, but this subscription schedule is in {}: every price must be in the same currency.",
                            price.currency,
                            currency.clone().or(phase_currency.clone()).unwrap_or_default()
                        ),
                    ));
                }
                if phase_interval.is_some_and(|i| i != price.interval) {
                    return Err(StripeError::invalid(
                        item_shown("price"),
                        "All prices in a phase must have the same `recurring.interval` and `recurring.interval_count`.",
                    ));
                }
                phase_currency.get_or_insert_with(|| currency.clone().unwrap_or_else(|| price.currency.clone()));
                phase_interval.get_or_insert(price.interval);
                let given = params.u64(&item_at("quantity"))?;
                let quantity = if price.metered() {
                    if given.is_some() {
                        return Err(StripeError::invalid(
                            item_shown("quantity"),
                            "You cannot set the quantity for metered plans.",
                        ));
                    }
                    0
                } else {
                    let quantity = given.unwrap_or(1);
                    if quantity == 0 {
                        return Err(StripeError::invalid(item_shown("quantity"), "Quantity must be at least 1."));
                    }
                    quantity
                };
                if items.iter().any(|it| it.price == price_id) {
                    return Err(StripeError::invalid(
                        shown("items"),
                        format!("Cannot add multiple phase items with the same price: {price_id}"),
                    ));
                }
                items.push(LineItem {
                    price: price_id.to_owned(),
                    quantity,
                });
            }
            let phase_currency = phase_currency.expect("at least one item");
            if let Some(given) = params.str(&at("currency"))?
                && !given.eq_ignore_ascii_case(&phase_currency)
            {
                return Err(StripeError::invalid(
                    shown("currency"),
                    "The phase currency must match its prices' currency.",
                ));
            }
            let timestamp = |key: &str| -> Result<Option<i64>, StripeError> {
                match params.str(&at(key))? {
                    None => Ok(None),
                    Some("now") => Ok(Some(now)),
                    Some(_) => params.i64(&at(key)),
                }
            };
            let start_date = match (i, timestamp("start_date")?) {
                (0, given) if schedule.status == "active" => {
                    let current_start = schedule.phases.get(schedule.current).map_or(now, |p| p.start_date);
                    match given {
                        Some(start) if start != current_start => {
                            return Err(StripeError::invalid(
                                shown("start_date"),
                                format!("You can not modify the start date of the current phase (it started at {current_start})."),
                            ));
                        }
                        _ => current_start,
                    }
                }
                (0, Some(start)) => start,
                (0, None) => return Err(StripeError::missing_param(&shown("start_date"))),
                (_, given) => {
                    let previous_end = phases[i - 1].end_date;
                    match given {
                        Some(start) if start != previous_end => {
                            return Err(StripeError::invalid(
                                shown("start_date"),
                                format!(
                                    "Phases must be contiguous: phases[{i}][start_date] ({start}) must equal phases[{}][end_date] ({previous_end}).",
                                    i - 1
                                ),
                            ));
                        }
                        _ => previous_end,
                    }
                }
            };
            let duration = match params.value(&at("duration")) {
                None => None,
                Some(Value::Object(map)) => {
                    if let Some(unknown) = map.keys().find(|k| !matches!(k.as_str(), "interval" | "interval_count")) {
                        return Err(StripeError::unknown_param(&format!("phases[{i}][duration][{unknown}]")));
                    }
                    let unit = match params.str(&at("duration.interval"))? {
                        Some("day") => DAY,
                        Some("week") => 7 * DAY,
                        Some("month") => 30 * DAY,
                        Some("year") => 365 * DAY,
                        Some(other) => {
                            return Err(StripeError::invalid(
                                format!("phases[{i}][duration][interval]"),
                                format!("Invalid duration interval `{other}`: must be one of day, week, month or year."),
                            ));
                        }
                        None => return Err(StripeError::missing_param(&format!("phases[{i}][duration][interval]"))),
                    };
                    let count = params.u64(&at("duration.interval_count"))?.unwrap_or(1);
                    if count == 0 {
                        return Err(StripeError::invalid(
                            format!("phases[{i}][duration][interval_count]"),
                            "interval_count must be at least 1.",
                        ));
                    }
                    Some(unit * count as i64)
                }
                Some(_) => return Err(StripeError::invalid(shown("duration"), "Invalid object")),
            };
            let end_date = match (timestamp("end_date")?, duration) {
                (Some(_), Some(_)) => {
                    return Err(StripeError::invalid(
                        shown("end_date"),
                        "You may only specify one of these parameters: duration, end_date.",
                    ));
                }
                (Some(end), None) => end,
                (None, Some(length)) => start_date + length,
                (None, None) => {
                    let first = &self.prices[&items[0].price];
                    start_date + first.period_seconds()
                }
            };
            if end_date <= start_date {
                return Err(StripeError::invalid(
                    shown("end_date"),
                    format!("The phase end_date ({end_date}) must be after its start_date ({start_date})."),
                ));
            }
            if end_date < now {
                return Err(StripeError::invalid(shown("end_date"), "A phase cannot end in the past."));
            }
            let proration_behavior = one_of(params, &at("proration_behavior"), PRORATIONS)?
                .unwrap_or("create_prorations")
                .to_owned();
            let metadata = params.metadata(&at("metadata"))?;
            let trial_end = params.i64(&at("trial_end"))?;
            if let Some(trial_end) = trial_end
                && !(start_date..=end_date).contains(&trial_end)
            {
                return Err(StripeError::invalid(shown("trial_end"), "The trial end must be within the phase."));
            }
            let mut discounts = Vec::new();
            for j in 0..params.array_len(&at("discounts")) {
                let found = ["coupon", "discount", "promotion_code"].iter().find_map(|kind| {
                    params
                        .str(&format!("phases.{i}.discounts.{j}.{kind}"))
                        .ok()
                        .flatten()
                        .map(|id| ((*kind).to_owned(), id.to_owned()))
                });
                discounts.push(found.ok_or_else(|| StripeError::missing_param(&format!("phases[{i}][discounts][{j}][coupon]")))?);
            }
            let default_tax_rates = (0..params.array_len(&at("default_tax_rates")))
                .filter_map(|j| {
                    params
                        .str(&format!("phases.{i}.default_tax_rates.{j}"))
                        .ok()
                        .flatten()
                        .map(str::to_owned)
                })
                .collect();
            let collection_method = one_of(params, &at("collection_method"), &["charge_automatically", "send_invoice"])?.map(str::to_owned);
            phases.push(SchedulePhase {
                start_date,
                end_date,
                items,
                proration_behavior,
                metadata,
                currency: phase_currency,
                trial_end,
                discounts,
                default_tax_rates,
                default_payment_method: params.str(&at("default_payment_method"))?.map(str::to_owned),
                collection_method,
            });
        }
        Ok(phases)
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
            self.reprice(sub_id, &current, proration, now)
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
