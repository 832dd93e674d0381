//! Stripe ids the service checks before using them (in a URL path, a table key, a Stripe
//! call): one type per kind, each with the one [`parse`](SubscriptionId::parse) every check goes
//! through.
//!
//! A well-formed id is its kind's prefix (`sub_`, `cus_`, …) followed by at least one of
//! `[A-Za-z0-9_]`, at most [`MAX_ID_LEN`] bytes in all. Stripe's ids are about 30 characters;
//! the bound keeps a hostile one out of keys and logs. Well-formed says nothing of existence:
//! Stripe (or the table) decides that.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest id accepted, prefix included.
pub const MAX_ID_LEN: usize = 255;

/// Whether `id` is `prefix` followed by at least one of `[A-Za-z0-9_]`, at most [`MAX_ID_LEN`]
/// bytes in all.
fn well_formed(id: &str, prefix: &str) -> bool {
    id.len() > prefix.len()
        && id.len() <= MAX_ID_LEN
        && id.starts_with(prefix)
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

macro_rules! stripe_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The prefix of this kind of id.
            pub const PREFIX: &'static str = $prefix;

            /// The id, when `id` is well-formed (see the module docs).
            pub fn parse(id: &str) -> Option<Self> {
                well_formed(id, Self::PREFIX).then(|| Self(id.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// As the plain string.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        /// From the plain string, refused unless well-formed.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let id = String::deserialize(deserializer)?;
                Self::parse(&id).ok_or_else(|| {
                    serde::de::Error::custom(concat!("not a well-formed id (", $prefix, "…)"))
                })
            }
        }
    };
}

stripe_id!(
    /// `cus_…`
    CustomerId,
    "cus_"
);
stripe_id!(
    /// `sub_…`
    SubscriptionId,
    "sub_"
);
stripe_id!(
    /// `cs_…`: a Checkout Session.
    CheckoutSessionId,
    "cs_"
);
stripe_id!(
    /// `evt_…`
    EventId,
    "evt_"
);
stripe_id!(
    /// `in_…`: an invoice.
    InvoiceId,
    "in_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_prefix_then_word_characters() {
        assert_eq!(
            SubscriptionId::parse("sub_1QzXwYB7WZ01zgkW").map(|id| id.to_string()),
            Some("sub_1QzXwYB7WZ01zgkW".to_owned())
        );
        assert!(CheckoutSessionId::parse("cs_test_a1B2").is_some(), "underscores after the prefix");
        assert!(EventId::parse(&format!("evt_{}", "a".repeat(MAX_ID_LEN - 4))).is_some());
        for bad in ["", "sub_", "sub", "SUB_1", "cus_1", "sub_a/b", "sub_a b", "sub_é", " sub_1"] {
            assert!(SubscriptionId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(EventId::parse(&"evt_".repeat(100)).is_none(), "too long");
        assert!(
            EventId::parse(&format!("evt_{}", "a".repeat(MAX_ID_LEN - 3))).is_none(),
            "one byte too long"
        );
    }

    #[test]
    fn ids_are_plain_strings_in_json() {
        let id = CustomerId::parse("cus_1").unwrap();
        assert_eq!(serde_json::to_value(&id).unwrap(), "cus_1");
        assert_eq!(serde_json::from_value::<CustomerId>("cus_1".into()).unwrap(), id);
        assert!(serde_json::from_value::<CustomerId>("sub_1".into()).is_err());
        assert_eq!(InvoiceId::parse("in_1").unwrap().as_ref(), "in_1");
    }
}
