//! Feature gating for any Rust Lambda: "may this user use this feature?" answered from the
//! table the webhook function keeps, with ONE DynamoDB Query and no Stripe call.
//!
//! ```no_run
//! # async fn example(state: &billing::AppState, user_id: &str) -> Result<(), billing::gate::GateError> {
//! let gate = billing::gate::Gate::new(&state.store, &state.catalog, state.config.past_due_grace);
//! let grant = gate.require_feature(user_id, "api_access").await?; // Err(Denied) → 403
//! if let Some(limit) = grant.limit { /* enforce the quota */ }
//! # Ok(()) }
//! ```

use std::time::Duration;

use lambda_http::http::StatusCode;

use crate::access::{self, Access, AccessPolicy, FeatureDecision};
use crate::plans::{Catalog, is_valid_key};
use crate::problem::Problem;
use crate::store::{Store, StoreError};

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

impl GateError {
    /// 400 / 403 / 503 problem+json.
    pub fn problem(&self) -> Problem {
        match self {
            GateError::InvalidFeature => {
                Problem::bad_request("/errors/invalid-feature", "feature keys match [a-z0-9_.:-]{1,100}").with_field("feature")
            }
            GateError::Denied(decision) => Problem::new(
                StatusCode::FORBIDDEN,
                "/errors/feature-denied",
                "Feature not available",
                "your plan does not include this feature",
            )
            .with_extension("reason", decision.reason.as_str()),
            GateError::Unavailable(_) => Problem::unavailable(2),
        }
    }
}

/// Borrowed pieces of the process state; cheap to build per request.
pub struct Gate<'a> {
    store: &'a Store,
    catalog: &'a Catalog,
    policy: AccessPolicy,
}

impl<'a> Gate<'a> {
    pub fn new(store: &'a Store, catalog: &'a Catalog, past_due_grace: Duration) -> Self {
        Self {
            store,
            catalog,
            policy: AccessPolicy { past_due_grace },
        }
    }

    /// Everything the user may use now (one Query).
    pub async fn access(&self, user_id: &str) -> Result<Access, StoreError> {
        let items = self.store.user_items(user_id).await?;
        Ok(access::decide(self.catalog, &items, crate::now_epoch(), &self.policy))
    }

    /// The decision for one feature (one Query), allowed or not.
    pub async fn check(&self, user_id: &str, feature: &str) -> Result<FeatureDecision, GateError> {
        if !is_valid_key(feature) {
            return Err(GateError::InvalidFeature);
        }
        self.access(user_id).await.map(|a| a.check(feature)).map_err(GateError::Unavailable)
    }

    /// `Ok` with the decision when allowed; [`GateError::Denied`] otherwise.
    pub async fn require_feature(&self, user_id: &str, feature: &str) -> Result<FeatureDecision, GateError> {
        let decision = self.check(user_id, feature).await?;
        if decision.allowed {
            Ok(decision)
        } else {
            Err(GateError::Denied(decision))
        }
    }
}
