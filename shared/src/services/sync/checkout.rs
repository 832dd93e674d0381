//! Completed Checkout Sessions: the user ↔ customer link, and what was bought.

use super::{Engine, Origin, Outcome, SyncError};
use crate::adapters::store::{Committed, Write};
use crate::domain::objects::{CheckoutSessionSnapshot, describe, purchase_record};
use crate::domain::records::CustomerLink;
use crate::domain::version::{Verdict, Version};

impl Engine<'_> {
    /// Links the user and the customer (both directions) and stores the session's subscription
    /// (fetched from Stripe: the session carries only its id), or, for a paid one-time purchase,
    /// its never-ending record. One transaction.
    pub(super) async fn checkout_completed(&self, origin: &Origin, session: &CheckoutSessionSnapshot) -> Result<Outcome, SyncError> {
        if !origin.is_event && !session.is_complete() {
            return Ok(Outcome::Ignored);
        }
        // `metadata.user_id` is set by this service. `client_reference_id` is accepted only for
        // sessions not made from a Payment Link, where the buyer could choose it.
        let user = session.metadata_user_id().map(str::to_owned).or_else(|| {
            if session.from_payment_link {
                None
            } else {
                session.client_reference_id.clone()
            }
        });
        let (Some(user), Some(customer)) = (user, session.customer.clone()) else {
            tracing::info!(origin = %origin.id, "checkout session without user or customer; ignored");
            return Ok(Outcome::Ignored);
        };
        let now = self.clock.now();
        let link = Write::Link(CustomerLink::new(&user, &customer, session.customer_email.as_deref(), now));
        let mut state = None;
        let mut after = format!("customer={customer}");
        if let Some(subscription) = &session.subscription {
            let started_at = self.clock.now();
            if let Some(snapshot) = self.stripe.retrieve_subscription(subscription).await? {
                let previous = self.store.subscription(&user, subscription).await?;
                let fetched = origin.fetch_version(started_at);
                if let Verdict::Write(version) = Version::judge(previous.as_ref().map(|p| p.version), fetched, true) {
                    let record = snapshot.to_record(&user, self.catalog, version, origin.created, previous.as_ref(), now);
                    after.push_str(&format!(" {}", describe(Some(&record))));
                    state = Some(Write::Subscription(record));
                }
            }
        } else if session.mode == "payment" && session.payment_status == "paid" {
            let plan = session.metadata.get("plan");
            if let Some(record) =
                plan.and_then(|plan| purchase_record(&user, &session.id, &customer, plan, self.catalog, origin.version, now))
            {
                after.push_str(&format!(" purchase={}", record.plan.as_deref().unwrap_or("?")));
                state = Some(Write::Subscription(record));
            }
        }
        let mut writes = vec![link.clone()];
        writes.extend(state.clone());
        match self
            .commit(origin, Some(&user), Outcome::Applied, (String::new(), after.clone()), &writes)
            .await?
        {
            Committed::Yes => return Ok(Outcome::Applied),
            Committed::Duplicate => return Ok(Outcome::Duplicate),
            Committed::Refused if state.is_some() => {}
            Committed::Refused => return self.link_conflict(origin, &user, &customer, after).await,
        }
        // Refused with a state write: newer state may be stored already; try the link alone.
        let audit = (String::new(), format!("customer={customer}"));
        match self.commit(origin, Some(&user), Outcome::Applied, audit, &[link]).await? {
            Committed::Yes => Ok(Outcome::Applied),
            Committed::Duplicate => Ok(Outcome::Duplicate),
            Committed::Refused => self.link_conflict(origin, &user, &customer, after).await,
        }
    }

    async fn link_conflict(&self, origin: &Origin, user: &str, customer: &str, after: String) -> Result<Outcome, SyncError> {
        tracing::error!(origin = %origin.id, %user, %customer, "customer already linked to another user, or user to another customer");
        self.mark(origin, Some(user), Outcome::Conflict, (String::new(), after)).await
    }
}
