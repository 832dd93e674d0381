//! Completed Checkout Sessions: the user ↔ customer link, and what was bought.

use super::{Engine, Origin, Outcome, ROUNDS, SyncError};
use crate::adapters::store::{Committed, LinkState, Write};
use crate::domain::objects::{CheckoutSessionSnapshot, describe, purchase_record};
use crate::domain::records::{CustomerLink, SubscriptionRecord};
use crate::domain::version::Version;

impl Engine<'_> {
    /// Links the user and the customer (both directions) and stores what was bought: the
    /// session's subscription (read, then fetched from Stripe: the session carries only its
    /// id), or a paid one-time purchase's never-ending record. One transaction.
    pub(super) async fn checkout_completed(&self, origin: &Origin, session: &CheckoutSessionSnapshot) -> Result<Outcome, SyncError> {
        if !origin.is_event && !session.is_complete() {
            return Ok(Outcome::Ignored);
        }
        // Only `metadata.user_id` (set by this service) or the customer's existing link names the
        // user: a buyer can choose `client_reference_id` (Payment Links, pricing tables).
        let user = match (self.metadata_user(session.metadata_user_id().as_deref()), &session.customer) {
            (Some(user), _) => Some(user.to_owned()),
            (None, Some(customer)) => self.store.customer_owner(customer).await?,
            (None, None) => None,
        };
        let (Some(user), Some(customer)) = (user, session.customer.clone()) else {
            tracing::info!(origin = %origin.id, session = %session.id, customer = ?session.customer, "checkout session not made by this service (no metadata.user_id, no linked customer); ignored");
            return Ok(Outcome::Ignored);
        };
        let link = Write::Link(CustomerLink::new(
            &user,
            &customer,
            session.customer_email.as_deref(),
            self.clock.now(),
        ));
        for _ in 0..ROUNDS {
            let (bought, before) = self.bought(origin, session, &user, &customer).await?;
            let mut after = format!("customer={customer}");
            let mut writes = vec![link.clone()];
            if let Some(write) = bought {
                if let Write::Subscription(record) | Write::SubscriptionReplacing { record, .. } = &write {
                    after.push_str(&format!(" {}", describe(Some(record))));
                }
                writes.push(write);
            }
            match self
                .commit(
                    origin,
                    Some(&user),
                    Outcome::Applied,
                    (String::new(), after.clone()),
                    &writes,
                    before.as_ref(),
                )
                .await?
            {
                Committed::Yes => return Ok(Outcome::Applied),
                Committed::Duplicate => return Ok(Outcome::Duplicate),
                Committed::Refused => {}
            }
            // Either the link conflicts, or a concurrent writer stored what was bought: read again.
            if self.store.link_state(&user, &customer).await? == LinkState::Conflict {
                tracing::error!(origin = %origin.id, %user, %customer, "customer already linked to another user, or user to another customer");
                return self.mark(origin, Some(&user), Outcome::Conflict, (String::new(), after)).await;
            }
        }
        Err(SyncError::Contention { what: "checkout" })
    }

    /// The write of what `session` bought, if anything is to be written: the subscription as
    /// Stripe has it now (fetched after reading the stored record), or the purchase record;
    /// and the record it replaces.
    async fn bought(
        &self,
        origin: &Origin,
        session: &CheckoutSessionSnapshot,
        user: &str,
        customer: &str,
    ) -> Result<(Option<Write>, Option<SubscriptionRecord>), SyncError> {
        let now = self.clock.now();
        if let Some(subscription) = &session.subscription {
            let observed = self.store.subscription(user, subscription).await?;
            let started_at = self.clock.now();
            let Some(current) = self.stripe.retrieve_subscription(subscription).await? else {
                tracing::warn!(origin = %origin.id, %subscription, "the session's subscription is not in stripe; linking only");
                return Ok((None, None));
            };
            let stored = observed.as_ref().map(|o| o.version);
            let version =
                Version::above_observed(stored, origin.fetch_version(started_at)).ok_or(SyncError::Contention { what: "checkout" })?;
            let record = current.to_record(user, self.catalog, version, origin.created, observed.as_ref(), now);
            return Ok((Some(Write::SubscriptionReplacing { record, observed: stored }), observed));
        }
        // A 100 % promotion code completes a payment with nothing to pay: it is paid for.
        if session.mode != "payment" || !matches!(session.payment_status.as_str(), "paid" | "no_payment_required") {
            return Ok((None, None));
        }
        let Some(plan) = session.metadata.get("plan") else {
            return Ok((None, None));
        };
        // A purchase is written once, by whichever of its event and the eager sync comes first;
        // refunds and disputes change it after (and may come before its own event). It carries
        // the version of the session's creation: whatever happens to its charge comes later.
        if self.store.subscription(user, &session.id).await?.is_some() {
            return Ok((None, None));
        }
        let version = Version::of_payload(session.created);
        let record = purchase_record(user, &session.id, customer, plan, self.catalog, version, now);
        if record.is_none() {
            tracing::error!(origin = %origin.id, session = %session.id, %plan, "paid session names no one-time plan of the catalog; nothing granted");
        }
        Ok((record.map(|record| Write::SubscriptionReplacing { record, observed: None }), None))
    }
}
