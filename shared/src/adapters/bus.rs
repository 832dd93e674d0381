//! The EventBridge bus the domain events go to: one `PutEvents` per at most ten entries, with
//! the answer per entry (EventBridge accepts some entries of a request and refuses others).

use aws_config::SdkConfig;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::config::EventsConfig;

/// Entries one `PutEvents` request takes at most.
pub const PUT_EVENTS_MAX: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The request failed as a whole (unreachable, throttled, denied).
    #[error("eventbridge put_events failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("put_events takes at most {PUT_EVENTS_MAX} entries, got {0}")]
    TooMany(usize),
}

/// One event to put.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub detail_type: &'a str,
    /// The `detail` JSON.
    pub detail: &'a str,
}

/// The bus, its name and the `source` of every event. Cheap to clone; one per process.
#[derive(Debug, Clone)]
pub struct Bus {
    client: Client,
    name: String,
    source: String,
}

impl Bus {
    pub fn new(client: Client, name: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
            source: source.into(),
        }
    }

    /// The bus of `config`, pointed at `EVENTBRIDGE_ENDPOINT` when set (moto locally).
    pub fn from_config(sdk: &SdkConfig, config: &EventsConfig) -> Self {
        let mut builder = aws_sdk_eventbridge::config::Builder::from(sdk);
        if let Some(endpoint) = &config.eventbridge_endpoint {
            builder = builder.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        Self::new(Client::from_conf(builder.build()), &config.bus_name, &config.source)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the bus if it does not exist (the local stack and the tests; in AWS the template
    /// does). `true` when created.
    pub async fn create(&self) -> Result<bool, BusError> {
        match self.client.create_event_bus().name(&self.name).send().await {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_already_exists_exception()) => Ok(false),
            Err(err) => Err(BusError::Backend(Box::new(err))),
        }
    }

    /// Puts `entries` (at most [`PUT_EVENTS_MAX`]) in one request. The answer has one item per
    /// entry, in order: `None` when EventBridge took it, else its error code.
    pub async fn put(&self, entries: &[Entry<'_>]) -> Result<Vec<Option<String>>, BusError> {
        if entries.len() > PUT_EVENTS_MAX {
            return Err(BusError::TooMany(entries.len()));
        }
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = self.client.put_events();
        for entry in entries {
            request = request.entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.name)
                    .source(&self.source)
                    .detail_type(entry.detail_type)
                    .detail(entry.detail)
                    .build(),
            );
        }
        let out = request.send().await.map_err(|e| BusError::Backend(Box::new(e)))?;
        let results = out.entries.unwrap_or_default();
        Ok((0..entries.len())
            .map(|i| match results.get(i) {
                Some(r) if r.error_code.is_none() && r.event_id.is_some() => None,
                Some(r) => Some(r.error_code.clone().unwrap_or_else(|| "Unknown".into())),
                None => Some("Missing".into()),
            })
            .collect())
    }
}
