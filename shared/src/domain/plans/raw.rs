//! The catalog as written (`plans/default.json`, a file or an SSM parameter): the raw entries and
//! the checks that turn each into a [`Plan`], naming the entry at fault.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUsage {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    ceiling: Option<i64>,
    #[serde(default)]
    meter: Option<String>,
    #[serde(default)]
    prices: BTreeMap<String, PriceRef>,
    #[serde(default)]
    per_seat: bool,
}

/// A limit: a number, or `{"value": n, "per_seat": true}`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawLimit {
    Plain(i64),
    Detailed {
        value: i64,
        #[serde(default)]
        per_seat: bool,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    pub(super) plans: Vec<RawPlan>,
    #[serde(default)]
    pub(super) custom_amounts: Vec<crate::domain::custom_amount::RawCustomAmount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    mode: PlanMode,
    #[serde(default)]
    free: bool,
    #[serde(default)]
    prices: BTreeMap<String, PriceRef>,
    #[serde(default)]
    trial_days: i64,
    #[serde(default)]
    max_quantity: Option<i64>,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    limits: BTreeMap<String, RawLimit>,
    #[serde(default)]
    usage: BTreeMap<String, RawUsage>,
    #[serde(default)]
    seats: Option<SeatMode>,
    #[serde(default)]
    trial_card: super::TrialCard,
}

pub(super) fn invalid(entry: &str, problem: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        entry: entry.into(),
        problem: problem.into(),
    }
}

pub(super) fn validate_plan(index: usize, raw: RawPlan) -> Result<Plan, CatalogError> {
    if !is_valid_key(&raw.id) {
        return Err(invalid(
            &format!("plans[{index}]"),
            format!("plan id `{}` must match [a-z0-9_.:-]{{1,100}}", raw.id),
        ));
    }
    let entry = format!("plan `{}`", raw.id);
    if raw.name.trim().is_empty() {
        return Err(invalid(&entry, "name is empty"));
    }
    let mut prices = BTreeMap::new();
    for (key, price) in raw.prices {
        let interval =
            Interval::parse(&key).ok_or_else(|| invalid(&entry, format!("unknown interval `{key}` (expected month, year or one_time)")))?;
        let allowed = match raw.mode {
            PlanMode::Subscription => interval != Interval::OneTime,
            PlanMode::OneTime => interval == Interval::OneTime,
        };
        if !allowed {
            return Err(invalid(&entry, format!("interval `{key}` does not fit mode `{:?}`", raw.mode)));
        }
        if price.price.is_none() && price.lookup_key.is_none() {
            return Err(invalid(
                &entry,
                format!("price `{key}` needs `price` (a Stripe price id) or `lookup_key`"),
            ));
        }
        if let Some(id) = &price.price
            && !id.starts_with("price_")
        {
            return Err(invalid(&entry, format!("price `{key}`: `{id}` is not a Stripe price id (price_…)")));
        }
        if price.amount < 0 {
            return Err(invalid(&entry, format!("price `{key}`: negative amount")));
        }
        if price.currency.len() != 3 || !price.currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(invalid(
                &entry,
                format!("price `{key}`: currency must be a lowercase ISO code such as `usd`"),
            ));
        }
        prices.insert(interval, price);
    }
    if raw.free && !prices.is_empty() {
        return Err(invalid(&entry, "a free plan has no prices"));
    }
    if !raw.free && prices.is_empty() {
        return Err(invalid(&entry, "a paid plan needs at least one price"));
    }
    if !(0..=MAX_TRIAL_DAYS).contains(&raw.trial_days) {
        return Err(invalid(&entry, format!("trial_days must be between 0 and {MAX_TRIAL_DAYS}")));
    }
    if raw.trial_card == super::TrialCard::IfRequired && raw.trial_days == 0 {
        return Err(invalid(&entry, "trial_card if_required needs trial_days"));
    }
    if raw.trial_days > 0 && raw.mode == PlanMode::OneTime {
        return Err(invalid(&entry, "a one-time plan cannot have a trial"));
    }
    let max_quantity = match raw.max_quantity {
        None => 1,
        Some(q) if (1..=10_000).contains(&q) => q as u32,
        Some(_) => return Err(invalid(&entry, "max_quantity must be between 1 and 10000")),
    };
    let mut features = BTreeSet::new();
    for feature in raw.features {
        if !is_valid_key(&feature) {
            return Err(invalid(&entry, format!("feature `{feature}` must match [a-z0-9_.:-]{{1,100}}")));
        }
        if !features.insert(feature.clone()) {
            return Err(invalid(&entry, format!("feature `{feature}` is listed twice")));
        }
    }
    let mut limits = BTreeMap::new();
    let mut per_seat = BTreeSet::new();
    for (name, value) in raw.limits {
        let value = match value {
            RawLimit::Plain(value) => value,
            RawLimit::Detailed { value, per_seat: seated } => {
                if seated {
                    per_seat.insert(name.clone());
                }
                value
            }
        };
        if !is_valid_key(&name) {
            return Err(invalid(&entry, format!("limit `{name}` must match [a-z0-9_.:-]{{1,100}}")));
        }
        let value = u64::try_from(value).map_err(|_| invalid(&entry, format!("limit `{name}` is negative")))?;
        limits.insert(name, value);
    }
    let mut usage = BTreeMap::new();
    for (feature, rule) in raw.usage {
        let at = format!("{entry} usage `{feature}`");
        if !is_valid_key(&feature) {
            return Err(invalid(&at, "the feature must match [a-z0-9_.:-]{1,100}"));
        }
        let limit = match rule.limit {
            None => None,
            Some(l) if l >= 1 => Some(l as u64),
            Some(_) => return Err(invalid(&at, "limit must be at least 1 (leave it out for no limit)")),
        };
        if limit.is_none() && rule.meter.is_none() {
            return Err(invalid(&at, "a counter needs a `limit`, a `meter`, or both"));
        }
        let ceiling = match (rule.ceiling, &rule.meter) {
            (None, Some(_)) => Some(DEFAULT_METERED_CEILING),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    &at,
                    "`ceiling` bounds metered units: it needs a `meter` (use `limit` for a quota)",
                ));
            }
            (Some(c), Some(_)) if c >= 1 => Some(c as u64),
            (Some(_), Some(_)) => return Err(invalid(&at, "ceiling must be at least 1")),
        };
        let mut metered_prices = BTreeMap::new();
        match &rule.meter {
            Some(meter) => {
                if !is_valid_key(meter) {
                    return Err(invalid(&at, "the meter's event name must match [a-z0-9_.:-]{1,100}"));
                }
                if raw.free || raw.mode == PlanMode::OneTime {
                    return Err(invalid(&at, "only subscription plans can bill metered usage"));
                }
                for (key, price) in rule.prices {
                    let interval = Interval::parse(&key)
                        .filter(|i| prices.contains_key(i))
                        .ok_or_else(|| invalid(&at, format!("metered price `{key}`: the plan has no `{key}` price")))?;
                    if price.price.is_none() && price.lookup_key.is_none() {
                        return Err(invalid(&at, format!("metered price `{key}` needs `price` or `lookup_key`")));
                    }
                    metered_prices.insert(interval, price);
                }
                if let Some(missing) = prices.keys().find(|i| !metered_prices.contains_key(i)) {
                    return Err(invalid(
                        &at,
                        format!("a metered price for every interval of the plan: `{missing}` is missing"),
                    ));
                }
            }
            None if !rule.prices.is_empty() => return Err(invalid(&at, "prices need a `meter`")),
            None => {}
        }
        usage.insert(
            feature,
            UsageRule {
                limit,
                meter: rule.meter,
                ceiling,
                prices: metered_prices,
                per_seat: rule.per_seat,
            },
        );
    }
    Ok(Plan {
        id: raw.id,
        name: raw.name,
        description: raw.description,
        mode: raw.mode,
        free: raw.free,
        prices,
        trial_days: raw.trial_days as u32,
        max_quantity,
        features,
        limits,
        per_seat,
        usage,
        seats: raw
            .seats
            .unwrap_or(if max_quantity > 1 { SeatMode::Assigned } else { SeatMode::Open }),
        trial_card: raw.trial_card,
    })
}
