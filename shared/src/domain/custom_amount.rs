//! Custom amounts: catalog entries of kind `custom_amount` (donations, top-ups,
//! pay-what-you-want). The entry names the product, the currencies it takes with `min`/`max` in
//! minor units, and the intervals it is sold at (`one_time`, `day`, `week`, `month`, `year`). The
//! client chooses an amount within those bounds; it can never set the price of a plan.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Currencies without a minor unit: the amount is in whole units (Stripe's list).
pub const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
];
/// Currencies with three decimals: Stripe takes amounts that are multiples of 10.
pub const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];
/// Stripe's largest amount (8 digits).
pub const MAX_AMOUNT: i64 = 99_999_999;

/// How often a custom amount is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountInterval {
    OneTime,
    Day,
    Week,
    Month,
    Year,
}

impl AmountInterval {
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "one_time" => Self::OneTime,
            "day" => Self::Day,
            "week" => Self::Week,
            "month" => Self::Month,
            "year" => Self::Year,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneTime => "one_time",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    /// Stripe's `recurring[interval]`; `None` for one-time payments.
    pub fn recurring(self) -> Option<&'static str> {
        match self {
            Self::OneTime => None,
            other => Some(other.as_str()),
        }
    }
}

/// The amounts one currency takes, in its minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub min: i64,
    pub max: i64,
}

/// A catalog entry of kind `custom_amount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomAmount {
    pub id: String,
    /// The product's name on Stripe (the Checkout page and invoices show it).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub currencies: BTreeMap<String, Bounds>,
    pub intervals: BTreeSet<AmountInterval>,
}

/// The catalog's form of an entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomAmount {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub currencies: BTreeMap<String, Bounds>,
    pub intervals: Vec<String>,
}

/// Whether `code` has the shape of an ISO 4217 code as Stripe writes it (three lower-case
/// letters).
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_lowercase())
}

impl RawCustomAmount {
    /// The entry, or what is wrong with it.
    pub fn validate(self) -> Result<CustomAmount, String> {
        if self.name.trim().is_empty() || self.name.len() > 250 {
            return Err("`name` must be 1 to 250 characters".into());
        }
        if self.currencies.is_empty() {
            return Err("`currencies` must name at least one currency".into());
        }
        for (currency, bounds) in &self.currencies {
            if !is_currency_code(currency) {
                return Err(format!("currency `{currency}` is not a lower-case ISO 4217 code"));
            }
            if bounds.min < 1 || bounds.min > bounds.max || bounds.max > MAX_AMOUNT {
                return Err(format!("currency `{currency}`: expected 1 <= min <= max <= {MAX_AMOUNT}"));
            }
        }
        let mut intervals = BTreeSet::new();
        for interval in &self.intervals {
            let parsed = AmountInterval::parse(interval)
                .ok_or_else(|| format!("interval `{interval}` is not one of one_time, day, week, month, year"))?;
            intervals.insert(parsed);
        }
        if intervals.is_empty() {
            return Err("`intervals` must name at least one".into());
        }
        Ok(CustomAmount {
            id: self.id,
            name: self.name,
            description: self.description,
            currencies: self.currencies,
            intervals,
        })
    }
}

/// Why a requested amount is refused, and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct AmountError {
    pub field: &'static str,
    pub detail: String,
}

impl CustomAmount {
    /// Checks `amount` (minor units) in `currency` at `interval` against the entry.
    pub fn check(&self, amount: i64, currency: &str, interval: AmountInterval) -> Result<(), AmountError> {
        let bounds = self.currencies.get(currency).ok_or_else(|| AmountError {
            field: "currency",
            detail: format!(
                "`{}` takes {}",
                self.id,
                self.currencies.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })?;
        if !self.intervals.contains(&interval) {
            return Err(AmountError {
                field: "interval",
                detail: format!(
                    "`{}` is sold {}",
                    self.id,
                    self.intervals.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        if amount < bounds.min || amount > bounds.max {
            return Err(AmountError {
                field: "amount",
                detail: format!(
                    "`amount` must be from {} to {} (in {}'s {})",
                    bounds.min,
                    bounds.max,
                    currency,
                    if ZERO_DECIMAL.contains(&currency) {
                        "whole units"
                    } else {
                        "minor unit"
                    }
                ),
            });
        }
        if THREE_DECIMAL.contains(&currency) && amount % 10 != 0 {
            return Err(AmountError {
                field: "amount",
                detail: format!("`amount` in {currency} must be a multiple of 10 (Stripe's rule for three-decimal currencies)"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn donation() -> CustomAmount {
        RawCustomAmount {
            id: "donation".into(),
            name: "Donation".into(),
            description: None,
            currencies: BTreeMap::from([
                ("eur".into(), Bounds { min: 100, max: 100_000 }),
                ("jpy".into(), Bounds { min: 100, max: 1_000_000 }),
                ("kwd".into(), Bounds { min: 1_000, max: 100_000 }),
            ]),
            intervals: vec!["one_time".into(), "month".into()],
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn amounts_within_bounds_currencies_and_intervals_pass() {
        let entry = donation();
        assert!(entry.check(2999, "eur", AmountInterval::Month).is_ok());
        assert!(entry.check(500, "jpy", AmountInterval::OneTime).is_ok(), "yen: whole units");
        for (amount, currency, interval, field) in [
            (99, "eur", AmountInterval::Month, "amount"),
            (100_001, "eur", AmountInterval::Month, "amount"),
            (2999, "usd", AmountInterval::Month, "currency"),
            (2999, "eur", AmountInterval::Week, "interval"),
            (1_005, "kwd", AmountInterval::OneTime, "amount"),
        ] {
            assert_eq!(
                entry.check(amount, currency, interval).unwrap_err().field,
                field,
                "{amount} {currency}"
            );
        }
    }

    #[test]
    fn bad_entries_are_refused() {
        let raw = |currencies: BTreeMap<String, Bounds>, intervals: Vec<String>| RawCustomAmount {
            id: "x".into(),
            name: "X".into(),
            description: None,
            currencies,
            intervals,
        };
        let eur = |min, max| BTreeMap::from([("eur".to_owned(), Bounds { min, max })]);
        assert!(raw(eur(100, 50), vec!["month".into()]).validate().is_err());
        assert!(raw(eur(0, 50), vec!["month".into()]).validate().is_err());
        assert!(
            raw(
                BTreeMap::from([("EUR".to_owned(), Bounds { min: 1, max: 2 })]),
                vec!["month".into()]
            )
            .validate()
            .is_err()
        );
        assert!(raw(eur(1, 2), vec!["fortnight".into()]).validate().is_err());
        assert!(raw(eur(1, 2), vec![]).validate().is_err());
        assert!(raw(BTreeMap::new(), vec!["month".into()]).validate().is_err());
    }
}
