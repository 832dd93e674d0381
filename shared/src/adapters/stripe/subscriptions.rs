//! Reading subscriptions: one by id, or a customer's. (Changes, schedules and invoices are in
//! [`super::billing`].)

use crate::domain::objects::{SubscriptionSnapshot, parse_subscription};
use crate::domain::stripe_wire::{self as wire, List, read};
use stripe_client_core::StripeRequest;

use super::{GatewayError, Stripe};

impl Stripe {
    /// `GET /v1/subscriptions/{id}`; `None` when Stripe has no such subscription.
    pub async fn retrieve_subscription(&self, id: &str) -> Result<Option<SubscriptionSnapshot>, GatewayError> {
        let request = stripe_billing::subscription::RetrieveSubscription::new(id).build();
        match self.json("retrieve_subscription", "subscription", request, None).await {
            Ok(value) => parse_subscription(&value).map(Some).ok_or(GatewayError::Unreadable {
                operation: "retrieve_subscription",
                what: "subscription",
            }),
            Err(GatewayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Every subscription of `customer`, of any status (`GET /v1/subscriptions?status=all`, all
    /// pages).
    pub async fn list_subscriptions(&self, customer: &str) -> Result<Vec<SubscriptionSnapshot>, GatewayError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let mut request = stripe_billing::subscription::ListSubscription::new()
                .customer(customer)
                .status(stripe_billing::subscription::ListSubscriptionStatus::All)
                .limit(100);
            if let Some(after) = &after {
                request = request.starting_after(after.as_str());
            }
            let page = self.json("list_subscriptions", "customer", request.build(), None).await?;
            let unreadable = || GatewayError::Unreadable {
                operation: "list_subscriptions",
                what: "subscription list",
            };
            let page: List<wire::Subscription> = read(&page).unwrap_or_default();
            for subscription in page.data.ok_or_else(unreadable)? {
                out.push(SubscriptionSnapshot::from_wire(subscription).ok_or_else(unreadable)?);
            }
            match (page.has_more, out.last()) {
                (Some(true), Some(last)) => after = Some(last.subscription_id.clone()),
                _ => return Ok(out),
            }
        }
        Ok(out)
    }
}
