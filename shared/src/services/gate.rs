//! Feature gating for any Rust Lambda: "may this user use this feature?" answered from the
//! table the webhook function keeps, with ONE DynamoDB Query and no Stripe call.
//!
//! ```no_run
//! # async fn example(state: &billing::AppState, user_id: &str) -> Result<(), billing::services::gate::GateError> {
//! let grant = state.gate().require_feature(user_id, "api_access").await?; // Err(Denied) → 403
//! if let Some(limit) = grant.limit { /* enforce the quota */ }
//! # Ok(()) }
//! ```
//!
//! A denial maps to a 403 problem+json (`billing::edge::problem`).

use crate::adapters::store::{Store, StoreError};
use crate::domain::access::{self, Access, AccessPolicy, FeatureDecision};
use crate::domain::clock::Clock;
use crate::domain::plans::{Catalog, is_valid_key};

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The feature key is not of the form `[a-z0-9_.:-]{1,100}`.
    #[error("invalid feature key")]
    InvalidFeature,
    /// The user may not use the feature; `decision.reason` says why.
    #[error("feature denied: {}", .0.reason.as_str())]
    Denied(FeatureDecision),
    /// The store could not answer: never treated as "allowed".
    #[error("entitlements unavailable")]
    Unavailable(#[source] StoreError),
}

/// Borrowed pieces of the process state; cheap to build per request.
pub struct Gate<'a> {
    store: &'a Store,
    catalog: &'a Catalog,
    policy: AccessPolicy,
    clock: &'a dyn Clock,
}

impl<'a> Gate<'a> {
    pub fn new(store: &'a Store, catalog: &'a Catalog, policy: AccessPolicy, clock: &'a dyn Clock) -> Self {
        Self {
            store,
            catalog,
            policy,
            clock,
        }
    }

    /// Everything the user may use now, for themselves (one Query).
    pub async fn access(&self, user_id: &str) -> Result<Access, StoreError> {
        let items = self.store.user_items(user_id).await?;
        Ok(access::decide(self.catalog, &items, self.clock.now(), &self.policy))
    }

    /// Everything the user may use now acting for organization `org_id` (their personal access
    /// joined by the organization's plan, [`crate::domain::seats::decide_member`]), or for
    /// themselves without one. One DynamoDB request either way.
    pub async fn access_in(&self, user_id: &str, org_id: Option<&str>) -> Result<Access, StoreError> {
        let Some(org_id) = org_id else {
            return self.access(user_id).await;
        };
        let (personal, org) = self.store.member_items(user_id, org_id).await?;
        Ok(crate::domain::seats::decide_member(
            self.catalog,
            &personal,
            &org,
            org_id,
            self.clock.now(),
            &self.policy,
        ))
    }

    /// The decision for one feature (one Query), allowed or not.
    pub async fn check(&self, user_id: &str, feature: &str) -> Result<FeatureDecision, GateError> {
        self.check_in(user_id, None, feature).await
    }

    /// [`Gate::check`] acting for organization `org_id` (when given).
    pub async fn check_in(&self, user_id: &str, org_id: Option<&str>, feature: &str) -> Result<FeatureDecision, GateError> {
        if !is_valid_key(feature) {
            return Err(GateError::InvalidFeature);
        }
        self.access_in(user_id, org_id)
            .await
            .map(|a| a.check(feature))
            .map_err(GateError::Unavailable)
    }

    /// `Ok` with the decision when allowed; [`GateError::Denied`] otherwise.
    pub async fn require_feature(&self, user_id: &str, feature: &str) -> Result<FeatureDecision, GateError> {
        self.require_feature_in(user_id, None, feature).await
    }

    /// [`Gate::require_feature`] acting for organization `org_id` (when given).
    pub async fn require_feature_in(&self, user_id: &str, org_id: Option<&str>, feature: &str) -> Result<FeatureDecision, GateError> {
        let decision = self.check_in(user_id, org_id, feature).await?;
        if decision.allowed {
            Ok(decision)
        } else {
            Err(GateError::Denied(decision))
        }
    }
}
