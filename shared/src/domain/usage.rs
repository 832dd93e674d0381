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

use std::collections::BTreeMap;

use serde::Serialize;

/// A billing period `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub start: i64,
    pub end: i64,
}

/// What a user may count of one feature in the current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allowance {
    /// Units per period; `None`: no limit.
    pub limit: Option<u64>,
    /// The Stripe meter (event name) that bills the units, and the customer billed.
    pub meter: Option<String>,
    pub customer_id: Option<String>,
}

impl Allowance {
    pub fn metered(&self) -> bool {
        self.meter.is_some()
    }
}

/// Combines a plan's rule into what is allowed so far for one feature.
pub fn combine(slot: &mut Option<Allowance>, limit: Option<u64>, meter: Option<(&str, &str)>) {
    match slot {
        None => {
            *slot = Some(Allowance {
                limit,
                meter: meter.map(|(m, _)| m.to_owned()),
                customer_id: meter.map(|(_, c)| c.to_owned()),
            });
        }
        Some(current) => {
            current.limit = match (current.limit, limit) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            if current.meter.is_none()
                && let Some((m, c)) = meter
            {
                current.meter = Some(m.to_owned());
                current.customer_id = Some(c.to_owned());
            }
        }
    }
}

/// The allowances of a set of rules, for `BTreeMap` building.
pub type Allowances = BTreeMap<String, Allowance>;

/// The calendar month (UTC) holding `now`.
pub fn calendar_month(now: i64) -> Period {
    let days = now.div_euclid(86_400);
    let (year, month, _) = civil_from_days(days);
    let start = days_from_civil(year, month, 1) * 86_400;
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let end = days_from_civil(next_year, next_month, 1) * 86_400;
    Period { start, end }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if month <= 2 { y + 1 } else { y }, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        combine(&mut slot, None, Some(("api_calls", "cus_1")));
        let allowance = slot.unwrap();
        assert_eq!(
            (allowance.limit, allowance.meter.as_deref(), allowance.customer_id.as_deref()),
            (None, Some("api_calls"), Some("cus_1"))
        );
    }
}
