//! A subscription schedule's `phases[i][…]` parameters, read and checked as Stripe checks
//! them (items, dates or durations, trials, discounts, tax rates).

use super::*;
use crate::params::one_of;

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
pub(super) const PRORATIONS: &[&str] = &["create_prorations", "none", "always_invoice"];

impl World {
    /// `phases[i][…]`, checked as Stripe checks them: items of recurring prices in the
    /// subscription's currency, the first phase starting at the current phase's start (while
    /// active), each next phase where the previous one ends, each phase ending after it starts.
    pub(super) fn parse_phases(&self, params: &Params, schedule: &SubscriptionSchedule) -> Result<Vec<SchedulePhase>, StripeError> {
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
}
