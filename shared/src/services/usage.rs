//! Usage metering for any Rust Lambda: count units of a feature against the user's quota for the
//! current period, and keep metered units for the usage reporter to bill through Stripe. Never a
//! Stripe call on the request path.
//!
//! ```no_run
//! # async fn example(state: &billing::AppState, user_id: &str) -> Result<(), billing::services::usage::UsageError> {
//! let recorded = state.usage().record(user_id, "pdf_conversion", 1, None).await?; // Err(OverLimit) → 429
//! println!("{} left", recorded.remaining.map_or("unlimited".into(), |r| r.to_string()));
//! # Ok(()) }
//! ```
//!
//! - The check and the increment are ONE conditional DynamoDB write: concurrent callers can never
//!   pass the limit together. A record that would pass it is refused whole.
//! - What a user may count (plan, period) is read with the same rules as the entitlement check
//!   and kept in the process for [`crate::config::Config::usage_cache`] (default 10 s): a warm
//!   process records in ONE round trip; a plan change or a renewal reaches it within that time.
//! - A client's idempotency key is claimed in the same transaction as the increment: a retry
//!   counts nothing and answers as the first request did.
//! - A restarted period keeps its spent quota ([`crate::domain::usage::carried`]); metered units
//!   stop at the counter's ceiling per period; a metered record is refused once its
//!   subscription is canceled or its metering closed for a cancel now, even while this process
//!   still holds the plan it read before (the write itself checks).
//!
//! Recording is a trusted caller's act: the team's own code through this module, or a direct
//! invocation of the `usage` function (IAM authorizes it). Never a user's token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::adapters::store::{Counted, KeyedCount, Store, StoreError, UsageWrite};
use crate::adapters::stripe::idempotency_key;
use crate::domain::access::{self, AccessPolicy};
use crate::domain::clock::Clock;
use crate::domain::events::{Reached, UsageData, thresholds_reached, usage_threshold};
use crate::domain::plans::{Catalog, is_valid_key};
use crate::domain::usage::{Allowances, Metering, Period};

/// Largest quantity of one record.
pub const MAX_QUANTITY: u64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The feature key is not of the form `[a-z0-9_.:-]{1,100}`.
    #[error("invalid feature key")]
    InvalidFeature,
    #[error("quantity outside 1..=1000000")]
    InvalidQuantity,
    /// The user's plan does not count this feature.
    #[error("feature `{feature}` is not counted by the user's plan")]
    NotInPlan { feature: String },
    /// The record would pass the limit; nothing was counted.
    #[error("usage limit reached")]
    OverLimit { limit: u64, used: u64, resets_at: i64 },
    /// The record would bill more metered units in the period than the counter's ceiling.
    #[error("metered usage ceiling reached")]
    OverCeiling { ceiling: u64, metered: u64, resets_at: i64 },
    /// The subscription that would bill the units is canceled (or being canceled now).
    #[error("the subscription billing this usage has ended")]
    SubscriptionEnded,
    /// The client's idempotency key was used for another record.
    #[error("idempotency key reused for another record")]
    KeyReused,
    #[error("the store failed")]
    Store(#[from] StoreError),
}

/// The answer to a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub feature: String,
    pub used: u64,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub period_end: i64,
}

/// One feature of `GET /usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeatureUsage {
    pub used: u64,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub metered: bool,
    /// The alert thresholds (percent of the limit: 80, 100) this period's count has crossed;
    /// each also made one `usage.threshold` domain event.
    pub thresholds: Vec<u8>,
}

/// `GET /usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageSummary {
    pub period_start: i64,
    pub period_end: i64,
    pub features: std::collections::BTreeMap<String, FeatureUsage>,
}

/// What a user may count, as last read; kept per process for a short time.
#[derive(Debug, Clone)]
struct Entry {
    usage: Allowances,
    period: Period,
    /// The subscription whose billing period `period` is.
    basis: Option<String>,
    /// The headline plan, and the user's Stripe customer (for `usage.threshold`).
    plan: Option<String>,
    customer_id: Option<String>,
    read_at: Instant,
}

/// The per-process cache of what users may count. Bounded: past `CACHE_ENTRIES` users it
/// starts over.
#[derive(Debug)]
pub struct AllowanceCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

const CACHE_ENTRIES: usize = 10_000;

impl AllowanceCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, user: &str, now: i64) -> Option<Entry> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(user)
            .filter(|e| e.read_at.elapsed() < self.ttl && now < e.period.end)
            .cloned()
    }

    /// Forgets what `user` may count: the next record reads it again.
    fn forget(&self, user: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.remove(user);
    }

    fn put(&self, user: &str, entry: Entry) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(user.to_owned(), entry);
    }
}

/// A count just recorded, for [`Usage::notify`].
struct Threshold<'a> {
    user: &'a str,
    feature: &'a str,
    entry: &'a Entry,
    limit: Option<u64>,
    used: u64,
    notified: Vec<u8>,
}

/// Borrowed pieces of the process state; cheap to build per request.
pub struct Usage<'a> {
    store: &'a Store,
    catalog: &'a Catalog,
    clock: &'a dyn Clock,
    policy: AccessPolicy,
    cache: &'a AllowanceCache,
}

impl<'a> Usage<'a> {
    pub fn new(store: &'a Store, catalog: &'a Catalog, clock: &'a dyn Clock, policy: AccessPolicy, cache: &'a AllowanceCache) -> Self {
        Self {
            store,
            catalog,
            clock,
            policy,
            cache,
        }
    }

    async fn allowances(&self, user: &str) -> Result<Entry, StoreError> {
        let now = self.clock.now();
        if let Some(entry) = self.cache.get(user, now) {
            return Ok(entry);
        }
        // Strongly consistent: a period restarted a moment ago carries the counts as they are.
        let items = self.store.user_items_consistent(user).await?;
        let access = access::decide(self.catalog, &items, now, &self.policy);
        let entry = Entry {
            usage: access.usage,
            period: access.usage_period,
            basis: access.usage_basis,
            plan: access.plan,
            customer_id: items.customer.map(|c| c.customer_id),
            read_at: Instant::now(),
        };
        self.cache.put(user, entry.clone());
        Ok(entry)
    }

    /// Counts `quantity` units of `feature` for `user` in the current period, or refuses the
    /// whole record ([`UsageError::OverLimit`], [`UsageError::OverCeiling`]). With `key` (the
    /// client's idempotency key) a repeated record counts nothing and answers as the first one
    /// did.
    pub async fn record(&self, user: &str, feature: &str, quantity: u64, key: Option<&str>) -> Result<Recorded, UsageError> {
        if !is_valid_key(feature) {
            return Err(UsageError::InvalidFeature);
        }
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(UsageError::InvalidQuantity);
        }
        match self.record_once(user, feature, quantity, key).await {
            // The plan this process held is no longer billable (canceled meanwhile): read what
            // the user may count now, and judge the record once more on that.
            Err(UsageError::SubscriptionEnded) => {
                self.cache.forget(user);
                self.record_once(user, feature, quantity, key).await
            }
            other => other,
        }
    }

    async fn record_once(&self, user: &str, feature: &str, quantity: u64, key: Option<&str>) -> Result<Recorded, UsageError> {
        let entry = self.allowances(user).await?;
        let allowance = entry.usage.get(feature).ok_or_else(|| UsageError::NotInPlan {
            feature: feature.to_owned(),
        })?;
        let metering = match (&allowance.meter, &allowance.customer_id, &allowance.subscription_id) {
            (Some(meter), Some(customer_id), Some(subscription_id)) => Some(Metering {
                meter,
                customer_id,
                subscription_id,
                ceiling: allowance.ceiling,
            }),
            _ => None,
        };
        let write = UsageWrite {
            user_id: user,
            feature,
            period: entry.period,
            quantity,
            limit: allowance.limit,
            carried: allowance.carried,
            basis: entry.basis.as_deref(),
            metering,
            now: self.clock.now(),
        };
        let answer = |used: u64| Recorded {
            feature: feature.to_owned(),
            used,
            limit: allowance.limit,
            remaining: allowance.limit.map(|l| l.saturating_sub(used)),
            period_end: entry.period.end,
        };
        let refused = |counted: Counted| match counted {
            Counted::OverLimit { used } => UsageError::OverLimit {
                limit: allowance.limit.unwrap_or(0),
                used,
                resets_at: entry.period.end,
            },
            Counted::OverCeiling { metered } => UsageError::OverCeiling {
                ceiling: allowance.ceiling.unwrap_or(0),
                metered,
                resets_at: entry.period.end,
            },
            Counted::Closed | Counted::Yes { .. } => UsageError::SubscriptionEnded,
        };
        let reached = |used: u64, notified: Vec<u8>| Threshold {
            user,
            feature,
            entry: &entry,
            limit: allowance.limit,
            used,
            notified,
        };
        let Some(key) = key else {
            return match self.store.count_usage(&write).await? {
                Counted::Yes { used, notified } => {
                    self.notify(reached(used, notified)).await;
                    Ok(answer(used))
                }
                other => Err(refused(other)),
            };
        };
        let request = idempotency_key("usage", &[user, key]);
        let fingerprint = format!("usage:{feature}:{quantity}");
        match self
            .store
            .count_usage_once(&write, &request, &fingerprint, self.clock.now())
            .await?
        {
            KeyedCount::Counted(Counted::Yes { used, notified }) => {
                self.notify(reached(used, notified)).await;
                let recorded = answer(used);
                if let Ok(text) = serde_json::to_string(&recorded)
                    && let Err(err) = self.store.save_answer(&request, &text).await
                {
                    // Counted; a retry then answers from the counter as it stands.
                    tracing::warn!(error = %crate::adapters::cause_chain(&err), "the answer of a usage record was not kept");
                }
                Ok(recorded)
            }
            KeyedCount::Counted(other) => Err(refused(other)),
            KeyedCount::Seen(claim) if claim.fingerprint != fingerprint => Err(UsageError::KeyReused),
            KeyedCount::Seen(claim) => match claim.answer.as_deref().and_then(|a| serde_json::from_str(a).ok()) {
                Some(first) => Ok(first),
                // Counted by the first request, whose answer was not kept: the count as it stands.
                None => {
                    let used = self
                        .store
                        .usage_counter(user, entry.period.end, feature)
                        .await?
                        .map_or(quantity, |c| if allowance.limit.is_some() { c.limited } else { c.used });
                    Ok(answer(used))
                }
            },
        }
    }

    /// Records the `usage.threshold` events a count reached and its counter has not made yet:
    /// each marks the counter and puts its outbox item in one transaction. A failure is logged
    /// and not the caller's: the units are counted, and the next record of the counter (at or
    /// past the threshold) makes the event then.
    async fn notify(&self, t: Threshold<'_>) {
        let Some(limit) = t.limit else { return };
        let now = self.clock.now();
        let mut customer = t.entry.customer_id.clone();
        for threshold in thresholds_reached(t.used, limit) {
            if t.notified.contains(&threshold) {
                continue;
            }
            if customer.is_none() {
                // An allowance read (and cached) before the user had a customer, a first
                // checkout moments ago: the event names the customer they have now.
                customer = match self.store.customer_link(t.user).await {
                    Ok(link) => link.map(|l| l.customer_id),
                    Err(err) => {
                        tracing::warn!(error = %crate::adapters::cause_chain(&err), "usage.threshold: the customer link was not read; the next record retries");
                        return;
                    }
                };
            }
            let event = usage_threshold(&Reached {
                user_id: t.user,
                customer_id: customer.as_deref(),
                plan: t.entry.plan.as_deref(),
                subscription_id: t.entry.basis.as_deref(),
                usage: UsageData {
                    feature: t.feature.to_owned(),
                    threshold,
                    used: t.used,
                    limit,
                    period_start: t.entry.period.start,
                    period_end: t.entry.period.end,
                },
                now,
            });
            let record = event.outbox(usize::from(threshold), now);
            if let Err(err) = self
                .store
                .notify_threshold(t.user, t.entry.period.end, t.feature, threshold, &record, now)
                .await
            {
                tracing::warn!(error = %crate::adapters::cause_chain(&err), feature = t.feature, threshold, "usage.threshold not recorded; the next record retries");
            }
        }
    }

    /// The user's counters in the current period (one Query).
    pub async fn summary(&self, user: &str) -> Result<UsageSummary, UsageError> {
        let items = self.store.user_items(user).await?;
        let access = access::decide(self.catalog, &items, self.clock.now(), &self.policy);
        Ok(summarize(&items, &access))
    }
}

/// The counters of `items` in the period of `access` (what `GET /usage` shows).
pub fn summarize(items: &crate::domain::records::UserItems, access: &crate::domain::access::Access) -> UsageSummary {
    let period = access.usage_period;
    let features = access
        .usage
        .iter()
        .map(|(feature, allowance)| {
            let counter = items.usage.iter().find(|c| c.feature == *feature && c.period_end == period.end);
            // Under a limit, the quota's count; else every unit.
            // A period restarted before its end starts from the count it carries.
            let used = counter.map_or(allowance.carried, |c| if allowance.limit.is_some() { c.limited } else { c.used });
            let usage = FeatureUsage {
                used,
                limit: allowance.limit,
                remaining: allowance.limit.map(|l| l.saturating_sub(used)),
                metered: allowance.metered(),
                thresholds: allowance.limit.map(|l| thresholds_reached(used, l)).unwrap_or_default(),
            };
            (feature.clone(), usage)
        })
        .collect();
    UsageSummary {
        period_start: period.start,
        period_end: period.end,
        features,
    }
}
