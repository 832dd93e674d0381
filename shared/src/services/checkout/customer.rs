//! The user's Stripe customer, made before any Checkout Session, so that every session of a
//! user carries the same customer (two first checkouts paid side by side must not make two).

use crate::adapters::store::LinkOutcome;
use crate::adapters::stripe::{Stripe, idempotency_key};

use super::{Buyer, CheckoutError, Checkouts};

/// How long one customer-creation key lasts. Within it, a retried first checkout gets the
/// customer the first attempt created; the conditional link makes sure only one is ever linked.
pub const CUSTOMER_KEY_WINDOW_SECS: i64 = 86_400;

/// The customer linked to the user, created (with `metadata.user_id`) and linked first when
/// there is none. A concurrent request that linked another customer first wins; its customer is
/// returned.
pub async fn ensure(state: &Checkouts<'_>, stripe: &Stripe, identity: &Buyer, linked: Option<String>) -> Result<String, CheckoutError> {
    if let Some(customer) = linked {
        return Ok(customer);
    }
    let now = state.clock.now();
    let window = (now / CUSTOMER_KEY_WINDOW_SECS).to_string();
    let email = identity.email.as_deref();
    // The email is a parameter of the request: a key reused with another is a 400 from Stripe.
    let name = identity.name.as_deref();
    let mut key = idempotency_key(
        "customer",
        &[&identity.user_id, email.unwrap_or_default(), name.unwrap_or_default(), &window],
    );
    let mut created = stripe.create_customer(&identity.user_id, email, name, &key).await?;
    // A replayed key answers the customer made under it, which may have been deleted since.
    if stripe.retrieve_customer(&created.id).await?.is_none_or(|c| c.deleted) {
        key = idempotency_key(
            "customer",
            &[
                &identity.user_id,
                email.unwrap_or_default(),
                name.unwrap_or_default(),
                &window,
                &created.id,
            ],
        );
        created = stripe.create_customer(&identity.user_id, email, name, &key).await?;
    }
    match state.store.link_customer(&identity.user_id, &created.id, email, now).await? {
        LinkOutcome::Linked => {
            tracing::info!(user = %identity.user_id, customer = %created.id, "customer created and linked");
            Ok(created.id)
        }
        LinkOutcome::Conflict => {
            // Another request linked a customer first: read it (strongly consistent, the link was
            // just written) and use it; the one made here stays unlinked.
            let items = state.store.user_items_consistent(&identity.user_id).await?;
            let customer = items.customer.map(|c| c.customer_id).ok_or(CheckoutError::CustomerConflict)?;
            tracing::info!(user = %identity.user_id, %customer, unlinked = %created.id, "another request linked a customer first");
            Ok(customer)
        }
    }
}
