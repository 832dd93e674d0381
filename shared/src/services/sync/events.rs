//! The one table of Stripe event types the engine handles. It drives both the list given to
//! Stripe (the webhook endpoint's events, the Events API's `types` in reconcile) and the
//! dispatch in [`super::Engine::apply`]: a type is handled exactly when it is listed here, and
//! every [`Handler`] is dispatched (the `match` on it is exhaustive).

/// What the engine does with an event of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// The payload is a subscription: stored (or fetched when this version cannot read it).
    Subscription,
    /// An invoice: its subscription is fetched (an invoice carries no subscription state).
    Invoice,
    /// A completed Checkout Session: the user ↔ customer link and what was bought.
    CheckoutCompleted,
    /// The customer's entitlement summary changed: the feature list is read.
    EntitlementSummary,
    /// The customer was deleted: its link is removed both ways.
    CustomerDeleted,
    /// Money taken back from a one-time purchase, or given back.
    Charge,
    /// A Subscription Schedule: the change it will make to its subscription.
    Schedule,
}

/// Event types that carry a subscription object.
pub const SUBSCRIPTION_EVENTS: &[&str] = &[
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
];

/// Invoice events: they prompt a fetch of the invoice's subscription.
pub const INVOICE_EVENTS: &[&str] = &["invoice.paid", "invoice.payment_failed", "invoice.payment_action_required"];

/// Event types that take money back from a purchase (or give it back to the merchant).
pub const CHARGE_EVENTS: &[&str] = &["charge.refunded", "charge.dispute.created", "charge.dispute.closed"];

/// Event types that carry a Subscription Schedule.
pub const SCHEDULE_EVENTS: &[&str] = &[
    "subscription_schedule.created",
    "subscription_schedule.updated",
    "subscription_schedule.released",
    "subscription_schedule.canceled",
    "subscription_schedule.completed",
    "subscription_schedule.aborted",
    "subscription_schedule.expiring",
];

/// Every handled event type, by its handler.
pub const HANDLED_EVENTS: &[(&[&str], Handler)] = &[
    (SUBSCRIPTION_EVENTS, Handler::Subscription),
    (INVOICE_EVENTS, Handler::Invoice),
    (
        &["checkout.session.completed", "checkout.session.async_payment_succeeded"],
        Handler::CheckoutCompleted,
    ),
    (&["entitlements.active_entitlement_summary.updated"], Handler::EntitlementSummary),
    (&["customer.deleted"], Handler::CustomerDeleted),
    (CHARGE_EVENTS, Handler::Charge),
    (SCHEDULE_EVENTS, Handler::Schedule),
];

/// The handler of an event type; `None`: not handled (acknowledged and ignored).
pub fn handler_of(event_type: &str) -> Option<Handler> {
    HANDLED_EVENTS
        .iter()
        .find(|(types, _)| types.contains(&event_type))
        .map(|(_, handler)| *handler)
}

/// Every event type the engine applies (the rest are ignored), in the table's order.
pub fn handled_event_types() -> Vec<&'static str> {
    HANDLED_EVENTS.iter().flat_map(|(types, _)| types.iter().copied()).collect()
}

/// Stripe's Events API takes at most this many `types` per request.
pub const MAX_TYPES_PER_LIST: usize = 20;

/// [`handled_event_types`] in groups Stripe's Events API accepts in one request.
pub fn handled_event_type_groups() -> Vec<Vec<&'static str>> {
    handled_event_types().chunks(MAX_TYPES_PER_LIST).map(<[_]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_is_listed_once_and_dispatched_to_its_handler() {
        let types = handled_event_types();
        let unique: std::collections::BTreeSet<_> = types.iter().collect();
        assert_eq!(unique.len(), types.len(), "a type listed twice would have two handlers");
        for (listed, handler) in HANDLED_EVENTS {
            for kind in *listed {
                assert_eq!(handler_of(kind), Some(*handler), "{kind}");
            }
        }
        assert_eq!(handler_of("customer.created"), None);
        assert_eq!(handler_of("invoice.paid"), Some(Handler::Invoice));
        assert!(handled_event_type_groups().iter().all(|g| g.len() <= MAX_TYPES_PER_LIST));
    }
}
