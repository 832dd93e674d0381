//! Money taken back from one-time purchases: full refunds and disputes.
//!
//! A one-time purchase is stored as a never-ending record (`SUB#<checkout session id>`); its
//! status follows its charge as Stripe has it when an event about it arrives (read after the
//! stored record, written only while that record is still stored): `refunded` after a full
//! refund or a lost dispute, `disputed` while a dispute is open, `active` otherwise (a partial
//! refund, a won dispute without a refund). The purchase is found through the Checkout Session
//! that made the payment intent.

use super::{Engine, Origin, Outcome, ROUNDS, SyncError};
use crate::adapters::store::{Committed, Write};
use crate::domain::event::Envelope;
use crate::domain::objects::{CheckoutSessionSnapshot, describe, parse_charge, parse_dispute, purchase_record, purchase_status};
use crate::domain::plans::Interval;
use crate::domain::records::SubscriptionRecord;
use crate::domain::status::SubscriptionStatus;
use crate::domain::version::Version;

impl Engine<'_> {
    pub(super) async fn charge_event(&self, origin: &Origin, event: &Envelope) -> Result<Outcome, SyncError> {
        let object = &event.object;
        let (payment_intent, charge) = if event.event_type == "charge.refunded" {
            let charge = parse_charge(object).ok_or_else(|| origin.shape("charge"))?;
            if !charge.refunded {
                tracing::info!(event = %event.id, charge = %charge.id, "partial refund; the purchase keeps granting");
                return Ok(Outcome::Ignored);
            }
            (charge.payment_intent, charge.id)
        } else {
            let dispute = parse_dispute(object).ok_or_else(|| origin.shape("dispute"))?;
            (dispute.payment_intent, dispute.charge.unwrap_or_default())
        };
        let Some(payment_intent) = payment_intent.filter(|_| !charge.is_empty()) else {
            return Ok(Outcome::Ignored);
        };
        let Some(session) = self.stripe.checkout_session_of_payment(&payment_intent).await? else {
            // Not a Checkout payment (an invoice's charge, say): no purchase of this service.
            return Ok(Outcome::Ignored);
        };
        let Some(user) = self.purchaser(&session).await? else {
            return self.stranger(origin, session.customer.as_deref().unwrap_or_default(), &session.id);
        };
        let stored = self.store.subscription(&user, &session.id).await?;
        let Some(base) = self.purchase_base(&user, &session, stored.as_ref()) else {
            return Ok(Outcome::Ignored);
        };
        // Whatever the event says, the charge and its dispute as Stripe has them now decide (a
        // dispute won after a full refund does not give the purchase back).
        self.refresh_purchase(origin, &user, base, stored, &charge).await
    }

    /// The user of a purchase: `metadata.user_id` of its session, or its customer's link.
    async fn purchaser(&self, session: &CheckoutSessionSnapshot) -> Result<Option<String>, SyncError> {
        match (self.metadata_user(session.metadata_user_id().as_deref()), &session.customer) {
            (Some(user), _) => Ok(Some(user.to_owned())),
            (None, Some(customer)) => Ok(self.store.customer_owner(customer).await?),
            (None, None) => Ok(None),
        }
    }

    /// The purchase record to change: the stored one, or, when its own event has not arrived yet
    /// (deliveries are not ordered), the one that event would write. `None` when the session
    /// bought no one-time plan of the catalog.
    fn purchase_base(
        &self,
        user: &str,
        session: &CheckoutSessionSnapshot,
        stored: Option<&SubscriptionRecord>,
    ) -> Option<SubscriptionRecord> {
        match stored {
            Some(record) if record.interval == Some(Interval::OneTime) => Some(record.clone()),
            Some(_) => None,
            None => {
                let plan = self.metadata_user(session.metadata.get("plan").map(String::as_str))?;
                let customer = session.customer.as_deref()?;
                let version = Version::of_payload(session.created);
                purchase_record(user, &session.id, customer, plan, self.catalog, version, self.clock.now())
            }
        }
    }

    /// Reads the charge (and its dispute) as Stripe has them now and stores the purchase's status,
    /// only while `observed` (read before) is still stored.
    async fn refresh_purchase(
        &self,
        origin: &Origin,
        user: &str,
        base: SubscriptionRecord,
        mut observed: Option<SubscriptionRecord>,
        charge: &str,
    ) -> Result<Outcome, SyncError> {
        for _ in 0..ROUNDS {
            let started_at = self.clock.now();
            let current = self.stripe.retrieve_charge(charge).await?;
            let dispute = match current.disputed {
                true => self.stripe.dispute_of_charge(charge).await?,
                false => None,
            };
            let stored = observed.as_ref().map(|o| o.version);
            let version =
                Version::above_observed(stored, origin.fetch_version(started_at)).ok_or(SyncError::Contention { what: "purchase" })?;
            let record = with_status(
                observed.clone().unwrap_or_else(|| base.clone()),
                purchase_status(&current, dispute.as_ref()),
                version,
                self.clock.now(),
            );
            let audit = (describe(observed.as_ref()), describe(Some(&record)));
            let write = Write::SubscriptionReplacing { record, observed: stored };
            match self
                .commit(origin, Some(user), Outcome::Applied, audit, &[write], observed.as_ref())
                .await?
            {
                Committed::Yes => return Ok(Outcome::Applied),
                Committed::Duplicate => return Ok(Outcome::Duplicate),
                Committed::Refused => observed = self.store.subscription(user, &base.subscription_id).await?,
            }
        }
        Err(SyncError::Contention { what: "purchase" })
    }
}

fn with_status(record: SubscriptionRecord, status: SubscriptionStatus, version: Version, now: i64) -> SubscriptionRecord {
    SubscriptionRecord {
        status,
        version,
        updated_at: now,
        ..record
    }
}
