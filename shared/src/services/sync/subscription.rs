//! Subscriptions: from event payloads, invoice events (which fetch), and fetches.

use super::{Engine, Origin, Outcome, SyncError};
use crate::adapters::store::{Committed, Write};
use crate::domain::event::Envelope;
use crate::domain::objects::{SubscriptionSnapshot, describe, id_of};
use crate::domain::records::SubscriptionRecord;
use crate::domain::version::{Verdict, Version};

/// Commits refused by a concurrent writer before the engine gives up (marking the event stale).
const REFUSED_ROUNDS: usize = 3;

impl Engine<'_> {
    /// The user a subscription belongs to, and the stored record, in one BatchGetItem when the
    /// subscription's metadata names the user (it does for subscriptions made by this service).
    async fn resolve_subscription(
        &self,
        snapshot: &SubscriptionSnapshot,
    ) -> Result<(Option<String>, Option<SubscriptionRecord>), SyncError> {
        let (owner, guess) = match &snapshot.metadata_user_id {
            Some(user) => {
                let (owner, record) = self
                    .store
                    .owner_and_subscription(&snapshot.customer_id, user, &snapshot.subscription_id)
                    .await?;
                (owner, Some((user.clone(), record)))
            }
            None => (self.store.customer_owner(&snapshot.customer_id).await?, None),
        };
        match (owner, guess) {
            // The stored mapping is the authority; metadata agrees (common path): one read.
            (Some(owner), Some((user, record))) if owner == user => Ok((Some(user), record)),
            (None, Some((user, record))) => Ok((Some(user), record)),
            (Some(owner), _) => {
                let record = self.store.subscription(&owner, &snapshot.subscription_id).await?;
                Ok((Some(owner), record))
            }
            (None, None) => Ok((None, None)),
        }
    }

    /// Fetches subscription `id` on behalf of `origin` and applies it; `Ignored` when Stripe has
    /// no such subscription.
    pub(super) async fn fetch_and_apply_subscription(&self, origin: &Origin, id: &str) -> Result<Outcome, SyncError> {
        let started_at = self.clock.now();
        match self.stripe.retrieve_subscription(id).await? {
            Some(snapshot) => {
                self.apply_subscription(origin, snapshot, Some(origin.fetch_version(started_at)))
                    .await
            }
            None => Ok(Outcome::Ignored),
        }
    }

    /// Writes a subscription's state unless newer state is stored. `fetched`: the snapshot is the
    /// current object from Stripe, of this version, rather than the payload of `origin`.
    pub(super) async fn apply_subscription(
        &self,
        origin: &Origin,
        mut snapshot: SubscriptionSnapshot,
        mut fetched: Option<Version>,
    ) -> Result<Outcome, SyncError> {
        for _ in 0..REFUSED_ROUNDS {
            let (user, previous) = self.resolve_subscription(&snapshot).await?;
            let Some(user) = user else {
                return self.unresolved(origin, &snapshot.customer_id).await;
            };
            let stored = previous.as_ref().map(|p| p.version);
            let version = loop {
                match Version::judge(stored, fetched.unwrap_or(origin.version), fetched.is_some()) {
                    Verdict::Write(version) => break version,
                    Verdict::Stale => {
                        let audit = (describe(previous.as_ref()), describe(previous.as_ref()));
                        return self.mark(origin, Some(&user), Outcome::Stale, audit).await;
                    }
                    // Same second as the stored state: the payloads cannot say which is newer.
                    Verdict::Refetch => {
                        let started_at = self.clock.now();
                        match self.stripe.retrieve_subscription(&snapshot.subscription_id).await? {
                            Some(current) => {
                                snapshot = current;
                                fetched = Some(origin.fetch_version(started_at));
                            }
                            None => {
                                let audit = (describe(previous.as_ref()), "not found in stripe".into());
                                return self.mark(origin, Some(&user), Outcome::Stale, audit).await;
                            }
                        }
                    }
                }
            };
            let now = self.clock.now();
            let record = snapshot.to_record(&user, self.catalog, version, origin.created, previous.as_ref(), now);
            let audit = (describe(previous.as_ref()), describe(Some(&record)));
            match self
                .commit(origin, Some(&user), Outcome::Applied, audit, &[Write::Subscription(record)])
                .await?
            {
                Committed::Yes => return Ok(Outcome::Applied),
                Committed::Duplicate => return Ok(Outcome::Duplicate),
                // A concurrent writer stored a version at or above ours after our read: judge again.
                Committed::Refused => continue,
            }
        }
        self.mark(origin, None, Outcome::Stale, (String::new(), String::new())).await
    }

    /// `invoice.*`: the invoice carries no subscription state, so the subscription is fetched.
    pub(super) async fn invoice_event(&self, origin: &Origin, event: &Envelope) -> Result<Outcome, SyncError> {
        let object = &event.object;
        let subscription = id_of(object.pointer("/parent/subscription_details/subscription")).or_else(|| id_of(object.get("subscription")));
        match subscription {
            Some(subscription) => self.fetch_and_apply_subscription(origin, &subscription).await,
            None => Ok(Outcome::Ignored),
        }
    }
}
