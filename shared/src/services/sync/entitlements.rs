//! The Stripe Entitlements summary of a customer.

use super::{Engine, Origin, Outcome, SyncError};
use crate::adapters::store::{Committed, Write};
use crate::domain::event::Envelope;
use crate::domain::objects::parse_entitlement_summary;
use crate::domain::records::EntitlementsRecord;
use crate::domain::version::{Verdict, Version};

impl Engine<'_> {
    /// `entitlements.active_entitlement_summary.updated`: the customer's feature lookup keys,
    /// paging past the (at most 10) embedded ones through the Active Entitlements API.
    pub(super) async fn entitlements_event(&self, origin: &Origin, event: &Envelope) -> Result<Outcome, SyncError> {
        let summary = parse_entitlement_summary(&event.object).ok_or_else(|| origin.shape("entitlement summary"))?;
        let Some(user) = self.store.customer_owner(&summary.customer).await? else {
            return self.unresolved(origin, &summary.customer).await;
        };
        let (mut features, mut fetched) = match summary.features {
            Some(embedded) => (embedded, None),
            None => {
                let started_at = self.clock.now();
                let listed = self.stripe.active_entitlements(&summary.customer).await?;
                (listed, Some(origin.fetch_version(started_at)))
            }
        };
        // The write is tried first (the common case lands); a refusal reads what is stored and
        // judges by the ordering rule.
        let mut version = fetched.unwrap_or(origin.version);
        for _ in 0..3 {
            let record = EntitlementsRecord::new(&user, &summary.customer, features.clone(), version, self.clock.now());
            let audit = (String::new(), record.features.join(","));
            match self
                .commit(origin, Some(&user), Outcome::Applied, audit, &[Write::Entitlements(record)])
                .await?
            {
                Committed::Yes => return Ok(Outcome::Applied),
                Committed::Duplicate => return Ok(Outcome::Duplicate),
                Committed::Refused => {}
            }
            let stored = self.store.entitlements(&user).await?;
            version = loop {
                match Version::judge(
                    stored.as_ref().map(|s| s.version),
                    fetched.unwrap_or(origin.version),
                    fetched.is_some(),
                ) {
                    Verdict::Write(next) => break next,
                    // Same second: the payload cannot be ordered; the current list is the truth.
                    Verdict::Refetch => {
                        let started_at = self.clock.now();
                        features = self.stripe.active_entitlements(&summary.customer).await?;
                        fetched = Some(origin.fetch_version(started_at));
                    }
                    Verdict::Stale => {
                        let before = stored.map(|s| s.features.join(",")).unwrap_or_default();
                        return self.mark(origin, Some(&user), Outcome::Stale, (before, features.join(","))).await;
                    }
                }
            };
        }
        self.mark(origin, Some(&user), Outcome::Stale, (String::new(), String::new())).await
    }
}
