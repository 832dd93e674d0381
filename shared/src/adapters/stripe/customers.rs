//! Customers: read, create, list, and a customer's active entitlements.

use crate::domain::objects::{CustomerSnapshot, parse_customer};
use crate::domain::stripe_wire::{self as wire, List, read};
use std::collections::HashMap;
use stripe_client_core::StripeRequest;

use super::{GatewayError, Stripe};

/// One page of `GET /v1/customers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerPage {
    pub customers: Vec<CustomerSnapshot>,
    pub has_more: bool,
}

impl Stripe {
    /// `GET /v1/customers/{id}`; `None` when Stripe has no such customer.
    pub async fn retrieve_customer(&self, id: &str) -> Result<Option<CustomerSnapshot>, GatewayError> {
        let request = stripe_core::customer::RetrieveCustomer::new(id).build();
        match self.json("retrieve_customer", "customer", request, None).await {
            Ok(value) => parse_customer(&value).map(Some).ok_or(GatewayError::Unreadable {
                operation: "retrieve_customer",
                what: "customer",
            }),
            Err(GatewayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/customers` for billable `user_id` (`metadata.user_id`, or `metadata.org_id`
    /// for an organization, see [`crate::domain::billable`]; `email`; `name`) under
    /// `idempotency_key`.
    pub async fn create_customer(
        &self,
        user_id: &str,
        email: Option<&str>,
        name: Option<&str>,
        idempotency_key: &str,
    ) -> Result<CustomerSnapshot, GatewayError> {
        let mut request =
            stripe_core::customer::CreateCustomer::new().metadata(HashMap::from([crate::domain::billable::metadata_pair(user_id)]));
        if let Some(email) = email {
            request = request.email(email.to_owned());
        }
        if let Some(name) = name {
            request = request.name(name.to_owned());
        }
        let value = self
            .json("create_customer", "customer", request.build(), Some(idempotency_key))
            .await?;
        parse_customer(&value).ok_or(GatewayError::Unreadable {
            operation: "create_customer",
            what: "customer",
        })
    }

    /// One page of `GET /v1/customers` (newest first), after the customer `starting_after`.
    pub async fn list_customers(&self, starting_after: Option<&str>, limit: u8) -> Result<CustomerPage, GatewayError> {
        let mut request = stripe_core::customer::ListCustomer::new().limit(i64::from(limit.clamp(1, 100)));
        if let Some(after) = starting_after {
            request = request.starting_after(after);
        }
        let page = self.json("list_customers", "customer", request.build(), None).await?;
        let unreadable = || GatewayError::Unreadable {
            operation: "list_customers",
            what: "customer list",
        };
        let page: List<wire::Customer> = read(&page).unwrap_or_default();
        let customers = page
            .data
            .ok_or_else(unreadable)?
            .into_iter()
            .map(|c| CustomerSnapshot::from_wire(c).ok_or_else(unreadable))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CustomerPage {
            customers,
            has_more: page.has_more.unwrap_or(false),
        })
    }

    /// Every active entitlement's feature lookup key (`GET /v1/entitlements/active_entitlements`,
    /// all pages).
    pub async fn active_entitlements(&self, customer: &str) -> Result<Vec<String>, GatewayError> {
        let mut features = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let mut request = stripe_misc::entitlements_active_entitlement::ListEntitlementsActiveEntitlement::new(customer).limit(100);
            if let Some(after) = &after {
                request = request.starting_after(after.as_str());
            }
            let page = self.json("list_active_entitlements", "customer", request.build(), None).await?;
            let unreadable = GatewayError::Unreadable {
                operation: "list_active_entitlements",
                what: "entitlement list",
            };
            let page: List<wire::Entitlement> = read(&page).unwrap_or_default();
            let data = page.data.ok_or(unreadable)?;
            let last = data.last().and_then(|e| e.id.clone());
            features.extend(data.into_iter().filter_map(|e| e.lookup_key));
            match (page.has_more, last) {
                (Some(true), Some(last)) => after = Some(last),
                _ => return Ok(features),
            }
        }
        Ok(features)
    }
}
