//! Support grants: a time-boxed feature given to one user by support staff (the `admin`
//! function), merged into every access decision ([`crate::domain::access::decide`]).
//!
//! - A grant is an item of the user's own partition (`USER#<sub>` / `GRANT#<feature>`), so the
//!   one Query (or the member's one PartiQL request) of an access decision reads it too.
//! - It grants while `now < until` and never after, whatever DynamoDB's TTL has deleted yet
//!   (the item's `expires_at` is only the cleanup).
//! - The most generous source wins: a granted feature is allowed with the most generous limit
//!   any catalog plan gives it (no limit when a plan gives it without one), unless the user's
//!   own access is more generous already. A grant never meters: comped usage is never billed by
//!   the grant (a user's own metered plan still bills its units as before).
//! - A grant is the user's own: an organization member's grant adds to their decision, never to
//!   the organization's.

use std::collections::BTreeSet;

use crate::domain::plans::Catalog;
use crate::domain::usage::combine;

pub use crate::domain::grant_records::{GRANT_PREFIX, GrantRecord, KEEP_ENDED_SECS, grant_key};

/// The longest a grant may run: one year.
pub const MAX_GRANT_SECS: i64 = 366 * 86_400;
/// The longest `reason` kept.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a grant request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    #[error("`feature` is not a feature of any plan in the catalog")]
    UnknownFeature,
    #[error("`until` must be in the future")]
    UntilPast,
    #[error("`until` may be at most one year ahead")]
    UntilTooFar,
    #[error("`reason` must say why (1 to 500 characters)")]
    Reason,
}

impl GrantRefusal {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            GrantRefusal::UnknownFeature => "feature",
            GrantRefusal::UntilPast | GrantRefusal::UntilTooFar => "until",
            GrantRefusal::Reason => "reason",
        }
    }
}

/// Checks a grant request against the catalog and the clock.
pub fn validate(catalog: &Catalog, feature: &str, until: i64, reason: &str, now: i64) -> Result<(), GrantRefusal> {
    if !known_features(catalog).contains(feature) {
        return Err(GrantRefusal::UnknownFeature);
    }
    if until <= now {
        return Err(GrantRefusal::UntilPast);
    }
    if until > now.saturating_add(MAX_GRANT_SECS) {
        return Err(GrantRefusal::UntilTooFar);
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(GrantRefusal::Reason);
    }
    Ok(())
}

/// Every feature some plan of the catalog has (as a feature or a usage counter).
pub fn known_features(catalog: &Catalog) -> BTreeSet<String> {
    catalog
        .plans()
        .iter()
        .flat_map(|p| p.features.iter().chain(p.usage.keys()).cloned())
        .collect()
}

/// The most generous value of a limit across the plans that have `feature`: `None` when one of
/// them has the feature without that limit (no limit), else the highest.
fn most_generous(catalog: &Catalog, limit_of: impl Fn(&crate::domain::plans::Plan) -> Option<Option<u64>>) -> Option<u64> {
    let mut best: Option<u64> = Some(0);
    for value in catalog.plans().iter().filter_map(limit_of) {
        best = match (best, value) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    best
}

/// What the merge of grants changed, for [`crate::domain::access::Access`]: the features that
/// only a grant allows.
pub fn merge(
    catalog: &Catalog,
    grants: &[GrantRecord],
    now: i64,
    features: &mut BTreeSet<String>,
    limits: &mut std::collections::BTreeMap<String, u64>,
    usage: &mut crate::domain::usage::Allowances,
) -> BTreeSet<String> {
    let mut granted = BTreeSet::new();
    for grant in grants.iter().filter(|g| g.active(now)) {
        let feature = grant.feature.as_str();
        let plan_has = |p: &crate::domain::plans::Plan| p.features.contains(feature);
        if catalog.plans().iter().any(plan_has) {
            let best = most_generous(catalog, |p| plan_has(p).then(|| p.limits.get(feature).copied()));
            let own = features.contains(feature);
            match (own, best, limits.get(feature).copied()) {
                // Already allowed without a limit: nothing is more generous.
                (true, _, None) => {}
                (_, None, _) => {
                    limits.remove(feature);
                }
                (_, Some(best), current) => {
                    let value = current.filter(|_| own).map_or(best, |c| c.max(best));
                    limits.insert(feature.to_owned(), value);
                }
            }
            if features.insert(feature.to_owned()) {
                granted.insert(feature.to_owned());
            }
        }
        // A usage counter: the most generous quota, never metered by the grant. A metered rule
        // without a limit counts as its ceiling (a grant gives no unbilled unlimited usage).
        let rules: Vec<Option<u64>> = catalog
            .plans()
            .iter()
            .filter_map(|p| p.usage.get(feature))
            .map(|r| {
                if r.meter.is_some() {
                    r.limit.or(r.ceiling).or(Some(0))
                } else {
                    r.limit
                }
            })
            .collect();
        if !rules.is_empty() {
            let quota = rules.iter().try_fold(0u64, |acc, r| r.map(|v| acc.max(v)));
            let mut slot = usage.remove(feature);
            if slot.is_none() {
                granted.insert(feature.to_owned());
            }
            // The user's own plan meters it: a grant must not raise what they are billed.
            if let Some(allowance) = slot.take_if(|a| a.metered()) {
                usage.insert(feature.to_owned(), allowance);
                continue;
            }
            combine(&mut slot, quota, None);
            if let Some(allowance) = slot {
                usage.insert(feature.to_owned(), allowance);
            }
        }
    }
    granted
}
