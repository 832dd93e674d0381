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

mod public;
mod raw;

pub use self::public::{PublicCatalog, PublicPlan, PublicPrice, PublicUsage};
use self::raw::{RawCatalog, invalid, validate_plan};

/// The catalog compiled into every binary.
pub const EMBEDDED_CATALOG: &str = include_str!("../../../plans/default.json");

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
    /// The limit is per seat: an organization's quota is `limit × quantity`.
    pub per_seat: bool,
}

/// Who in an organization gets a plan's features (`"seats"` in the catalog).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatMode {
    /// A member needs an assigned seat (the default for plans with `max_quantity > 1`).
    Assigned,
    /// Every member; the quantity only sets the price.
    #[default]
    Open,
}

/// Whether a plan's trial asks for a card (`"trial_card"` in the catalog).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialCard {
    /// Checkout always collects a card (the default).
    #[default]
    Required,
    /// A trial starts without a card (`payment_method_collection=if_required`); how it ends
    /// without one is `TRIAL_END_WITHOUT_CARD`.
    IfRequired,
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
    /// Limits that are per seat (`{"value": n, "per_seat": true}`): multiplied by the quantity.
    pub per_seat: BTreeSet<String>,
    /// Usage counters by feature key.
    pub usage: BTreeMap<String, UsageRule>,
    /// Who in an organization gets the features.
    pub seats: SeatMode,
    /// Whether the trial asks for a card.
    pub trial_card: TrialCard,
}

impl Plan {
    pub fn price(&self, interval: Interval) -> Option<&PriceRef> {
        self.prices.get(&interval)
    }
}

/// Whether `plan` has a limit or a usage counter per seat (its quota follows the quantity).
pub fn has_per_seat(plan: &Plan) -> bool {
    !plan.per_seat.is_empty() || plan.usage.values().any(|rule| rule.per_seat)
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
