//! The billing-rules section: how subscription changes are billed, the access policy's grace,
//! and which connected accounts the sync engine applies.

use std::time::Duration;

use super::{ConfigError, Env, vars};
use crate::domain::access::AccessPolicy;

/// What a deployment decides about subscription changes (the subscription function).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionConfig {
    /// How a change made now is billed when the request does not say (`CHANGE_PRORATION`).
    pub proration: crate::domain::invoices::Proration,
    /// Whether cancelling now credits the unused time, invoiced at once (`CANCEL_PRORATE`).
    pub cancel_prorate: bool,
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

/// `PAST_DUE_GRACE_DAYS` (0 to 60) as the access policy; unset: the domain's default.
pub(super) fn read_access(env: &Env<'_>) -> Result<AccessPolicy, ConfigError> {
    match env.get(vars::PAST_DUE_GRACE_DAYS) {
        None => Ok(AccessPolicy::default()),
        Some(v) => match v.parse::<u64>() {
            Ok(days) if days <= 60 => Ok(AccessPolicy {
                past_due_grace: Duration::from_secs(days * 86_400),
            }),
            _ => Err(ConfigError::invalid(
                vars::PAST_DUE_GRACE_DAYS,
                "expected whole days between 0 and 60",
            )),
        },
    }
}
