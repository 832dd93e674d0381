//! The Stripe Entitlements summary of a customer.

use super::{Engine, Origin, Outcome, ROUNDS, SyncError};
use crate::adapters::store::{Committed, Write};
use crate::domain::event::Envelope;
use crate::domain::objects::parse_entitlement_summary;
use crate::domain::records::EntitlementsRecord;
use crate::domain::version::{Verdict, Version};

impl Engine<'_> {
    /// `entitlements.active_entitlement_summary.updated`: the customer's feature lookup keys.
    /// A summary embeds at most 10; past that (`has_more`) the list is fetched through the
    /// Active Entitlements API.
    pub(super) async fn entitlements_event(&self, origin: &Origin, event: &Envelope) -> Result<Outcome, SyncError> {
        let summary = parse_entitlement_summary(&event.object).ok_or_else(|| origin.shape("entitlement summary"))?;
        let customer = summary.customer;
        let Some(user) = self.store.customer_owner(&customer).await? else {
            // A summary carries no metadata: the customer's tells whether it is ours.
            let ours = self
                .stripe
                .retrieve_customer(&customer)
                .await?
                .is_some_and(|c| c.metadata_user_id().is_some());
            return if ours {
                self.unresolved(origin, &customer).await
            } else {
                self.stranger(origin, &customer, "entitlement summary")
            };
        };
        let Some(features) = summary.features else {
            let observed = self.store.entitlements(&user).await?;
            return self.refresh_entitlements(origin, &user, &customer, observed).await;
        };
        for _ in 0..ROUNDS {
            // The write is tried first (the common case lands); a refusal reads what is stored
            // and judges by the payload rule.
            let record = EntitlementsRecord::new(&user, &customer, features.clone(), origin.version, self.clock.now());
            let audit = (String::new(), record.features.join(","));
            match self
                .commit(origin, Some(&user), Outcome::Applied, audit, &[Write::Entitlements(record)], None)
                .await?
            {
                Committed::Yes => return Ok(Outcome::Applied),
                Committed::Duplicate => return Ok(Outcome::Duplicate),
                Committed::Refused => {}
            }
            let stored = self.store.entitlements(&user).await?;
            match Version::judge(stored.as_ref().map(|s| s.version), origin.version) {
                Verdict::Write(_) => continue,
                // Same second: the payload cannot be ordered; the current list is the truth.
                Verdict::Refetch => return self.refresh_entitlements(origin, &user, &customer, stored).await,
                Verdict::Stale => {
                    let before = stored.map(|s| s.features.join(",")).unwrap_or_default();
                    return self.mark(origin, Some(&user), Outcome::Stale, (before, features.join(","))).await;
                }
            }
        }
        Err(SyncError::Contention { what: "entitlements" })
    }

    /// Lists the customer's active entitlements and stores them, written only while `observed`
    /// (read before this call) is still stored; a refusal reads and lists again.
    pub(super) async fn refresh_entitlements(
        &self,
        origin: &Origin,
        user: &str,
        customer: &str,
        mut observed: Option<EntitlementsRecord>,
    ) -> Result<Outcome, SyncError> {
        for _ in 0..ROUNDS {
            let started_at = self.clock.now();
            let features = self.stripe.active_entitlements(customer).await?;
            let stored = observed.as_ref().map(|o| o.version);
            let Some(version) = Version::above_observed(stored, origin.fetch_version(started_at)) else {
                return Err(SyncError::Contention { what: "entitlements" });
            };
            let record = EntitlementsRecord::new(user, customer, features, version, self.clock.now());
            let before = observed.as_ref().map(|o| o.features.join(",")).unwrap_or_default();
            let audit = (before, record.features.join(","));
            let write = Write::EntitlementsReplacing { record, observed: stored };
            match self.commit(origin, Some(user), Outcome::Applied, audit, &[write], None).await? {
                Committed::Yes => return Ok(Outcome::Applied),
                Committed::Duplicate => return Ok(Outcome::Duplicate),
                Committed::Refused => {
                    observed = self.store.entitlements(user).await?;
                    if Version::judge(observed.as_ref().map(|o| o.version), origin.version) == Verdict::Stale {
                        // What is stored now is newer than the event that prompted this listing.
                        return self.mark(origin, Some(user), Outcome::Stale, (String::new(), String::new())).await;
                    }
                }
            }
        }
        Err(SyncError::Contention { what: "entitlements" })
    }
}
