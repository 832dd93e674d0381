//! Prices: read by id or lookup key, cached for `PRICE_CACHE_SECONDS` in a [`PriceBook`], with
//! display reads that never fail a page.

use crate::domain::stripe_wire::{self as wire, List, read};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use stripe_client_core::StripeRequest;
use tokio::sync::RwLock;

use super::retry::ATTEMPTS;
use super::{GatewayError, Stripe};

/// A price as Stripe has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceInfo {
    pub id: String,
    pub lookup_key: Option<String>,
    /// In the currency's minor unit; `None` for prices without a fixed amount.
    pub unit_amount: Option<i64>,
    pub currency: String,
    /// `recurring.interval` (`day`, `week`, `month`, `year`); `None` for one-time prices.
    pub interval: Option<String>,
    /// The unit amount in each currency the price is sold in (`currency_options`, its own
    /// currency included).
    pub currency_options: std::collections::BTreeMap<String, i64>,
}

impl PriceInfo {
    /// What `quantity` of this price costs per day, in thousandths of the minor unit; `None`
    /// without a fixed amount or an interval.
    pub fn daily_cost(&self, quantity: u64) -> Option<i128> {
        self.daily_cost_in(&self.currency, quantity)
    }

    /// The unit amount in `currency`: the price's own, or one of its `currency_options`.
    pub fn amount_in(&self, currency: &str) -> Option<i64> {
        if currency == self.currency {
            self.unit_amount
        } else {
            self.currency_options.get(currency).copied()
        }
    }

    /// What `quantity` of this price costs per day in `currency` (the price's own, or one of its
    /// `currency_options`); `None` when the price has no amount in that currency.
    pub fn daily_cost_in(&self, currency: &str, quantity: u64) -> Option<i128> {
        let amount = self.amount_in(currency)?;
        let days: i128 = match self.interval.as_deref()? {
            "day" => 1,
            "week" => 7,
            "month" => 30,
            "year" => 365,
            _ => return None,
        };
        Some(i128::from(amount) * i128::from(quantity) * 1000 / days)
    }
}

/// Prices read from Stripe, by lookup key and by id, trusted for a while (`PRICE_CACHE_SECONDS`):
/// a lookup key moved to another price, or a price changed in Stripe, shows within that time.
/// Names Stripe does not know are remembered too (`None`), so a public page cannot make every
/// request ask again.
#[derive(Debug)]
pub(super) struct PriceBook {
    pub(super) ttl: Duration,
    /// Keyed `key:<lookup key>` or `id:<price id>`.
    entries: RwLock<HashMap<String, (Option<PriceInfo>, std::time::Instant)>>,
    /// Until when display reads ([`Stripe::display_prices`]) do not ask Stripe after a failure.
    quiet_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long display reads stop asking Stripe after a failed read.
const DISPLAY_BACKOFF: Duration = Duration::from_secs(30);

impl PriceBook {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
            quiet_until: std::sync::Mutex::new(None),
        }
    }

    fn quiet(&self) -> bool {
        let until = *self.quiet_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        until.is_some_and(|t| std::time::Instant::now() < t)
    }

    fn hush(&self) {
        *self.quiet_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::time::Instant::now() + DISPLAY_BACKOFF);
    }
}

/// Which price a catalog entry names: by id (wins) or by lookup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PriceName<'a> {
    Id(&'a str),
    LookupKey(&'a str),
}

impl<'a> PriceName<'a> {
    /// How a catalog price names its Stripe price: by id when it has one, else by lookup key.
    pub fn of(price: &'a crate::domain::plans::PriceRef) -> Option<Self> {
        match (&price.price, &price.lookup_key) {
            (Some(id), _) => Some(PriceName::Id(id)),
            (None, Some(key)) => Some(PriceName::LookupKey(key)),
            (None, None) => None,
        }
    }

    /// The key of this name in [`Stripe::prices`]' answer.
    pub fn key(&self) -> String {
        match self {
            PriceName::Id(id) => format!("id:{id}"),
            PriceName::LookupKey(key) => format!("key:{key}"),
        }
    }
}

impl Stripe {
    /// The id of the active price with `lookup_key` (see [`Stripe::prices`]).
    pub async fn price_id(&self, lookup_key: &str) -> Result<String, GatewayError> {
        let name = PriceName::LookupKey(lookup_key);
        let mut found = self.prices(&[name]).await?;
        found
            .remove(&name.key())
            .map(|p| p.id)
            .ok_or_else(|| GatewayError::UnknownPrice(lookup_key.to_owned()))
    }

    /// The prices `names` refer to, as Stripe has them, keyed by [`PriceName`]'s key. Read from
    /// the price book while its entries are fresh; the rest in as few calls as Stripe allows
    /// (ten lookup keys per list). A name Stripe does not know is missing from the answer.
    pub async fn prices(&self, names: &[PriceName<'_>]) -> Result<HashMap<String, PriceInfo>, GatewayError> {
        self.prices_within(ATTEMPTS, names).await
    }

    /// The prices to show on a public page (`GET /plans`): one attempt per call, and after a
    /// failure Stripe is not asked again for `DISPLAY_BACKOFF` (30 s); meanwhile (and on the failure
    /// itself) the price book's last known prices are answered, however old. Anonymous traffic
    /// cannot make the service hammer Stripe or wait on its retries.
    pub async fn display_prices(&self, names: &[PriceName<'_>]) -> HashMap<String, PriceInfo> {
        if self.prices.quiet() {
            return self.remembered_prices(names).await;
        }
        match self.prices_within(1, names).await {
            Ok(prices) => prices,
            Err(err) => {
                self.prices.hush();
                tracing::warn!(error = %crate::adapters::cause_chain(&err), "prices unavailable from stripe; showing the last known for a while");
                self.remembered_prices(names).await
            }
        }
    }

    async fn prices_within(&self, attempts: u32, names: &[PriceName<'_>]) -> Result<HashMap<String, PriceInfo>, GatewayError> {
        let mut found = HashMap::new();
        let mut missing: Vec<PriceName<'_>> = Vec::new();
        {
            let entries = self.prices.entries.read().await;
            for name in names {
                match entries.get(&name.key()) {
                    Some((info, at)) if at.elapsed() < self.prices.ttl => {
                        if let Some(info) = info {
                            found.insert(name.key(), info.clone());
                        }
                    }
                    _ => missing.push(*name),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let mut fetched: HashMap<String, Option<PriceInfo>> = missing.iter().map(|n| (n.key(), None)).collect();
        let keys: Vec<&str> = missing
            .iter()
            .filter_map(|n| match n {
                PriceName::LookupKey(key) => Some(*key),
                PriceName::Id(_) => None,
            })
            .collect();
        for chunk in keys.chunks(10) {
            let request = stripe_product::price::ListPrice::new()
                .lookup_keys(chunk.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>())
                .active(true)
                .expand(vec!["data.currency_options".to_owned()])
                .limit(100)
                .build();
            let list = self.answer_within(attempts, "list_prices", "price", request, None).await?.value;
            let list: List<wire::Price> = read(&list).unwrap_or_default();
            for price in list.items() {
                if let Some(info) = PriceInfo::from_wire(price)
                    && let Some(key) = chunk.iter().find(|k| info.lookup_key.as_deref() == Some(**k))
                {
                    fetched.insert(PriceName::LookupKey(key).key(), Some(info));
                }
            }
        }
        for name in &missing {
            if let PriceName::Id(id) = name {
                let request = stripe_product::price::RetrievePrice::new(*id)
                    .expand(vec!["currency_options".to_owned()])
                    .build();
                match self.answer_within(attempts, "retrieve_price", "price", request, None).await {
                    Ok(price) => {
                        fetched.insert(name.key(), parse_price(&price.value));
                    }
                    Err(GatewayError::NotFound { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        let now = std::time::Instant::now();
        let mut entries = self.prices.entries.write().await;
        for (key, info) in fetched {
            if let Some(info) = &info {
                found.insert(key.clone(), info.clone());
            }
            entries.insert(key, (info, now));
        }
        Ok(found)
    }

    /// What the price book holds for `names`, however old: the fallback when Stripe cannot be
    /// asked.
    pub async fn remembered_prices(&self, names: &[PriceName<'_>]) -> HashMap<String, PriceInfo> {
        let entries = self.prices.entries.read().await;
        names
            .iter()
            .filter_map(|name| match entries.get(&name.key()) {
                Some((Some(info), _)) => Some((name.key(), info.clone())),
                _ => None,
            })
            .collect()
    }
}

fn parse_price(value: &Value) -> Option<PriceInfo> {
    read(value).and_then(PriceInfo::from_wire)
}

impl PriceInfo {
    /// `None` without an id or a currency.
    fn from_wire(price: wire::Price) -> Option<Self> {
        Some(PriceInfo {
            id: price.id?,
            lookup_key: price.lookup_key,
            unit_amount: price.unit_amount,
            currency: price.currency?,
            interval: price.recurring.interval,
            currency_options: price
                .currency_options
                .into_iter()
                .filter_map(|(currency, option)| Some((currency, option.unit_amount?)))
                .collect(),
        })
    }
}
