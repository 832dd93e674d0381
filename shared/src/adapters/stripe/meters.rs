//! Billing meters of the Stripe port: meter events (the usage reporter's sends) and the meters'
//! event summaries (what Stripe has recorded, read before a resend that Stripe's 24-hour
//! identifier window no longer guards).

use serde_json::json;
use stripe_client_core::{RequestBuilder, StripeMethod};

use super::billing::form;
use super::{GatewayError, Stripe};
use crate::domain::stripe_wire::{self as wire, List, read};

impl Stripe {
    /// `POST /v1/billing/meter_events`: `value` units for `customer` on the meter with
    /// `event_name`, at `timestamp`. Stripe counts an `identifier` once (a repeat is refused), so
    /// no idempotency key: one attempt per call (a retry under a key would replay a stored 5xx for
    /// a day; the caller's schedule is the retry).
    pub async fn create_meter_event(
        &self,
        event_name: &str,
        customer: &str,
        value: u64,
        timestamp: i64,
        identifier: &str,
    ) -> Result<(), GatewayError> {
        let params = json!({
            "event_name": event_name,
            "payload": {"stripe_customer_id": customer, "value": value.to_string()},
            "timestamp": timestamp,
            "identifier": identifier,
        });
        let request = form(StripeMethod::Post, "/billing/meter_events".into(), &params);
        self.answer_within(1, "create_meter_event", "meter", request, None).await?;
        Ok(())
    }

    /// The id of the meter whose `event_name` this is (`GET /v1/billing/meters`, every page);
    /// `None` when no meter has it.
    pub async fn meter_id(&self, event_name: &str) -> Result<Option<String>, GatewayError> {
        let mut after: Option<String> = None;
        loop {
            let mut params = json!({"limit": 100});
            if let Some(after) = &after {
                params["starting_after"] = after.clone().into();
            }
            let request = RequestBuilder::new(StripeMethod::Get, "/billing/meters").query(&params);
            let page = self.answer("list_meters", "meter", request, None).await?.value;
            let page: List<wire::Meter> = read(&page).unwrap_or_default();
            let has_more = page.has_more;
            let mut data = page.items();
            if let Some(meter) = data.iter_mut().find(|m| m.event_name.as_deref() == Some(event_name)) {
                return Ok(meter.id.take());
            }
            match (has_more, data.pop().and_then(|m| m.id)) {
                (Some(true), Some(last)) => after = Some(last),
                _ => return Ok(None),
            }
        }
    }

    /// What meter `meter_id` has recorded for `customer` from `start` (inclusive) to `end`
    /// (exclusive), both on minute boundaries: one event summary's `aggregated_value`.
    pub async fn meter_usage(&self, meter_id: &str, customer: &str, start: i64, end: i64) -> Result<i64, GatewayError> {
        let params = json!({"customer": customer, "start_time": start, "end_time": end});
        let request = RequestBuilder::new(StripeMethod::Get, format!("/billing/meters/{meter_id}/event_summaries")).query(&params);
        let page = self
            .answer("list_meter_event_summaries", "meter event summary", request, None)
            .await?
            .value;
        let page: List<wire::MeterEventSummary> = read(&page).unwrap_or_default();
        Ok(page
            .items()
            .into_iter()
            .next()
            .and_then(|summary| summary.aggregated_value)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
            .unwrap_or(0))
    }
}
