//! The ordering rule of stored Stripe state, in one place.
//!
//! Every stored subscription and entitlement item carries a [`Version`]; a write lands only
//! above the stored one (a condition in the same transaction). A version is a second shifted
//! left by 20 bits; the low bits order writes of state fetched from Stripe within that second.
//!
//! - **State from an event payload** is as new as the event: [`Version::of_payload`] is the
//!   event's `created` second.
//! - **State fetched from Stripe** is the truth at some instant while Stripe served the request,
//!   which is *after* the request started. [`Version::of_fetch`] stamps it with the second the
//!   request started, minus [`CLOCK_SKEW_MARGIN`] (our clock against Stripe's), and never below
//!   the event that prompted the fetch (Stripe served the fetch after creating that event). So
//!   any change Stripe makes after serving the fetch carries a `created` second at or above the
//!   stamp: its event is never judged stale against the fetch. (Stamping with the time *after*
//!   the response arrived would drop a change made in between, for good.)
//! - The low bit puts fetched state above the payloads of its own second.
//!
//! Two rules decide what lands:
//!
//! - **A payload** is judged against the stored version ([`Version::judge`]):
//!
//!   | stored | verdict |
//!   |---|---|
//!   | none, or lower | write at the payload's version |
//!   | same second, not lower | fetch the object from Stripe: payloads of one second cannot be ordered |
//!   | a later second | stale: newer state is stored (its own events carry whatever came after) |
//!
//! - **Fetched state** is written only by a fetch that started *after* the stored version was
//!   read, and only while that version is still stored (the write's condition): nothing stored in
//!   between is overwritten, so an older fetch can never land above newer state. It lands
//!   above the version it read, and never below its own stamp ([`Version::above_observed`]). A
//!   refused write fetches again.
//!
//! At most [`CLOCK_SKEW_MARGIN`] seconds of older payloads can overwrite fetched state; the
//! events that follow them restore the truth.

use serde::{Deserialize, Serialize};

/// How far our clock may run ahead of Stripe's. A fetch is stamped this long before it started.
pub const CLOCK_SKEW_MARGIN: i64 = 2;

const LOW_BITS: u32 = 20;
const LOW_MASK: u64 = (1 << LOW_BITS) - 1;

/// The order of stored state. Stored as a number; only this module knows its layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(u64);

/// What to do with incoming state, given the stored version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it, guarded by this version.
    Write(Version),
    /// Same second as the stored state: fetch the current object from Stripe and judge that.
    Refetch,
    /// Newer state is stored; write nothing.
    Stale,
}

impl Version {
    /// State carried by an event payload created at `created` (Unix seconds).
    pub fn of_payload(created: i64) -> Self {
        Self((created.max(0) as u64) << LOW_BITS)
    }

    /// State fetched from Stripe by a request that started at `started_at` (our clock),
    /// prompted by an event of version `prompted_by`, if any.
    pub fn of_fetch(started_at: i64, prompted_by: Option<Version>) -> Self {
        let stamp = Self::of_payload(started_at.saturating_sub(CLOCK_SKEW_MARGIN));
        let floor = prompted_by.map_or(stamp, |v| Self::of_payload(v.second()));
        Self(stamp.max(floor).0 | 1)
    }

    /// The second this version stands for.
    pub fn second(self) -> i64 {
        (self.0 >> LOW_BITS) as i64
    }

    /// The raw number, as stored.
    pub fn get(self) -> u64 {
        self.0
    }

    /// One step above, within the same second; `None` when the second is used up.
    fn step(self) -> Option<Self> {
        (self.0 & LOW_MASK < LOW_MASK).then_some(Self(self.0 + 1))
    }

    /// The payload rule (see the module docs): what to do with a payload of version `incoming`
    /// when `stored` is stored.
    pub fn judge(stored: Option<Version>, incoming: Version) -> Verdict {
        match stored {
            None => Verdict::Write(incoming),
            Some(stored) if stored < incoming => Verdict::Write(incoming),
            Some(stored) if stored.second() == incoming.second() => Verdict::Refetch,
            Some(_) => Verdict::Stale,
        }
    }

    /// The version of state fetched after `observed` was read: `fetched` (the fetch's stamp),
    /// or one step above `observed` when that is not lower. `None` when `observed` has used up
    /// its second.
    pub fn above_observed(observed: Option<Version>, fetched: Version) -> Option<Version> {
        match observed {
            Some(observed) if observed >= fetched => observed.step(),
            _ => Some(fetched),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000;

    #[test]
    fn seconds_order_first_and_fetches_sit_above_their_second() {
        assert!(Version::of_payload(T) < Version::of_payload(T + 1));
        let fetched = Version::of_fetch(T + CLOCK_SKEW_MARGIN, None);
        assert_eq!(fetched.second(), T);
        assert!(Version::of_payload(T) < fetched && fetched < Version::of_payload(T + 1));
        assert_eq!(Version::of_payload(-5), Version::of_payload(0));
    }

    #[test]
    fn a_fetch_is_stamped_before_it_started_but_not_below_its_event() {
        // Started at T: a change Stripe makes at T, after serving the fetch, must not be stale.
        let fetched = Version::of_fetch(T, None);
        assert_eq!(
            Version::judge(Some(fetched), Version::of_payload(T)),
            Verdict::Write(Version::of_payload(T))
        );
        // Prompted by an event of T + 5 (a delayed delivery stamped later than our clock says).
        let prompted = Version::of_fetch(T, Some(Version::of_payload(T + 5)));
        assert_eq!(prompted.second(), T + 5);
        assert!(prompted > Version::of_payload(T + 5));
    }

    #[test]
    fn the_rule_stamped_after_the_response_would_lose_that_change() {
        // What the old rule did: stamp a fetch with the time after the GET returned (T + 1).
        let stamped_after = Version(Version::of_payload(T + 1).0 | 1);
        assert_eq!(Version::judge(Some(stamped_after), Version::of_payload(T)), Verdict::Stale);
    }

    #[test]
    fn payloads_follow_the_table() {
        let p = Version::of_payload;
        assert_eq!(Version::judge(None, p(T)), Verdict::Write(p(T)));
        assert_eq!(Version::judge(Some(p(T - 1)), p(T)), Verdict::Write(p(T)));
        assert_eq!(Version::judge(Some(p(T)), p(T)), Verdict::Refetch);
        assert_eq!(Version::judge(Some(Version(p(T).0 | 7)), p(T)), Verdict::Refetch);
        assert_eq!(Version::judge(Some(p(T + 1)), p(T)), Verdict::Stale);
        assert_eq!(Version::judge(Some(Version(p(T).0 | LOW_MASK)), p(T)), Verdict::Refetch);
    }

    #[test]
    fn fetched_state_lands_above_what_it_read() {
        let p = Version::of_payload;
        let fetched = Version::of_fetch(T + CLOCK_SKEW_MARGIN, None);
        assert_eq!(Version::above_observed(None, fetched), Some(fetched));
        assert_eq!(Version::above_observed(Some(p(T - 1)), fetched), Some(fetched));
        assert_eq!(
            Version::above_observed(Some(Version(p(T).0 | 7)), fetched),
            Some(Version(p(T).0 | 8))
        );
        assert_eq!(Version::above_observed(Some(p(T + 9)), fetched), Some(Version(p(T + 9).0 | 1)));
        assert_eq!(Version::above_observed(Some(Version(p(T).0 | LOW_MASK)), fetched), None);
    }

    #[test]
    fn stored_as_a_plain_number() {
        assert_eq!(serde_json::to_string(&Version::of_payload(1)).unwrap(), (1u64 << 20).to_string());
    }
}
