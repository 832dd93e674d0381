//! The live feed: domain events as they arrive on the local bus. A rule and an SQS queue on the
//! bus (as a team's consumer attaches one, `billing::testkit::consumer`), polled while the
//! console runs and removed when it stops; the last [`KEEP`] events are kept for the page, which
//! asks for those after the last one it saw.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use billing::adapters::bus::Bus;
use billing::testkit::consumer::Consumer;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Console;

/// Events kept for the page.
const KEEP: usize = 500;

#[derive(Default)]
pub struct Feed {
    state: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    /// The sequence number of the last event kept (the first is 1).
    last: u64,
    events: VecDeque<(u64, Value)>,
    /// Why there is no feed, while there is none.
    trouble: Option<String>,
}

impl Feed {
    fn push(&self, event: Value) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.last += 1;
        let seq = state.last;
        state.events.push_back((seq, event));
        if state.events.len() > KEEP {
            state.events.pop_front();
        }
    }

    fn trouble(&self, trouble: Option<String>) {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).trouble = trouble;
    }
}

#[derive(Debug, Deserialize)]
pub struct Since {
    #[serde(default)]
    after: u64,
    /// Only the events of this billable (`user_id` of the domain event: a user, or `org:<id>`),
    /// or of a member in this organization.
    user: Option<String>,
    org: Option<String>,
}

/// `GET /console/events?after=N&user=U&org=O` → `{"last", "events": [{"seq", "detail_type",
/// "time", "detail"}], "trouble"}`, oldest first.
pub async fn list(State(console): State<Arc<Console>>, Query(since): Query<Since>) -> Json<Value> {
    let state = console.feed.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let events: Vec<Value> = state
        .events
        .iter()
        .filter(|(seq, _)| *seq > since.after)
        .filter(|(_, event)| concerns(&event["detail"], since.user.as_deref(), since.org.as_deref()))
        .map(|(seq, event)| {
            json!({
                "seq": seq,
                "detail_type": event["detail-type"],
                "time": event["time"],
                "detail": event["detail"],
            })
        })
        .collect();
    Json(json!({ "last": state.last, "events": events, "trouble": state.trouble }))
}

/// Whether a domain event is about this user (or their organization): its `user_id` is the
/// user or `org:<org>`, or its `org_id` is the organization.
fn concerns(detail: &Value, user: Option<&str>, org: Option<&str>) -> bool {
    let about = detail["user_id"].as_str();
    let in_org = detail["org_id"].as_str();
    match (user, org) {
        (None, None) => true,
        (user, org) => {
            user.is_some_and(|u| about == Some(u))
                || org.is_some_and(|o| in_org == Some(o) || about == Some(&billing::domain::billable::org(o)))
        }
    }
}

/// Attaches the consumer (retrying until the bus exists), then polls it until `stop`.
pub async fn run(console: Arc<Console>, mut stop: tokio::sync::oneshot::Receiver<()>) {
    let sdk = billing::adapters::aws::sdk_config().await;
    let bus = Bus::from_config(&sdk, &console.config.events);
    let sqs = billing::testkit::consumer::sqs_client(&sdk, console.config.events.eventbridge_endpoint.as_ref());
    let name = format!("console-feed-{}", std::process::id());
    let consumer = loop {
        match Consumer::attach(&sqs, &bus, &name, &console.config.events.source, None).await {
            Ok(consumer) => break consumer,
            Err(err) => {
                console
                    .feed
                    .trouble(Some(format!("no event feed yet: the bus {} did not answer ({err})", bus.name())));
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    };
    console.feed.trouble(None);
    tracing::info!(bus = bus.name(), rule = %name, "event feed attached");
    loop {
        tokio::select! {
            _ = &mut stop => break,
            received = consumer.receive(&sqs) => match received {
                Ok(bodies) => {
                    console.feed.trouble(None);
                    for body in bodies {
                        match serde_json::from_str::<Value>(&body) {
                            Ok(event) => console.feed.push(event),
                            Err(err) => tracing::warn!(error = %err, "an event on the bus is not JSON"),
                        }
                    }
                }
                Err(err) => {
                    console.feed.trouble(Some(format!("the event feed stopped answering ({err})")));
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            },
        }
    }
    consumer.detach(&sqs, &bus).await;
    tracing::info!(rule = %name, "event feed detached");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_keeps_a_users_and_their_organizations_events() {
        let mine = json!({"user_id": "ada", "org_id": null});
        let org = json!({"user_id": "org:acme", "org_id": "acme"});
        let member = json!({"user_id": "bob", "org_id": "acme"});
        let other = json!({"user_id": "eve", "org_id": null});
        assert!(concerns(&mine, Some("ada"), None));
        assert!(!concerns(&other, Some("ada"), None));
        assert!(!concerns(&org, Some("ada"), None));
        assert!(concerns(&org, Some("ada"), Some("acme")));
        assert!(concerns(&member, Some("ada"), Some("acme")));
        assert!(concerns(&other, None, None));
    }

    #[test]
    fn the_feed_keeps_the_last_events_in_order() {
        let feed = Feed::default();
        for n in 0..(KEEP + 3) {
            feed.push(json!({ "n": n }));
        }
        let state = feed.state.lock().unwrap();
        assert_eq!(state.last, (KEEP + 3) as u64);
        assert_eq!(state.events.len(), KEEP);
        assert_eq!(state.events.front().map(|(seq, _)| *seq), Some(4));
    }
}
