//! Subscriptions: from event payloads, from invoice events (which fetch), and fetched on request.
//!
//! A payload is judged against the stored version (`Version::judge`). Whenever the object must
//! be fetched instead, [`Engine::refresh_subscription`] reads the stored record first, then
//! fetches, and writes only while the record it read is still stored: an older fetch can never
//! land above newer state.

use super::{Engine, Origin, Outcome, ROUNDS, SyncError};
use crate::adapters::store::{Committed, Write};
use crate::domain::event::Envelope;
use crate::domain::invoices::parse_invoice_subscription;
use crate::domain::objects::{SubscriptionSnapshot, describe};
use crate::domain::records::SubscriptionRecord;
use crate::domain::version::{Verdict, Version};

/// Who a subscription belongs to, as far as an arrival says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Claim {
    pub customer: String,
    /// `metadata.user_id` as set by the checkout function.
    pub user: Option<String>,
}

impl Engine<'_> {
    /// The ownership claim of a subscription: its customer, and its metadata's user when
    /// metadata is trusted.
    fn claim_of(&self, snapshot: &SubscriptionSnapshot) -> Claim {
        Claim {
            customer: snapshot.customer_id.clone(),
            user: self.metadata_user(snapshot.metadata_user_id.as_deref()).map(str::to_owned),
        }
    }
}

impl Engine<'_> {
    /// The user a subscription belongs to, and the stored record, in one BatchGetItem when the
    /// claim names the user (it does for subscriptions made by this service).
    pub(super) async fn resolve_subscription(
        &self,
        claim: &Claim,
        subscription_id: &str,
    ) -> Result<(Option<String>, Option<SubscriptionRecord>), SyncError> {
        let (owner, guess) = match &claim.user {
            Some(user) => {
                let (owner, record) = self.store.owner_and_subscription(&claim.customer, user, subscription_id).await?;
                (owner, Some((user.clone(), record)))
            }
            None => (self.store.customer_owner(&claim.customer).await?, None),
        };
        match (owner, guess) {
            // The stored mapping is the authority; metadata agrees (common path): one read.
            (Some(owner), Some((user, record))) if owner == user => Ok((Some(user), record)),
            (None, Some((user, record))) => Ok((Some(user), record)),
            (Some(owner), _) => {
                let record = self.store.subscription(&owner, subscription_id).await?;
                Ok((Some(owner), record))
            }
            (None, None) => Ok((None, None)),
        }
    }

    /// A subscription's state from an event payload.
    pub(super) async fn apply_subscription(&self, origin: &Origin, snapshot: SubscriptionSnapshot) -> Result<Outcome, SyncError> {
        let claim = self.claim_of(&snapshot);
        for _ in 0..ROUNDS {
            let (user, previous) = self.resolve_subscription(&claim, &snapshot.subscription_id).await?;
            let Some(user) = user else {
                return self.stranger(origin, &claim.customer, &snapshot.subscription_id);
            };
            match Version::judge(previous.as_ref().map(|p| p.version), origin.version) {
                Verdict::Write(version) => {
                    let record = snapshot.to_record(&user, self.catalog, version, origin.created, previous.as_ref(), self.clock.now());
                    let audit = (describe(previous.as_ref()), describe(Some(&record)));
                    // Written only while the record read is still stored: the domain events are
                    // the difference from it (a concurrent writer's state in between would make
                    // them describe a change that did not happen).
                    let write = Write::SubscriptionReplacing {
                        record,
                        observed: previous.as_ref().map(|p| p.version),
                    };
                    match self
                        .commit(origin, Some(&user), Outcome::Applied, audit, &[write], previous.as_ref())
                        .await?
                    {
                        Committed::Yes => return Ok(Outcome::Applied),
                        Committed::Duplicate => return Ok(Outcome::Duplicate),
                        // A concurrent writer stored another version after our read: judged again.
                        Committed::Refused => continue,
                    }
                }
                Verdict::Stale => {
                    let audit = (describe(previous.as_ref()), describe(previous.as_ref()));
                    return self.mark_stale(origin, &user, previous.as_ref(), audit).await;
                }
                // Same second as the stored state: the payloads cannot say which is newer.
                Verdict::Refetch => return self.refresh_subscription(origin, &user, previous, &snapshot.subscription_id).await,
            }
        }
        Err(SyncError::Contention { what: "subscription" })
    }

    /// Fetches subscription `id` of `user` and stores it. `observed` is the stored record, read
    /// before this call: the write lands only while it is still stored, and a refusal reads and
    /// fetches again (unless the record now stored makes the prompting event stale).
    ///
    /// `user` comes from a claim (an event's or an invoice's metadata, or the stored mapping);
    /// when the subscription as fetched names another user in its metadata, ownership is
    /// resolved again from the fetched object, once.
    pub(super) async fn refresh_subscription(
        &self,
        origin: &Origin,
        user: &str,
        mut observed: Option<SubscriptionRecord>,
        id: &str,
    ) -> Result<Outcome, SyncError> {
        let mut user = user.to_owned();
        let mut rechecked = false;
        let mut round = 0;
        while round < ROUNDS {
            round += 1;
            let started_at = self.clock.now();
            let Some(current) = self.stripe.retrieve_subscription(id).await? else {
                tracing::warn!(origin = %origin.id, subscription = %id, "subscription not found in stripe; nothing stored");
                let audit = (describe(observed.as_ref()), "not found in stripe".into());
                return self.mark(origin, Some(&user), Outcome::Ignored, audit).await;
            };
            if !rechecked && self.metadata_user(current.metadata_user_id.as_deref()).is_some_and(|m| m != user) {
                rechecked = true;
                let (owner, record) = self.resolve_subscription(&self.claim_of(&current), id).await?;
                match owner {
                    Some(owner) if owner != user => {
                        tracing::warn!(origin = %origin.id, subscription = %id, claimed = %user, %owner, "ownership resolved again from the fetched subscription");
                        (user, observed) = (owner, record);
                        round -= 1;
                        continue;
                    }
                    Some(_) => {}
                    None => return self.stranger(origin, &current.customer_id, id),
                }
            }
            let stored = observed.as_ref().map(|o| o.version);
            let fetched = origin.fetch_version(started_at);
            let Some(version) = Version::above_observed(stored, fetched) else {
                return Err(SyncError::Contention { what: "subscription" });
            };
            let now = self.clock.now();
            let record = current.to_record(&user, self.catalog, version, origin.created, observed.as_ref(), now);
            if !origin.is_event && observed.as_ref().is_some_and(|o| o.version >= fetched && same_state(o, &record)) {
                // A fetch that changes nothing (the eager sync polled again): no write.
                return Ok(Outcome::Applied);
            }
            let audit = (describe(observed.as_ref()), describe(Some(&record)));
            let write = Write::SubscriptionReplacing { record, observed: stored };
            match self
                .commit(origin, Some(&user), Outcome::Applied, audit, &[write], observed.as_ref())
                .await?
            {
                Committed::Yes => return Ok(Outcome::Applied),
                Committed::Duplicate => return Ok(Outcome::Duplicate),
                // Someone stored state after our read: what we fetched may be older.
                Committed::Refused => {
                    observed = self.store.subscription(&user, id).await?;
                    if origin.is_event && Version::judge(observed.as_ref().map(|o| o.version), origin.version) == Verdict::Stale {
                        // What is stored now is newer than the event that prompted this fetch.
                        let audit = (describe(observed.as_ref()), describe(observed.as_ref()));
                        return self.mark_stale(origin, &user, observed.as_ref(), audit).await;
                    }
                }
            }
        }
        Err(SyncError::Contention { what: "subscription" })
    }

    /// Stores subscription `id` as Stripe has it now, for an arrival that carries no readable
    /// subscription state: `claim` says whose it is, or, when the arrival does not say, a first
    /// fetch does.
    pub(super) async fn fetch_and_apply_subscription(&self, origin: &Origin, id: &str, claim: Option<Claim>) -> Result<Outcome, SyncError> {
        let claim = match claim {
            Some(claim) => claim,
            None => match self.stripe.retrieve_subscription(id).await? {
                Some(snapshot) => self.claim_of(&snapshot),
                None => return Ok(Outcome::Ignored),
            },
        };
        let (user, previous) = self.resolve_subscription(&claim, id).await?;
        match user {
            Some(user) => self.refresh_subscription(origin, &user, previous, id).await,
            None => self.stranger(origin, &claim.customer, id),
        }
    }

    /// `invoice.*`: the invoice carries no subscription state, so the subscription is fetched.
    /// The invoice names the customer and, for subscriptions made by this service, the user
    /// (`parent.subscription_details.metadata`).
    pub(super) async fn invoice_event(&self, origin: &Origin, event: &Envelope) -> Result<Outcome, SyncError> {
        let invoice = parse_invoice_subscription(&event.object);
        let Some(subscription) = invoice.subscription else {
            return Ok(Outcome::Ignored);
        };
        let user = self
            .metadata_user(invoice.metadata_user_id.as_deref())
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        // Without the user the invoice is no proof of ownership: the subscription is read first.
        let claim = invoice.customer.zip(user).map(|(customer, user)| Claim {
            customer,
            user: Some(user),
        });
        self.fetch_and_apply_subscription(origin, &subscription, claim).await
    }
}

/// Whether two records of one subscription say the same (their versions and write times aside).
fn same_state(a: &SubscriptionRecord, b: &SubscriptionRecord) -> bool {
    let strip = |r: &SubscriptionRecord| SubscriptionRecord {
        version: Version::of_payload(0),
        updated_at: 0,
        ..r.clone()
    };
    strip(a) == strip(b)
}
