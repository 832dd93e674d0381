//! Who pays: a user (the token's `sub`) or an organization (the token's organization claim).
//!
//! Everything the service stores per payer (customer link, subscriptions, purchases, usage
//! counters, audit rows, outbox events) is keyed by one **billable id**: a user's is their `sub`
//! unchanged, an organization's is [`ORG_PREFIX`] followed by its id. Its partition is
//! `USER#<sub>` or `ORG#<org id>` ([`partition`]), so the two never share a key. A token whose
//! `sub` itself begins with [`ORG_PREFIX`] is refused by the identity layer (and such a
//! `metadata.user_id` is ignored), so no user can name an organization's partition.
//!
//! In Stripe, a user's objects carry `metadata.user_id`; an organization's carry
//! `metadata.org_id` ([`metadata_pair`], [`from_metadata`]).

use std::collections::BTreeMap;

/// The billable id prefix of an organization.
pub const ORG_PREFIX: &str = "org:";
/// The partition key prefix of an organization's items.
pub const ORG_PARTITION_PREFIX: &str = "ORG#";
/// The partition key prefix of a user's items.
pub const USER_PARTITION_PREFIX: &str = "USER#";
/// Stripe metadata keys naming the owner.
pub const METADATA_USER_ID: &str = "user_id";
pub const METADATA_ORG_ID: &str = "org_id";
/// Longest organization id accepted (it becomes part of DynamoDB keys).
pub const MAX_ORG_ID_LEN: usize = 200;

/// A billable id, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billable<'a> {
    User(&'a str),
    Org(&'a str),
}

impl<'a> Billable<'a> {
    pub fn of(id: &'a str) -> Self {
        match id.strip_prefix(ORG_PREFIX) {
            Some(org) => Billable::Org(org),
            None => Billable::User(id),
        }
    }

    pub fn org_id(self) -> Option<&'a str> {
        match self {
            Billable::Org(org) => Some(org),
            Billable::User(_) => None,
        }
    }
}

/// The billable id of organization `org_id`.
pub fn org(org_id: &str) -> String {
    format!("{ORG_PREFIX}{org_id}")
}

/// Whether `org_id` may be an organization id: 1 to [`MAX_ORG_ID_LEN`] characters, none a
/// control character or `#`.
pub fn is_valid_org_id(org_id: &str) -> bool {
    !org_id.is_empty() && org_id.len() <= MAX_ORG_ID_LEN && !org_id.chars().any(|c| c.is_control() || c == '#')
}

/// Whether `sub` may be a user's billable id (it must not read as an organization's).
pub fn is_valid_user_id(sub: &str) -> bool {
    !sub.is_empty() && !sub.starts_with(ORG_PREFIX)
}

/// The partition key of a billable's items.
pub fn partition(id: &str) -> String {
    match Billable::of(id) {
        Billable::Org(org) => format!("{ORG_PARTITION_PREFIX}{org}"),
        Billable::User(sub) => format!("{USER_PARTITION_PREFIX}{sub}"),
    }
}

/// The billable id a partition key belongs to (the inverse of [`partition`]).
pub fn from_partition(pk: &str) -> Option<String> {
    if let Some(org) = pk.strip_prefix(ORG_PARTITION_PREFIX) {
        return Some(self::org(org));
    }
    pk.strip_prefix(USER_PARTITION_PREFIX).map(str::to_owned)
}

/// The metadata entry that names the owner on Stripe objects.
pub fn metadata_pair(id: &str) -> (String, String) {
    match Billable::of(id) {
        Billable::Org(org) => (METADATA_ORG_ID.to_owned(), org.to_owned()),
        Billable::User(sub) => (METADATA_USER_ID.to_owned(), sub.to_owned()),
    }
}

/// The owner named by a Stripe object's metadata: `org_id` when present (an organization's
/// object), else `user_id` (never one that reads as an organization's).
pub fn from_metadata(metadata: &BTreeMap<String, String>) -> Option<String> {
    if let Some(org_id) = metadata.get(METADATA_ORG_ID).filter(|o| !o.is_empty()) {
        return is_valid_org_id(org_id).then(|| org(org_id));
    }
    metadata.get(METADATA_USER_ID).filter(|u| is_valid_user_id(u)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_organizations_never_share_a_partition() {
        assert_eq!(partition("user_1"), "USER#user_1");
        assert_eq!(partition(&org("acme")), "ORG#acme");
        assert_eq!(from_partition("ORG#acme").as_deref(), Some("org:acme"));
        assert_eq!(from_partition("USER#user_1").as_deref(), Some("user_1"));
        assert!(!is_valid_user_id("org:acme"), "a sub that reads as an organization is refused");
        assert!(!is_valid_org_id("a#b") && !is_valid_org_id("") && is_valid_org_id("org_2abc"));
    }

    #[test]
    fn metadata_names_the_owner_both_ways() {
        let md = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(from_metadata(&md(&[("user_id", "u1")])).as_deref(), Some("u1"));
        assert_eq!(
            from_metadata(&md(&[("org_id", "acme"), ("user_id", "u1")])).as_deref(),
            Some("org:acme")
        );
        assert_eq!(
            from_metadata(&md(&[("user_id", "org:acme")])),
            None,
            "a user id cannot name an organization"
        );
        assert_eq!(from_metadata(&md(&[("org_id", "a#b")])), None);
        assert_eq!(metadata_pair("org:acme"), ("org_id".to_owned(), "acme".to_owned()));
        assert_eq!(metadata_pair("u1"), ("user_id".to_owned(), "u1".to_owned()));
    }
}
