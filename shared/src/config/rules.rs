//! The billing-rules section: how subscription changes are billed, the access policy's grace,
//! and which connected accounts the sync engine applies.

use std::time::Duration;

use super::{ConfigError, Env, vars};
use crate::domain::access::{AccessPolicy, PausedAccess};

/// What a deployment decides about subscription changes (the subscription function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionConfig {
    /// How a change made now is billed when the request does not say (`CHANGE_PRORATION`).
    pub proration: crate::domain::invoices::Proration,
    /// Whether cancelling now credits the unused time, invoiced at once (`CANCEL_PRORATE`).
    pub cancel_prorate: bool,
    /// What Stripe does with invoices while a subscription is paused (`PAUSE_BEHAVIOR`):
    /// `void` (the default) or `mark_uncollectible`.
    pub pause_behavior: &'static str,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        Self {
            proration: Default::default(),
            cancel_prorate: false,
            pause_behavior: "void",
        }
    }
}

/// What a deployment decides about the sync engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Connected accounts (Stripe Connect) whose events are applied, fetching on their behalf.
    /// Events of any other account are acknowledged and ignored. A connected account owns its
    /// objects' metadata, so for its events only an existing link names a user.
    pub connect_accounts: Vec<String>,
}

impl SubscriptionConfig {
    /// `CHANGE_PRORATION`, `CANCEL_PRORATE`.
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(SubscriptionConfig {
            proration: match env.get(vars::CHANGE_PRORATION).as_deref() {
                None => Default::default(),
                Some(v) => crate::domain::invoices::Proration::parse(v)
                    .ok_or_else(|| ConfigError::invalid(vars::CHANGE_PRORATION, "expected create_prorations, always_invoice or none"))?,
            },
            cancel_prorate: env.flag(vars::CANCEL_PRORATE)?,
            pause_behavior: match env.get(vars::PAUSE_BEHAVIOR).as_deref() {
                None | Some("void") => "void",
                Some("mark_uncollectible") => "mark_uncollectible",
                // The drafts would wait to be collected later, and this service's resume
                // starts a new period charged at once: the customer would pay twice.
                Some("keep_as_draft") => {
                    return Err(ConfigError::invalid(
                        vars::PAUSE_BEHAVIOR,
                        "keep_as_draft is not supported (a resume here charges a new period, so drafts collected later would charge twice); use void or mark_uncollectible",
                    ));
                }
                Some(_) => return Err(ConfigError::invalid(vars::PAUSE_BEHAVIOR, "expected void or mark_uncollectible")),
            },
        })
    }
}

impl SyncOptions {
    /// `CONNECT_ACCOUNTS`: comma-separated `acct_…` ids.
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let connect_accounts = env
            .get(vars::CONNECT_ACCOUNTS)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(|a| {
                        if a.starts_with("acct_") && a.len() > 5 && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                            Ok(a.to_owned())
                        } else {
                            Err(ConfigError::invalid(vars::CONNECT_ACCOUNTS, "expected comma-separated acct_… ids"))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(SyncOptions { connect_accounts })
    }
}

/// `PAST_DUE_GRACE_DAYS` (0 to 60) and `PAUSED_ACCESS` as the access policy; unset: the
/// domain's defaults. A plan named by `PAUSED_ACCESS` is checked against the catalog when the
/// process starts ([`check_paused_access`]).
pub(super) fn read_access(env: &Env<'_>) -> Result<AccessPolicy, ConfigError> {
    let mut policy = AccessPolicy::default();
    if let Some(v) = env.get(vars::PAST_DUE_GRACE_DAYS) {
        policy.past_due_grace = match v.parse::<u64>() {
            Ok(days) if days <= 60 => Duration::from_secs(days * 86_400),
            _ => {
                return Err(ConfigError::invalid(
                    vars::PAST_DUE_GRACE_DAYS,
                    "expected whole days between 0 and 60",
                ));
            }
        };
    }
    policy.paused_access = match env.get(vars::PAUSED_ACCESS).as_deref().map(str::trim) {
        None | Some("") | Some("free") => PausedAccess::FreePlan,
        Some("none") => PausedAccess::Nothing,
        // Read once per process: the one string lives as long as it.
        Some(plan) => PausedAccess::Plan(Box::leak(plan.to_owned().into_boxed_str())),
    };
    Ok(policy)
}

/// A plan named by `PAUSED_ACCESS` must be in the catalog and have no prices: a paused
/// subscription must not keep a paid plan's access for free.
pub fn check_paused_access(policy: &AccessPolicy, catalog: &crate::domain::plans::Catalog) -> Result<(), ConfigError> {
    if let PausedAccess::Plan(id) = policy.paused_access {
        match catalog.get(id) {
            None => {
                return Err(ConfigError::invalid(
                    vars::PAUSED_ACCESS,
                    format!("no plan `{id}` in the catalog (expected free, none or a plan id)"),
                ));
            }
            Some(plan) if !plan.prices.is_empty() => {
                return Err(ConfigError::invalid(
                    vars::PAUSED_ACCESS,
                    format!("plan `{id}` has prices; name a plan without prices"),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}
