//! Customers.

use super::{Engine, Origin, Outcome, SyncError};
use crate::adapters::store::{Committed, Write};

impl Engine<'_> {
    /// `customer.deleted`: removes the link in both directions (subscriptions end through their
    /// own events).
    pub(super) async fn customer_deleted(&self, origin: &Origin, customer: &str) -> Result<Outcome, SyncError> {
        let Some(user) = self.store.customer_owner(customer).await? else {
            return Ok(Outcome::Ignored);
        };
        let unlink = Write::Unlink {
            user_id: user.clone(),
            customer_id: customer.to_owned(),
        };
        let audit = (format!("customer={customer}"), "customer=none".into());
        match self.commit(origin, Some(&user), Outcome::Applied, audit, &[unlink], None).await? {
            Committed::Yes => Ok(Outcome::Applied),
            Committed::Duplicate => Ok(Outcome::Duplicate),
            Committed::Refused => self.mark(origin, Some(&user), Outcome::Stale, (String::new(), String::new())).await,
        }
    }
}
