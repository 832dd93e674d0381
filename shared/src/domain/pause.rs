//! Paused collection (Stripe's `pause_collection`) and the access rules around it.
//!
//! While a subscription's collection is paused, Stripe still renews it (a new period, a new
//! invoice) but does not collect: the renewal invoice is voided, marked uncollectible or left
//! a draft (`PAUSE_BEHAVIOR`). So a paused subscription must not grant what it grants when
//! paid, and a period that began while paused was never paid for:
//!
//! - **Paused**: `pause_collection` is set and its `resumes_at` (if any) has not passed. The
//!   subscription does not grant; the user gets `PAUSED_ACCESS` (the free plan by default).
//! - **Uncollected period**: a period that began while collection was paused
//!   (`current_period_start >= paused_since`) stays unpaid after the pause lifts, whether the
//!   pause was lifted through this service, in the Dashboard, or by `resumes_at`. The
//!   subscription does not grant until a later period starts (a paid renewal, or the resume of
//!   this service, which starts a new period charged at once).
//!
//! Without these rules a customer could pause on the last day of a paid period and resume the
//! next day, keeping a whole unpaid period.

use crate::domain::records::SubscriptionRecord;

pub use crate::domain::status::PauseCollection;

/// The pause behaviours Stripe knows (`PAUSE_BEHAVIOR`).
pub const PAUSE_BEHAVIORS: [&str; 3] = ["void", "keep_as_draft", "mark_uncollectible"];

/// Whether collection is paused at `now`.
pub fn paused(pause: Option<&PauseCollection>, now: i64) -> bool {
    pause.is_some_and(|p| p.resumes_at.is_none_or(|at| now < at))
}

/// Whether `sub` is withheld from granting at `now`: its collection is paused, or its current
/// period began while collection was paused (see the module docs).
pub fn withheld(sub: &SubscriptionRecord, now: i64) -> bool {
    paused(sub.pause.as_ref(), now) || uncollected(sub)
}

/// Whether the current period of `sub` began while its collection was paused.
pub fn uncollected(sub: &SubscriptionRecord) -> bool {
    sub.uncollected_period.is_some() && sub.uncollected_period == sub.current_period_start
}

/// `(paused_since, uncollected_period)` of a subscription as read now, from the record stored
/// before (`previous`): `paused_since` is when the pause was first seen (kept while it lasts),
/// and a period that starts at or after it is uncollected (kept for that period only, even
/// once the pause has lifted).
pub fn track(
    pause: Option<&PauseCollection>,
    current_period_start: Option<i64>,
    restarted: bool,
    previous: Option<&SubscriptionRecord>,
    seen_at: i64,
) -> (Option<i64>, Option<i64>) {
    let paused_since = pause.map(|_| previous.and_then(|p| p.paused_since).unwrap_or(seen_at));
    // A period that starts in the very second the pause was first seen began while paused
    // unless it was already the stored period (it was paid before the pause).
    let stored_start = previous.and_then(|p| p.current_period_start);
    // A pause first seen together with a new period (webhooks late or out of order, a repair
    // by reconcile): when it began is unknown, so the new period counts as begun while paused.
    let first_seen_with_renewal =
        previous.is_some_and(|p| p.paused_since.is_none()) && stored_start.is_some() && stored_start != current_period_start;
    let began_paused = match (paused_since, current_period_start) {
        (Some(since), Some(start)) if start > since || (start == since && stored_start != Some(start)) || first_seen_with_renewal => {
            Some(start)
        }
        _ => None,
    };
    let carried = previous
        .and_then(|p| p.uncollected_period)
        .filter(|start| Some(*start) == current_period_start);
    // A pause lifted within the same second as a renewal still leaves that period unpaid.
    // (Not a period restarted at the lift: the resume charged it at once.)
    let lifted_now = pause.is_none()
        && !restarted
        && previous
            .and_then(|p| p.paused_since)
            .zip(current_period_start)
            .is_some_and(|(since, start)| start >= since && previous.and_then(|p| p.current_period_start) != Some(start));
    let uncollected = began_paused.or(carried).or(lifted_now.then_some(current_period_start).flatten());
    (paused_since, uncollected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pause(resumes_at: Option<i64>) -> PauseCollection {
        PauseCollection {
            behavior: "void".into(),
            resumes_at,
        }
    }

    fn record(current_period_start: Option<i64>) -> SubscriptionRecord {
        SubscriptionRecord {
            pk: "USER#u".into(),
            sk: "SUB#sub_1".into(),
            subscription_id: "sub_1".into(),
            customer_id: "cus_1".into(),
            status: crate::domain::status::SubscriptionStatus::Active,
            plan: None,
            price_id: None,
            interval: None,
            quantity: 1,
            current_period_end: None,
            cancel_at_period_end: false,
            current_period_start,
            cancel_at: None,
            trial_end: None,
            past_due_since: None,
            pause: None,
            paused_since: None,
            uncollected_period: None,
            version: crate::domain::version::Version::of_payload(0),
            updated_at: 0,
        }
    }

    #[test]
    fn paused_until_resumes_at_only() {
        assert!(paused(Some(&pause(None)), 100));
        assert!(paused(Some(&pause(Some(200))), 199));
        assert!(!paused(Some(&pause(Some(200))), 200));
        assert!(!paused(None, 100));
    }

    #[test]
    fn a_period_that_began_while_paused_stays_uncollected_after_the_pause_lifts() {
        // Paused at 150 in the period that started at 100: that period was paid.
        let (since, uncollected) = track(Some(&pause(None)), Some(100), false, None, 150);
        assert_eq!((since, uncollected), (Some(150), None));
        // Renewal at 200 while paused: the new period is unpaid.
        let mut record = record(Some(100));
        record.paused_since = since;
        let (since, uncollected) = track(Some(&pause(None)), Some(200), false, Some(&record), 210);
        assert_eq!((since, uncollected), (Some(150), Some(200)));
        // The pause lifts (resumes_at, the Dashboard): the period starting at 200 stays unpaid.
        record.current_period_start = Some(200);
        record.uncollected_period = uncollected;
        let (since, uncollected) = track(None, Some(200), false, Some(&record), 220);
        assert_eq!((since, uncollected), (None, Some(200)));
        // The next period (paid renewal, or a resume that starts a new period) grants again.
        record.paused_since = None;
        record.uncollected_period = Some(200);
        assert_eq!(track(None, Some(300), false, Some(&record), 300), (None, None));
    }

    #[test]
    fn a_pause_in_the_second_the_paid_period_began_leaves_that_period_paid() {
        let record = record(Some(100));
        assert_eq!(track(Some(&pause(None)), Some(100), false, Some(&record), 100), (Some(100), None));
        // Seen first while paused, with nothing stored: fail closed.
        assert_eq!(track(Some(&pause(None)), Some(100), false, None, 100), (Some(100), Some(100)));
    }

    #[test]
    fn a_period_restarted_at_the_lift_was_charged_at_once() {
        let mut record = record(Some(100));
        record.paused_since = Some(150);
        record.uncollected_period = None;
        assert_eq!(track(None, Some(300), true, Some(&record), 300), (None, None));
    }

    #[test]
    fn a_renewal_and_a_lift_seen_together_leave_the_renewed_period_unpaid() {
        let mut record = record(Some(100));
        record.paused_since = Some(150);
        // The webhook of the renewal was missed; the next read shows the pause gone and a new period.
        assert_eq!(track(None, Some(200), false, Some(&record), 230), (None, Some(200)));
    }
}
