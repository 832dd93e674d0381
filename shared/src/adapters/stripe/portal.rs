//! Billing Portal sessions, optionally deep-linked into a flow.

use crate::domain::stripe_wire::{self as wire, read};
use stripe_billing::billing_portal_session::{
    CreateBillingPortalSession, CreateBillingPortalSessionFlowData, CreateBillingPortalSessionFlowDataSubscriptionCancel,
    CreateBillingPortalSessionFlowDataSubscriptionUpdate, CreateBillingPortalSessionFlowDataType,
};
use stripe_client_core::StripeRequest;

use super::{GatewayError, Stripe};

/// A Billing Portal flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalFlow {
    PaymentMethodUpdate,
    /// Cancel this subscription.
    SubscriptionCancel(String),
    /// Update this subscription.
    SubscriptionUpdate(String),
}

/// What a new Billing Portal session asks Stripe for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPortalSession {
    pub customer: String,
    pub return_url: String,
    pub flow: Option<PortalFlow>,
}

impl Stripe {
    /// `POST /v1/billing_portal/sessions` under `idempotency_key`; the portal URL.
    pub async fn create_portal_session(&self, new: &NewPortalSession, idempotency_key: &str) -> Result<String, GatewayError> {
        let mut request = CreateBillingPortalSession::new()
            .customer(new.customer.clone())
            .return_url(new.return_url.clone());
        if let Some(flow) = &new.flow {
            let kind = match flow {
                PortalFlow::PaymentMethodUpdate => CreateBillingPortalSessionFlowDataType::PaymentMethodUpdate,
                PortalFlow::SubscriptionCancel(_) => CreateBillingPortalSessionFlowDataType::SubscriptionCancel,
                PortalFlow::SubscriptionUpdate(_) => CreateBillingPortalSessionFlowDataType::SubscriptionUpdate,
            };
            let mut data = CreateBillingPortalSessionFlowData::new(kind);
            match flow {
                PortalFlow::PaymentMethodUpdate => {}
                PortalFlow::SubscriptionCancel(sub) => {
                    data.subscription_cancel = Some(CreateBillingPortalSessionFlowDataSubscriptionCancel::new(sub.clone()))
                }
                PortalFlow::SubscriptionUpdate(sub) => {
                    data.subscription_update = Some(CreateBillingPortalSessionFlowDataSubscriptionUpdate::new(sub.clone()))
                }
            }
            request = request.flow_data(data);
        }
        let value = self
            .json("create_portal_session", "customer", request.build(), Some(idempotency_key))
            .await?;
        read::<wire::PortalSession>(&value)
            .and_then(|session| session.url)
            .ok_or(GatewayError::Unreadable {
                operation: "create_portal_session",
                what: "portal session",
            })
    }
}
