//! The plans catalog: which plans exist, their Stripe prices per interval, trial days, features
//! and limits. One JSON document: the embedded default (`shared/plans/default.json`) or the file
//! named by `PLANS_PATH`. It is validated as a whole at load; an error names the entry.
//!
//! The catalog is the fallback feature source when Stripe Entitlements are not configured and
//! the seed for the local Stripe emulator's products, prices and features.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The catalog compiled into every binary.
pub const EMBEDDED_CATALOG: &str = include_str!("../../plans/default.json");

/// Billing interval of a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Month,
    Year,
    /// A one-time payment (Checkout in `payment` mode).
    OneTime,
}

impl Interval {
    pub const ALL: [Interval; 3] = [Interval::Month, Interval::Year, Interval::OneTime];

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Month => "month",
            Interval::Year => "year",
            Interval::OneTime => "one_time",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == value)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a plan is bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    #[default]
    Subscription,
    OneTime,
}

/// A plan's price at one interval. At least one of `price` (a Stripe price id) and
/// `lookup_key` identifies it in Stripe; `amount`/`currency` are for display and for seeding
/// the emulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_key: Option<String>,
    /// Amount in the currency's minor unit (cents).
    pub amount: i64,
    pub currency: String,
    /// The same price in other currencies (Stripe's `currency_options` on the one price):
    /// currency → amount in its minor unit.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub currency_options: BTreeMap<String, i64>,
}

impl PriceRef {
    /// Every currency the price is sold in, with its amount (the default currency included).
    pub fn currencies(&self) -> BTreeMap<String, i64> {
        let mut all = self.currency_options.clone();
        all.insert(self.currency.clone(), self.amount);
        all
    }

    /// Whether the price is sold in `currency`.
    pub fn offers(&self, currency: &str) -> bool {
        self.currency == currency || self.currency_options.contains_key(currency)
    }
}

/// The ceiling of a metered counter the catalog leaves unbounded: units per period.
pub const DEFAULT_METERED_CEILING: u64 = 100_000;

/// A usage counter of a plan (`"usage": {"api_calls": {...}}`): a quota per billing period
/// (`limit`), and/or usage billed through a Stripe meter (`meter`: the meter's event name) at the
/// plan's metered `prices` (one per recurring interval of the plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRule {
    pub limit: Option<u64>,
    pub meter: Option<String>,
    /// Metered counters: the most units billed per period ([`DEFAULT_METERED_CEILING`] unless
    /// the catalog says `ceiling`); records past it are refused, so a bug or a leaked credential
    /// cannot bill without bound.
    pub ceiling: Option<u64>,
    pub prices: BTreeMap<Interval, PriceRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsage {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    ceiling: Option<i64>,
    #[serde(default)]
    meter: Option<String>,
    #[serde(default)]
    prices: BTreeMap<String, PriceRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub mode: PlanMode,
    /// The plan users without a subscription get; it has no prices.
    pub free: bool,
    pub prices: BTreeMap<Interval, PriceRef>,
    pub trial_days: u32,
    pub max_quantity: u32,
    pub features: BTreeSet<String>,
    pub limits: BTreeMap<String, u64>,
    /// Usage counters by feature key.
    pub usage: BTreeMap<String, UsageRule>,
}

impl Plan {
    pub fn price(&self, interval: Interval) -> Option<&PriceRef> {
        self.prices.get(&interval)
    }
}

/// Errors name the plan (by id, or by position when the id itself is the problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("plans catalog {source_name}: not valid JSON for a catalog: {message}")]
    Syntax { source_name: String, message: String },
    #[error("plans catalog {source_name}: cannot read: {message}")]
    Read { source_name: String, message: String },
    #[error("plans catalog: {entry}: {problem}")]
    Invalid { entry: String, problem: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    plans: Vec<RawPlan>,
    #[serde(default)]
    custom_amounts: Vec<crate::domain::custom_amount::RawCustomAmount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
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
    limits: BTreeMap<String, i64>,
    #[serde(default)]
    usage: BTreeMap<String, RawUsage>,
}

/// Longest trial Stripe accepts.
pub const MAX_TRIAL_DAYS: i64 = 730;
/// Longest feature key (matches the entitlement check's input rule).
pub const MAX_FEATURE_KEY_LEN: usize = 100;

/// `[a-z0-9_.:-]{1,100}`: the alphabet of feature lookup keys, limit names and plan ids.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_FEATURE_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    plans: Vec<Plan>,
    custom_amounts: Vec<crate::domain::custom_amount::CustomAmount>,
}

impl Catalog {
    /// The embedded default catalog. It is validated by a unit test, so this cannot fail in a
    /// released build; the `Result` keeps the one code path.
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::from_json("(embedded)", EMBEDDED_CATALOG)
    }

    /// The file at `path` when given, else the embedded default.
    pub fn load(path: Option<&Path>) -> Result<Self, CatalogError> {
        match path {
            None => Self::embedded(),
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| CatalogError::Read {
                    source_name: name.clone(),
                    message: e.to_string(),
                })?;
                Self::from_json(&name, &text)
            }
        }
    }

    pub fn from_json(source_name: &str, text: &str) -> Result<Self, CatalogError> {
        let raw: RawCatalog = serde_json::from_str(text).map_err(|e| CatalogError::Syntax {
            source_name: source_name.into(),
            message: e.to_string(),
        })?;
        let mut plans = Vec::with_capacity(raw.plans.len());
        let mut ids = BTreeSet::new();
        let mut price_keys = BTreeSet::new();
        for (index, raw) in raw.plans.into_iter().enumerate() {
            let plan = validate_plan(index, raw)?;
            if !ids.insert(plan.id.clone()) {
                return Err(invalid(&format!("plans[{index}] `{}`", plan.id), "duplicate plan id"));
            }
            let metered = plan.usage.values().flat_map(|u| u.prices.iter());
            for (interval, price) in plan.prices.iter().chain(metered) {
                for key in price.price.iter().chain(price.lookup_key.iter()) {
                    if !price_keys.insert(key.clone()) {
                        return Err(invalid(
                            &format!("plan `{}` price `{interval}`", plan.id),
                            format!("price `{key}` is used by another plan or interval"),
                        ));
                    }
                }
            }
            plans.push(plan);
        }
        if plans.iter().filter(|p| p.free).count() > 1 {
            return Err(invalid("plans", "more than one plan is marked `free`"));
        }
        if plans.is_empty() {
            return Err(invalid("plans", "the catalog has no plans"));
        }
        for plan in &plans {
            let all = plan.prices.iter().chain(plan.usage.values().flat_map(|u| u.prices.iter()));
            for (interval, price) in all {
                for (currency, amount) in price.currencies() {
                    if !crate::domain::custom_amount::is_currency_code(&currency) || amount < 0 {
                        return Err(invalid(
                            &format!("plan `{}` price `{interval}`", plan.id),
                            format!("currency `{currency}` must be a lower-case ISO 4217 code with an amount >= 0"),
                        ));
                    }
                }
            }
        }
        // One Checkout Session charges one currency: a plan's metered prices must offer every
        // currency its licensed price offers at the same interval.
        for plan in &plans {
            for (interval, price) in &plan.prices {
                for (feature, rule) in &plan.usage {
                    if let Some(metered) = rule.prices.get(interval)
                        && let Some(missing) = price.currencies().into_keys().find(|c| !metered.offers(c))
                    {
                        return Err(invalid(
                            &format!("plan `{}` usage `{feature}` price `{interval}`", plan.id),
                            format!("does not offer `{missing}`, which the plan's price offers"),
                        ));
                    }
                }
            }
        }
        let mut custom_amounts = Vec::with_capacity(raw.custom_amounts.len());
        for (index, entry) in raw.custom_amounts.into_iter().enumerate() {
            let name = format!("custom_amounts[{index}] `{}`", entry.id);
            if !is_valid_key(&entry.id) {
                return Err(invalid(&name, "id must be of the form [a-z0-9_.:-]{1,100}"));
            }
            if !ids.insert(entry.id.clone()) {
                return Err(invalid(&name, "id is used by a plan or another custom amount"));
            }
            custom_amounts.push(entry.validate().map_err(|problem| invalid(&name, problem))?);
        }
        Ok(Self { plans, custom_amounts })
    }

    /// The custom-amount entries (`"custom_amounts"`).
    pub fn custom_amounts(&self) -> &[crate::domain::custom_amount::CustomAmount] {
        &self.custom_amounts
    }

    /// The custom-amount entry `id`.
    pub fn custom_amount(&self, id: &str) -> Option<&crate::domain::custom_amount::CustomAmount> {
        self.custom_amounts.iter().find(|c| c.id == id)
    }

    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    pub fn get(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// The plan users without a subscription get, if the catalog has one.
    pub fn free_plan(&self) -> Option<&Plan> {
        self.plans.iter().find(|p| p.free)
    }

    /// The plan and interval a Stripe price belongs to, by price id or lookup key.
    pub fn find_price(&self, price_id: Option<&str>, lookup_key: Option<&str>) -> Option<(&Plan, Interval)> {
        self.plans.iter().find_map(|plan| {
            plan.prices.iter().find_map(|(interval, price)| {
                let by_id = price_id.is_some() && price.price.as_deref() == price_id;
                let by_key = lookup_key.is_some() && price.lookup_key.as_deref() == lookup_key;
                (by_id || by_key).then_some((plan, *interval))
            })
        })
    }

    /// The plan a metered price belongs to, and the usage feature it bills.
    pub fn find_metered_price(&self, price_id: Option<&str>, lookup_key: Option<&str>) -> Option<(&Plan, &str)> {
        self.plans.iter().find_map(|plan| {
            plan.usage.iter().find_map(|(feature, rule)| {
                rule.prices
                    .values()
                    .any(|price| {
                        (price_id.is_some() && price.price.as_deref() == price_id)
                            || (lookup_key.is_some() && price.lookup_key.as_deref() == lookup_key)
                    })
                    .then_some((plan, feature.as_str()))
            })
        })
    }

    /// What `GET /plans` shows: public fields only, with the catalog's own amounts.
    pub fn public_view(&self) -> PublicCatalog<'_> {
        self.public_view_priced(|_| None)
    }

    /// [`Catalog::public_view`] with each price's amount and currency from `charged` (what Stripe
    /// charges), where it knows them, else from the catalog.
    pub fn public_view_priced(&self, charged: impl Fn(&PriceRef) -> Option<(i64, String)>) -> PublicCatalog<'_> {
        PublicCatalog {
            custom_amounts: &self.custom_amounts,
            plans: self
                .plans
                .iter()
                .map(|p| PublicPlan {
                    id: &p.id,
                    name: &p.name,
                    description: p.description.as_deref(),
                    mode: p.mode,
                    free: p.free,
                    prices: p
                        .prices
                        .iter()
                        .map(|(i, price)| {
                            let (amount, currency) = charged(price).unwrap_or_else(|| (price.amount, price.currency.clone()));
                            let currencies = price
                                .currencies()
                                .into_iter()
                                .map(|(c, a)| {
                                    let a = if c == currency { amount } else { a };
                                    (c, a)
                                })
                                .collect();
                            (
                                *i,
                                PublicPrice {
                                    amount,
                                    currency,
                                    currencies,
                                },
                            )
                        })
                        .collect(),
                    trial_days: p.trial_days,
                    max_quantity: p.max_quantity,
                    features: &p.features,
                    limits: &p.limits,
                    usage: p
                        .usage
                        .iter()
                        .map(|(feature, rule)| {
                            let prices = rule
                                .prices
                                .iter()
                                .map(|(i, price)| {
                                    let (amount, currency) = charged(price).unwrap_or_else(|| (price.amount, price.currency.clone()));
                                    (
                                        *i,
                                        PublicPrice {
                                            amount,
                                            currency,
                                            currencies: BTreeMap::new(),
                                        },
                                    )
                                })
                                .collect();
                            (
                                feature.as_str(),
                                PublicUsage {
                                    limit: rule.limit,
                                    metered: rule.meter.is_some(),
                                    ceiling: rule.ceiling,
                                    unit_prices: prices,
                                },
                            )
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PublicCatalog<'a> {
    pub plans: Vec<PublicPlan<'a>>,
    /// Entries a client pays an amount of its choosing for, within bounds.
    pub custom_amounts: &'a [crate::domain::custom_amount::CustomAmount],
}

#[derive(Debug, Serialize)]
pub struct PublicPlan<'a> {
    pub id: &'a str,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub mode: PlanMode,
    pub free: bool,
    pub prices: BTreeMap<Interval, PublicPrice>,
    pub trial_days: u32,
    pub max_quantity: u32,
    pub features: &'a BTreeSet<String>,
    pub limits: &'a BTreeMap<String, u64>,
    pub usage: BTreeMap<&'a str, PublicUsage>,
}

/// A usage counter as `GET /plans` shows it: the quota per period (`null`: none), whether usage
/// is billed, and at what price per unit.
#[derive(Debug, Serialize)]
pub struct PublicUsage {
    pub limit: Option<u64>,
    pub metered: bool,
    /// Metered: the most units billed per period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unit_prices: BTreeMap<Interval, PublicPrice>,
}

#[derive(Debug, Serialize)]
pub struct PublicPrice {
    pub amount: i64,
    pub currency: String,
    /// Every currency the price is sold in and its amount (`POST /checkout`'s `currency`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub currencies: BTreeMap<String, i64>,
}

fn invalid(entry: &str, problem: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        entry: entry.into(),
        problem: problem.into(),
    }
}

fn validate_plan(index: usize, raw: RawPlan) -> Result<Plan, CatalogError> {
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
    for (name, value) in raw.limits {
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
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_is_valid() {
        let catalog = Catalog::embedded().unwrap();
        assert_eq!(catalog.free_plan().map(|p| p.id.as_str()), Some("free"));
        let pro = catalog.get("pro").unwrap();
        assert!(pro.price(Interval::Month).is_some() && pro.price(Interval::Year).is_some());
        assert_eq!(
            catalog.find_price(None, Some("starter_year")).map(|(p, i)| (p.id.as_str(), i)),
            Some(("starter", Interval::Year))
        );
        assert_eq!(catalog.get("lifetime").unwrap().mode, PlanMode::OneTime);
        assert_eq!(catalog.free_plan().unwrap().usage["api_calls"].limit, Some(100));
        let metered = &pro.usage["api_calls"];
        assert_eq!((metered.meter.as_deref(), metered.prices.len()), (Some("api_calls"), 2));
        assert_eq!(
            catalog
                .find_metered_price(None, Some("pro_api_calls_month"))
                .map(|(p, f)| (p.id.as_str(), f)),
            Some(("pro", "api_calls"))
        );
    }

    #[test]
    fn usage_rules_are_checked() {
        let plan = |usage: &str| format!(r#"{{"plans": [{{"id": "a", "name": "A", "prices": {{"month": {PRICE}}}, "usage": {usage}}}]}}"#);
        for (usage, expected) in [
            (r#"{"Calls": {"limit": 1}}"#, "must match"),
            (r#"{"calls": {"limit": 0}}"#, "at least 1"),
            (r#"{"calls": {}}"#, "a `limit`, a `meter`"),
            (r#"{"calls": {"meter": "calls"}}"#, "`month` is missing"),
            (
                r#"{"calls": {"limit": 5, "prices": {"month": {"lookup_key": "x", "amount": 1, "currency": "usd"}}}}"#,
                "need a `meter`",
            ),
            (
                r#"{"calls": {"meter": "calls", "prices": {"year": {"lookup_key": "x", "amount": 1, "currency": "usd"}}}}"#,
                "no `year` price",
            ),
            (
                r#"{"calls": {"meter": "calls", "prices": {"month": {"lookup_key": "k_m", "amount": 1, "currency": "usd"}}}}"#,
                "used by another",
            ),
        ] {
            let message = err(&plan(usage));
            assert!(message.contains(expected), "{usage}: {message}");
        }
    }

    fn err(json: &str) -> String {
        Catalog::from_json("test", json).unwrap_err().to_string()
    }

    const PRICE: &str = r#"{"lookup_key": "k_m", "amount": 100, "currency": "usd"}"#;

    #[test]
    fn duplicate_ids_name_the_entry() {
        let json = format!(
            r#"{{"plans": [{{"id": "a", "name": "A", "free": true}}, {{"id": "a", "name": "B", "prices": {{"month": {PRICE}}}}}]}}"#
        );
        let e = err(&json);
        assert!(e.contains("plans[1] `a`") && e.contains("duplicate plan id"), "{e}");
    }

    #[test]
    fn unknown_interval_names_the_plan() {
        let json = format!(r#"{{"plans": [{{"id": "pro", "name": "Pro", "prices": {{"week": {PRICE}}}}}]}}"#);
        let e = err(&json);
        assert!(e.contains("plan `pro`") && e.contains("unknown interval `week`"), "{e}");
    }

    #[test]
    fn negative_limits_name_the_plan_and_limit() {
        let json = format!(r#"{{"plans": [{{"id": "pro", "name": "Pro", "prices": {{"month": {PRICE}}}, "limits": {{"seats": -1}}}}]}}"#);
        let e = err(&json);
        assert!(e.contains("plan `pro`") && e.contains("limit `seats` is negative"), "{e}");
    }

    #[test]
    fn other_rules() {
        let cases = [
            (r#"{"plans": [{"id": "Pro!", "name": "x", "free": true}]}"#, "plans[0]"),
            (r#"{"plans": [{"id": "p", "name": "x"}]}"#, "needs at least one price"),
            (
                r#"{"plans": [{"id": "p", "name": "x", "free": true, "features": ["A B"]}]}"#,
                "feature `A B`",
            ),
            (
                r#"{"plans": [{"id": "p", "name": "x", "prices": {"month": {"amount": 1, "currency": "usd"}}}]}"#,
                "needs `price`",
            ),
            (
                r#"{"plans": [{"id": "p", "name": "x", "prices": {"month": {"price": "prod_1", "amount": 1, "currency": "usd"}}}]}"#,
                "not a Stripe price id",
            ),
            (
                r#"{"plans": [{"id": "p", "name": "x", "mode": "one_time", "prices": {"month": {"lookup_key": "a", "amount": 1, "currency": "usd"}}}]}"#,
                "does not fit mode",
            ),
            (
                r#"{"plans": [{"id": "p", "name": "x", "free": true, "trial_days": 900}]}"#,
                "trial_days",
            ),
            (
                r#"{"plans": [{"id": "p", "name": "x", "free": true, "surprise": 1}]}"#,
                "unknown field",
            ),
            (r#"{"plans": []}"#, "no plans"),
        ];
        for (json, needle) in cases {
            let e = err(json);
            assert!(e.contains(needle), "{json} → {e}");
        }
    }

    #[test]
    fn public_view_hides_stripe_identifiers() {
        let catalog = Catalog::embedded().unwrap();
        let json = serde_json::to_string(&catalog.public_view()).unwrap();
        assert!(!json.contains("lookup_key") && !json.contains("price_"), "{json}");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["plans"][2]["prices"]["month"]["amount"], 2900);
    }

    #[test]
    fn load_reads_an_override_file() {
        let dir = std::env::temp_dir().join(format!("plans-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plans.json");
        std::fs::write(&path, r#"{"plans": [{"id": "only", "name": "Only", "free": true}]}"#).unwrap();
        let catalog = Catalog::load(Some(&path)).unwrap();
        assert_eq!(catalog.plans().len(), 1);
        let missing = Catalog::load(Some(&dir.join("missing.json"))).unwrap_err();
        assert!(matches!(missing, CatalogError::Read { .. }));
    }
}
