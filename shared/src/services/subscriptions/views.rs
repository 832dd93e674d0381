//! What the routes answer: the user's subscriptions as stored (`GET /subscription`, and the
//! subscription after a change), previews and invoices.

use crate::domain::invoices::{InvoicePreview, InvoiceSummary};
use crate::domain::plans::Interval;
use crate::domain::records::{ScheduleRecord, SubscriptionRecord, UserItems, is_live_status};
use serde::Serialize;

const DAY: i64 = 86_400;

/// A pending change, as `scheduled_change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledChangeView {
    pub plan: Option<String>,
    pub interval: Option<Interval>,
    pub quantity: u64,
    pub at: i64,
}

/// One subscription of `GET /subscription`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionView {
    pub id: String,
    pub plan: Option<String>,
    pub interval: Option<Interval>,
    pub status: String,
    pub quantity: u64,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<i64>,
    pub trial_end: Option<i64>,
    /// Whole days (rounded up) until the subscription renews; `null` when it will not (ending,
    /// ended) or the renewal date is unknown.
    pub days_until_renewal: Option<i64>,
    pub scheduled_change: Option<ScheduledChangeView>,
    /// Stripe's `pause_collection` while collection is paused (`POST /subscription/pause`):
    /// `{"behavior", "resumes_at"}`; `null` otherwise.
    pub pause_collection: Option<crate::domain::pause::PauseCollection>,
    /// Whether the current period began while collection was paused (it grants nothing until
    /// a period is paid: `POST /subscription/resume` charges a new one).
    pub unpaid_period: bool,
}

impl SubscriptionView {
    pub fn new(record: &SubscriptionRecord, schedule: Option<&ScheduleRecord>, now: i64) -> Self {
        let renews = is_live_status(&record.status) && !record.cancel_at_period_end && record.cancel_at.is_none();
        let days_until_renewal = record
            .current_period_end
            .filter(|_| renews)
            .map(|end| ((end - now).max(0) + DAY - 1) / DAY);
        // A change still to come: a record whose phase began without an event since is none.
        let scheduled_change = schedule
            .filter(|s| s.is_running() && record.status != "canceled")
            .and_then(|s| s.change.as_ref())
            .filter(|c| c.at > now && (record.price_id.as_deref() != Some(c.price_id.as_str()) || record.quantity != c.quantity))
            .map(|c| ScheduledChangeView {
                plan: c.plan.clone(),
                interval: c.interval,
                quantity: c.quantity,
                at: c.at,
            });
        Self {
            id: record.subscription_id.clone(),
            plan: record.plan.clone(),
            interval: record.interval,
            status: record.status.to_string(),
            quantity: record.quantity,
            current_period_end: record.current_period_end,
            cancel_at_period_end: record.cancel_at_period_end,
            cancel_at: record.cancel_at,
            trial_end: record.trial_end,
            days_until_renewal,
            scheduled_change,
            pause_collection: record.pause.clone().filter(|p| crate::domain::pause::paused(Some(p), now)),
            unpaid_period: crate::domain::pause::uncollected(record),
        }
    }
}

/// Live subscriptions (active, trialing, past_due, then paused and the rest) first, then by
/// period end (latest first), then id. One-time purchases are not subscriptions.
pub fn subscriptions(items: &UserItems, now: i64) -> Vec<SubscriptionView> {
    let mut records: Vec<&SubscriptionRecord> = items
        .subscriptions
        .iter()
        .filter(|s| s.interval != Some(Interval::OneTime))
        .collect();
    let rank = |s: &SubscriptionRecord| match s.status.as_str() {
        "active" | "trialing" | "past_due" => 0,
        "paused" | "incomplete" | "unpaid" => 1,
        _ => 2,
    };
    records.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then(b.current_period_end.cmp(&a.current_period_end))
            .then(a.subscription_id.cmp(&b.subscription_id))
    });
    records
        .into_iter()
        .map(|record| {
            let schedule = items.schedules.iter().find(|s| s.subscription_id == record.subscription_id);
            SubscriptionView::new(record, schedule, now)
        })
        .collect()
}

/// `preview: true` of `POST /subscription/change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewView<'a> {
    pub amount_due: i64,
    pub currency: &'a str,
    pub proration: i64,
    pub lines: &'a [crate::domain::invoices::PreviewLine],
    pub next_payment_at: Option<i64>,
}

impl<'a> From<&'a InvoicePreview> for PreviewView<'a> {
    fn from(p: &'a InvoicePreview) -> Self {
        Self {
            amount_due: p.amount_due,
            currency: &p.currency,
            proration: p.proration,
            lines: &p.lines,
            next_payment_at: p.next_payment_at,
        }
    }
}

/// `GET /invoices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoicesView<'a> {
    pub invoices: &'a [InvoiceSummary],
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use crate::domain::records::{ScheduledChange, keys};
    use crate::domain::version::Version;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn record(id: &str, status: &str, end: i64) -> SubscriptionRecord {
        SubscriptionRecord {
            pk: keys::user("u1"),
            sk: keys::subscription(id),
            subscription_id: id.into(),
            customer_id: "cus_1".into(),
            status: status.into(),
            plan: Some("pro".into()),
            price_id: Some("price_1".into()),
            interval: Some(Interval::Month),
            quantity: 1,
            current_period_end: Some(end),
            cancel_at_period_end: false,
            current_period_start: None,
            cancel_at: None,
            trial_end: None,
            past_due_since: None,
            pause: None,
            paused_since: None,
            uncollected_period: None,
            version: Version::of_payload(1),
            updated_at: 1,
        }
    }

    #[test]
    fn live_first_with_days_and_the_pending_change() {
        let schedule = ScheduleRecord {
            pk: keys::user("u1"),
            sk: keys::schedule("sub_b"),
            subscription_id: "sub_b".into(),
            schedule_id: Some("sub_sched_1".into()),
            status: "active".into(),
            change: Some(ScheduledChange {
                plan: Some("starter".into()),
                price_id: "price_s".into(),
                interval: Some(Interval::Month),
                quantity: 1,
                at: NOW + DAY,
            }),
            version: Version::of_payload(1),
            updated_at: 1,
        };
        let items = UserItems {
            subscriptions: vec![record("sub_a", "canceled", NOW + 9 * DAY), record("sub_b", "active", NOW + DAY + 1)],
            schedules: vec![schedule],
            ..Default::default()
        };
        let views = subscriptions(&items, NOW);
        assert_eq!(views.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(), ["sub_b", "sub_a"]);
        assert_eq!(views[0].days_until_renewal, Some(2), "rounded up");
        assert_eq!(views[0].scheduled_change.as_ref().unwrap().plan.as_deref(), Some("starter"));
        assert_eq!(views[1].days_until_renewal, None, "a canceled subscription does not renew");
        let mut ending = record("sub_c", "active", NOW + DAY);
        ending.cancel_at_period_end = true;
        assert_eq!(SubscriptionView::new(&ending, None, NOW).days_until_renewal, None);
    }
}
