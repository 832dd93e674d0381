//! Usage counters: what a user may count in the current period, decided from the same rules as
//! access (the granting subscriptions' plans, else the free plan), and the period itself.
//!
//! - A subscriber's period is the headline subscription's current billing period; a renewal
//!   starts a new counter (counters are keyed by the period's end).
//! - Without a granting subscription (the free plan, or one-time purchases only) the period is
//!   the calendar month, UTC.
//! - Several granting plans combine per feature: no limit if any has none, else the highest
//!   limit; metered when a granting subscription's plan meters it (billed to that subscription's
//!   customer).
//!
//! # A period restart keeps the count ([`carried`])
//!
//! A quota counts per billing period, and a renewal starts a new count. But some changes start
//! a new period *before* the current one has ended: a change of billing interval made now
//! (month → year → month), a cancel now followed by a new subscription, a resume. None of them
//! pays for the time already paid again, so none may grant a spent quota again: the first
//! counter of the new period starts from the highest quota count among the user's
//! subscription counters of the same feature whose period overlaps it. A period that began
//! when the last one ended (a renewal, a subscription after one that ran out) starts from zero,
//! and the free plan's calendar-month counters neither give nor take a carried count.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Date, Month, OffsetDateTime};

use crate::domain::records::UsageCounter;

/// A billing period `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub start: i64,
    pub end: i64,
}

/// What a user may count of one feature in the current period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Allowance {
    /// Units per period; `None`: no limit.
    pub limit: Option<u64>,
    /// The Stripe meter (event name) that bills the units, and the customer billed.
    pub meter: Option<String>,
    pub customer_id: Option<String>,
    /// The subscription whose metered item bills the units (its metering can be closed).
    pub subscription_id: Option<String>,
    /// Metered: the most units billed per period.
    pub ceiling: Option<u64>,
    /// The quota count a new counter of this period starts from ([`carried`]).
    pub carried: u64,
}

/// How a subscription bills a metered feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metering<'a> {
    pub meter: &'a str,
    pub customer_id: &'a str,
    pub subscription_id: &'a str,
    pub ceiling: Option<u64>,
}

impl Allowance {
    pub fn metered(&self) -> bool {
        self.meter.is_some()
    }
}

/// Combines a plan's rule into what is allowed so far for one feature.
pub fn combine(slot: &mut Option<Allowance>, limit: Option<u64>, metering: Option<Metering<'_>>) {
    let current = match slot {
        None => slot.insert(Allowance {
            limit,
            ..Allowance::default()
        }),
        Some(current) => {
            current.limit = match (current.limit, limit) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            current
        }
    };
    if current.meter.is_none()
        && let Some(m) = metering
    {
        current.meter = Some(m.meter.to_owned());
        current.customer_id = Some(m.customer_id.to_owned());
        current.subscription_id = Some(m.subscription_id.to_owned());
        current.ceiling = m.ceiling;
    }
}

/// The quota count a new counter of `feature` in the subscription period `period` starts from:
/// the highest quota count of the user's subscription counters of that feature whose period
/// overlaps it (a period restarted before its end; see the module docs).
pub fn carried(counters: &[UsageCounter], feature: &str, period: Period) -> u64 {
    counters
        .iter()
        .filter(|c| c.feature == feature && c.subscription_id.is_some() && c.period_end != period.end)
        .filter(|c| c.period_end > period.start && c.period_start < period.end)
        .map(|c| c.limited)
        .max()
        .unwrap_or(0)
}

/// The allowances of a set of rules, for `BTreeMap` building.
pub type Allowances = BTreeMap<String, Allowance>;

/// The calendar month (UTC) holding `now`.
pub fn calendar_month(now: i64) -> Period {
    let date = utc_date(now.div_euclid(86_400));
    let first = date.replace_day(1).unwrap_or(date);
    let next = match first.month() {
        Month::December => Date::from_calendar_date(first.year() + 1, Month::January, 1),
        month => Date::from_calendar_date(first.year(), month.next(), 1),
    }
    .unwrap_or(Date::MAX);
    Period {
        start: day_start(first),
        end: day_start(next),
    }
}

/// The UTC date of a day count since 1970-01-01 (clamped to the `time` crate's range, years
/// -9999 to 9999: far beyond any billing period).
fn utc_date(days: i64) -> Date {
    let seconds = days.saturating_mul(86_400);
    match OffsetDateTime::from_unix_timestamp(seconds) {
        Ok(at) => at.date(),
        Err(_) if seconds < 0 => Date::MIN,
        Err(_) => Date::MAX,
    }
}

/// Seconds since the epoch of the start (00:00 UTC) of `date`.
fn day_start(date: Date) -> i64 {
    date.midnight().assume_utc().unix_timestamp()
}

/// The civil date (year, month 1-12, day 1-31) of a day count since 1970-01-01, in UTC.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let date = utc_date(days);
    (i64::from(date.year()), u32::from(u8::from(date.month())), u32::from(date.day()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_in_utc() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_818), (2026, 12, 31));
    }

    #[test]
    fn calendar_months_in_utc() {
        // 2026-11-24T23:59:59Z → November 2026.
        let p = calendar_month(1_795_564_799);
        assert_eq!((p.start, p.end), (1_793_491_200, 1_796_083_200));
        // The last second of December rolls into January of the next year.
        let december = calendar_month(1_798_761_599);
        assert_eq!((december.start, december.end), (1_796_083_200, 1_798_761_600));
        let january = calendar_month(1_798_761_600);
        assert_eq!(january.start, december.end);
        // Leap February.
        let feb = calendar_month(1_709_251_199); // 2024-02-29T23:59:59Z
        assert_eq!(feb.end - feb.start, 29 * 86_400);
    }

    #[test]
    fn plans_combine_per_feature() {
        let mut slot = None;
        combine(&mut slot, Some(100), None);
        combine(&mut slot, Some(1000), None);
        assert_eq!(slot.as_ref().unwrap().limit, Some(1000));
        let metering = Metering {
            meter: "api_calls",
            customer_id: "cus_1",
            subscription_id: "sub_1",
            ceiling: Some(5),
        };
        combine(&mut slot, None, Some(metering));
        let allowance = slot.unwrap();
        assert_eq!(
            (
                allowance.limit,
                allowance.meter.as_deref(),
                allowance.customer_id.as_deref(),
                allowance.subscription_id.as_deref(),
                allowance.ceiling
            ),
            (None, Some("api_calls"), Some("cus_1"), Some("sub_1"), Some(5))
        );
    }

    fn counter(feature: &str, start: i64, end: i64, limited: u64, subscription: Option<&str>) -> UsageCounter {
        UsageCounter {
            pk: "USER#u".into(),
            sk: format!("USAGE#{end}#{feature}"),
            feature: feature.into(),
            period_start: start,
            period_end: end,
            used: limited,
            limited,
            metered: 0,
            limit: Some(1000),
            meter: None,
            customer_id: None,
            subscription_id: subscription.map(str::to_owned),
            reported: 0,
            settled: None,
            report: None,
            expires_at: end + 1,
        }
    }

    #[test]
    fn a_restarted_period_keeps_the_spent_quota_and_a_renewal_does_not() {
        let day = 86_400;
        let month = counter("api_calls", 0, 30 * day, 1000, Some("sub_1"));
        // Month → year on day 5: the year's period overlaps the month's.
        let year = Period {
            start: 5 * day,
            end: 370 * day,
        };
        assert_eq!(carried(std::slice::from_ref(&month), "api_calls", year), 1000);
        // … and back to a month on day 6: both earlier counters overlap; the highest count wins
        // (a count carried once is not added twice).
        let year_counter = counter("api_calls", 5 * day, 370 * day, 1000, Some("sub_1"));
        let back = Period {
            start: 6 * day,
            end: 36 * day,
        };
        assert_eq!(carried(&[month.clone(), year_counter], "api_calls", back), 1000);
        // A renewal starts where the last period ended: nothing carried.
        let renewal = Period {
            start: 30 * day,
            end: 60 * day,
        };
        assert_eq!(carried(std::slice::from_ref(&month), "api_calls", renewal), 0);
        // Another feature, the free plan's calendar counters, the counter itself: not carried.
        assert_eq!(carried(std::slice::from_ref(&month), "exports", year), 0);
        let free = counter("api_calls", 0, 31 * day, 100, None);
        assert_eq!(carried(&[free], "api_calls", year), 0);
        assert_eq!(
            carried(std::slice::from_ref(&month), "api_calls", Period { start: 0, end: 30 * day }),
            0
        );
    }
}
