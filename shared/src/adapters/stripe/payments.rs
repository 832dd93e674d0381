//! Charges and disputes, read back when a refund or a dispute event needs the whole object.

use crate::domain::objects::{ChargeSnapshot, DisputeSnapshot, parse_charge};
use crate::domain::stripe_wire::{self as wire, List, read};
use stripe_client_core::StripeRequest;

use super::{GatewayError, Stripe};

impl Stripe {
    /// `GET /v1/charges/{id}`.
    pub async fn retrieve_charge(&self, id: &str) -> Result<ChargeSnapshot, GatewayError> {
        let value = self
            .json(
                "retrieve_charge",
                "charge",
                stripe_core::charge::RetrieveCharge::new(id).build(),
                None,
            )
            .await?;
        parse_charge(&value).ok_or(GatewayError::Unreadable {
            operation: "retrieve_charge",
            what: "charge",
        })
    }

    /// The newest dispute of `charge` (`GET /v1/disputes?charge=`), if one was opened.
    pub async fn dispute_of_charge(&self, charge: &str) -> Result<Option<DisputeSnapshot>, GatewayError> {
        let request = stripe_core::dispute::ListDispute::new().charge(charge).limit(1).build();
        let page = self.json("list_disputes", "charge", request, None).await?;
        let page: List<wire::Dispute> = read(&page).unwrap_or_default();
        page.items()
            .into_iter()
            .next()
            .map(|dispute| {
                DisputeSnapshot::from_wire(dispute).ok_or(GatewayError::Unreadable {
                    operation: "list_disputes",
                    what: "dispute",
                })
            })
            .transpose()
    }
}
