//! A consumer of the domain-event bus as a team attaches one: a rule matching the events and
//! an SQS queue as its target (devtool's `events tail`, and the tests).

use std::time::Duration;

use crate::adapters::bus::Bus;

/// Whatever the SDKs answered.
pub type ConsumerError = Box<dyn std::error::Error + Send + Sync>;

/// A consumer of the bus: a rule matching the domain events, and the SQS queue it delivers to.
pub struct Consumer {
    name: String,
    queue_url: String,
}

impl Consumer {
    /// Creates the queue and the rule (on `bus`, matching `source` and, if given, one detail
    /// type) with the queue as its target.
    pub async fn attach(
        sqs: &aws_sdk_sqs::Client,
        bus: &Bus,
        name: &str,
        source: &str,
        detail_type: Option<&str>,
    ) -> Result<Self, ConsumerError> {
        let queue_url = sqs.create_queue().queue_name(name).send().await?.queue_url.unwrap_or_default();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await?;
        let arn = attributes
            .attributes
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        let mut pattern = serde_json::json!({ "source": [source] });
        if let Some(kind) = detail_type {
            pattern["detail-type"] = serde_json::json!([kind]);
        }
        let events = bus.client();
        events
            .put_rule()
            .name(name)
            .event_bus_name(bus.name())
            .event_pattern(pattern.to_string())
            .send()
            .await?;
        let target = aws_sdk_eventbridge::types::Target::builder().id("tail").arn(arn).build()?;
        events
            .put_targets()
            .rule(name)
            .event_bus_name(bus.name())
            .targets(target)
            .send()
            .await?;
        Ok(Self {
            name: name.to_owned(),
            queue_url,
        })
    }

    /// The bodies (EventBridge events as JSON) that arrived, after a short pause when none did.
    /// Short polls: the local endpoint serves one request at a time, and a long poll would hold
    /// it.
    pub async fn receive(&self, sqs: &aws_sdk_sqs::Client) -> Result<Vec<String>, ConsumerError> {
        let out = sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut bodies = Vec::new();
        for message in messages {
            if let Some(handle) = &message.receipt_handle {
                sqs.delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await?;
            }
            bodies.extend(message.body);
        }
        Ok(bodies)
    }

    /// Removes the rule and the queue (best effort).
    pub async fn detach(&self, sqs: &aws_sdk_sqs::Client, bus: &Bus) {
        let events = bus.client();
        let _ = events
            .remove_targets()
            .rule(&self.name)
            .event_bus_name(bus.name())
            .ids("tail")
            .send()
            .await;
        let _ = events.delete_rule().name(&self.name).event_bus_name(bus.name()).send().await;
        let _ = sqs.delete_queue().queue_url(&self.queue_url).send().await;
    }
}

/// An SQS client for the endpoint the bus is on (`EVENTBRIDGE_ENDPOINT` locally).
pub fn sqs_client(sdk: &aws_config::SdkConfig, endpoint: Option<&url::Url>) -> aws_sdk_sqs::Client {
    let mut builder = aws_sdk_sqs::config::Builder::from(sdk);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint.as_str().trim_end_matches('/'));
    }
    aws_sdk_sqs::Client::from_conf(builder.build())
}
