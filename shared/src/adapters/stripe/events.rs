//! The Events API: pages of events of the handled types (reconcile), and one event by id (the
//! EventBridge input applies Stripe's own copy of what it was handed).

use crate::domain::event::{self, Envelope};
use crate::domain::stripe_wire::{List, read};
use serde_json::Value;
use stripe_client_core::StripeRequest;

use super::{GatewayError, Stripe};

/// One page of `GET /v1/events`, oldest first as far as the page goes (Stripe lists newest
/// first).
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<Envelope>,
    /// Ids of listed events that could not be read (skipped).
    pub malformed: Vec<String>,
    pub has_more: bool,
    /// The cursor for the next (older) page.
    pub last_id: Option<String>,
}

impl Stripe {
    /// One page of `GET /v1/events` of `types`, created after `created_after` (and up to
    /// `created_until`, when given), older than the event `starting_after`.
    pub async fn list_events(
        &self,
        types: &[&str],
        created_after: i64,
        created_until: Option<i64>,
        starting_after: Option<&str>,
        limit: u8,
    ) -> Result<EventPage, GatewayError> {
        let created = stripe_types::RangeQueryTs::Bounds(stripe_types::RangeBoundsTs {
            gt: Some(created_after),
            lte: created_until,
            ..Default::default()
        });
        let mut request = stripe_core::event::ListEvent::new()
            .types(types.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>())
            .created(created)
            .limit(i64::from(limit.clamp(1, 100)));
        if let Some(after) = starting_after {
            request = request.starting_after(after);
        }
        let page = self.json("list_events", "event", request.build(), None).await?;
        let unreadable = || GatewayError::Unreadable {
            operation: "list_events",
            what: "event",
        };
        // Events stay JSON here: each is read by the envelope's own checks.
        let page: List<Value> = read(&page).unwrap_or_default();
        let data = page.data.ok_or_else(unreadable)?;
        let id = |raw: &Value| raw.get("id").and_then(Value::as_str).map(str::to_owned);
        // One unreadable event must not hide the page: it is counted and skipped, and the
        // cursor comes from the raw list.
        let last_id = data.last().and_then(id);
        let mut events = Vec::with_capacity(data.len());
        let mut malformed = Vec::new();
        for raw in data {
            let raw_id = id(&raw);
            match event::parse_value(raw) {
                Ok(envelope) => events.push(envelope),
                Err(_) => malformed.push(raw_id.unwrap_or_else(|| "?".to_owned())),
            }
        }
        events.reverse();
        Ok(EventPage {
            events,
            malformed,
            has_more: page.has_more.unwrap_or(false),
            last_id,
        })
    }

    /// `GET /v1/events/{id}`: Stripe's own copy of an event (`None`: Stripe has no such event).
    pub async fn retrieve_event(&self, id: &str) -> Result<Option<Envelope>, GatewayError> {
        let request = stripe_core::event::RetrieveEvent::new(id).build();
        match self.json("retrieve_event", "event", request, None).await {
            Ok(value) => event::parse_value(value).map(Some).map_err(|_| GatewayError::Unreadable {
                operation: "retrieve_event",
                what: "event",
            }),
            Err(GatewayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }
}
