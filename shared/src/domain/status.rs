//! The status of a stored subscription: Stripe's subscription statuses, and this service's own
//! for one-time purchases whose money went back.
//!
//! Written and read as Stripe's snake_case strings (records in the table, API answers), exactly:
//! `ACTIVE` is not `active`. A status Stripe may add later is kept as it came
//! ([`SubscriptionStatus::Other`]) and written back unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A subscription's status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    Trialing,
    Active,
    PastDue,
    Unpaid,
    Canceled,
    Incomplete,
    IncompleteExpired,
    Paused,
    /// A one-time purchase refunded, or charged back (this service's, not Stripe's).
    Refunded,
    /// A one-time purchase with an open dispute (this service's, not Stripe's).
    Disputed,
    /// A status these rules do not know, as it came.
    Other(UnknownStatus),
}

/// A status string no other variant names (only [`SubscriptionStatus::parse`] makes one, so a
/// known status is never `Other`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownStatus(String);

impl UnknownStatus {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SubscriptionStatus {
    const KNOWN: [SubscriptionStatus; 10] = [
        SubscriptionStatus::Trialing,
        SubscriptionStatus::Active,
        SubscriptionStatus::PastDue,
        SubscriptionStatus::Unpaid,
        SubscriptionStatus::Canceled,
        SubscriptionStatus::Incomplete,
        SubscriptionStatus::IncompleteExpired,
        SubscriptionStatus::Paused,
        SubscriptionStatus::Refunded,
        SubscriptionStatus::Disputed,
    ];

    /// The status `value` names; never fails ([`SubscriptionStatus::Other`]).
    pub fn parse(value: &str) -> Self {
        Self::known(value).unwrap_or_else(|| SubscriptionStatus::Other(UnknownStatus(value.to_owned())))
    }

    fn known(value: &str) -> Option<Self> {
        Self::KNOWN.into_iter().find(|status| status.as_str() == value)
    }

    pub fn as_str(&self) -> &str {
        match self {
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Unpaid => "unpaid",
            SubscriptionStatus::Canceled => "canceled",
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::IncompleteExpired => "incomplete_expired",
            SubscriptionStatus::Paused => "paused",
            SubscriptionStatus::Refunded => "refunded",
            SubscriptionStatus::Disputed => "disputed",
            SubscriptionStatus::Other(value) => value.as_str(),
        }
    }

    /// Still running: it can be changed, renews or is about to (`active`, `trialing`,
    /// `past_due`).
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Active | SubscriptionStatus::Trialing | SubscriptionStatus::PastDue
        )
    }
}

impl From<&str> for SubscriptionStatus {
    fn from(value: &str) -> Self {
        Self::parse(value)
    }
}

impl From<String> for SubscriptionStatus {
    fn from(value: String) -> Self {
        Self::known(&value).unwrap_or(SubscriptionStatus::Other(UnknownStatus(value)))
    }
}

impl From<SubscriptionStatus> for String {
    fn from(status: SubscriptionStatus) -> Self {
        match status {
            SubscriptionStatus::Other(value) => value.0,
            known => known.as_str().to_owned(),
        }
    }
}

impl PartialEq<str> for SubscriptionStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SubscriptionStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for SubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SubscriptionStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SubscriptionStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// Stripe's `pause_collection` of a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseCollection {
    /// `void`, `keep_as_draft` or `mark_uncollectible`.
    pub behavior: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumes_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_as_stripes_strings() {
        for status in SubscriptionStatus::KNOWN {
            let json = serde_json::to_value(&status).unwrap();
            assert_eq!(json, status.as_str());
            assert_eq!(serde_json::from_value::<SubscriptionStatus>(json).unwrap(), status);
            assert!(!matches!(SubscriptionStatus::parse(status.as_str()), SubscriptionStatus::Other(_)));
        }
        assert_eq!(SubscriptionStatus::parse("past_due"), SubscriptionStatus::PastDue);
        assert_eq!(SubscriptionStatus::PastDue.to_string(), "past_due");
    }

    #[test]
    fn unknown_statuses_are_kept_exactly() {
        let future: SubscriptionStatus = serde_json::from_value("on_hold".into()).unwrap();
        assert_eq!(future.as_str(), "on_hold");
        assert!(matches!(&future, SubscriptionStatus::Other(other) if other.as_str() == "on_hold"));
        assert_eq!(serde_json::to_value(&future).unwrap(), "on_hold");
        assert!(
            matches!(SubscriptionStatus::parse("ACTIVE"), SubscriptionStatus::Other(_)),
            "matched exactly"
        );
        assert_eq!(String::from(SubscriptionStatus::from("on_hold".to_owned())), "on_hold");
        assert_eq!(SubscriptionStatus::from("active".to_owned()), SubscriptionStatus::Active);
    }

    #[test]
    fn live_statuses() {
        let live: Vec<&str> = SubscriptionStatus::KNOWN
            .iter()
            .filter(|s| s.is_live())
            .map(SubscriptionStatus::as_str)
            .collect();
        assert_eq!(live, ["trialing", "active", "past_due"]);
        assert!(!SubscriptionStatus::parse("suspended").is_live());
    }
}
