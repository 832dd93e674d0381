//! What `GET /plans` shows of the catalog: public fields only, never a Stripe identifier, with
//! each price's amount as Stripe charges it where known.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Catalog, Interval, PlanMode, PriceRef};

impl Catalog {
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
                    trial_card: p.trial_card,
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
    /// `required` (Checkout collects a card) or `if_required` (the trial starts without one).
    pub trial_card: super::TrialCard,
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
