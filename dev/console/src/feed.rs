//! The live feed: domain events as they arrive on the local bus. A rule and an SQS queue on the
//! bus (as a team's consumer attaches one, `billing::testkit::consumer`), polled while the
//! console runs and removed when it stops; the last events are kept ([`crate::kept`]) for the page, which
//! asks for those after the last one it saw.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use billing::adapters::bus::Bus;
use billing::testkit::consumer::Consumer;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::Console;

#[derive(Debug, Deserialize)]
pub struct Since {
    #[serde(default)]
    after: u64,
}

/// `GET /console/events?after=N` with the page's bearer token → `{"last", "events": [{"seq",
/// "detail_type", "time", "detail"}], "trouble"}`, oldest first: the events of the caller the
/// token names (see [`concerns`]).
pub async fn list(State(console): State<Arc<Console>>, headers: HeaderMap, Query(since): Query<Since>) -> Response {
    let caller = match crate::caller::caller(&console, &headers).await {
        Ok(caller) => caller,
        Err(problem) => return problem.into_response(),
    };
    // An organization's own billing events (amounts of its invoices) only for its admins, as
    // the API shows its invoices to admins only.
    let org = caller.org_id().filter(|_| caller.may_manage());
    let member_of = caller.org_id();
    let state = console.feed.read();
    let events: Vec<Value> = state
        .events
        .iter()
        .filter(|(seq, _)| *seq > since.after)
        .filter(|(_, event)| concerns(&event["detail"], &caller.user_id, member_of, org))
        .map(|(seq, event)| {
            json!({
                "seq": seq,
                "detail_type": event["detail-type"],
                "time": event["time"],
                "detail": event["detail"],
            })
        })
        .collect();
    Json(json!({ "last": state.last, "events": events, "trouble": state.trouble })).into_response()
}

/// Whether a domain event is for this caller: about the user themselves (their own billing, or
/// them as a member of the organization they act for), or, for an organization's admin
/// (`org_billing`), about the organization's billing.
fn concerns(detail: &Value, user: &str, member_of: Option<&str>, org_billing: Option<&str>) -> bool {
    let about = detail["user_id"].as_str();
    let in_org = detail["org_id"].as_str();
    let own = about == Some(user) && (in_org.is_none() || in_org == member_of);
    own || org_billing.is_some_and(|o| about == Some(&billing::domain::billable::org(o)))
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
    fn the_feed_shows_a_caller_their_own_events_and_admins_their_organizations() {
        let mine = json!({"user_id": "ada", "org_id": null});
        let org = json!({"user_id": "org:acme", "org_id": "acme"});
        let my_seat = json!({"user_id": "ada", "org_id": "acme"});
        let other_member = json!({"user_id": "bob", "org_id": "acme"});
        let other = json!({"user_id": "eve", "org_id": null});
        let elsewhere = json!({"user_id": "ada", "org_id": "globex"});
        // Alone.
        assert!(concerns(&mine, "ada", None, None));
        assert!(!concerns(&other, "ada", None, None));
        assert!(!concerns(&org, "ada", None, None));
        assert!(!concerns(&my_seat, "ada", None, None));
        // A member of acme: their own events there, not the organization's billing.
        assert!(concerns(&my_seat, "ada", Some("acme"), None));
        assert!(!concerns(&org, "ada", Some("acme"), None));
        assert!(!concerns(&other_member, "ada", Some("acme"), None));
        assert!(!concerns(&elsewhere, "ada", Some("acme"), None));
        // An admin of acme: also the organization's billing.
        assert!(concerns(&org, "ada", Some("acme"), Some("acme")));
        assert!(!concerns(&other, "ada", Some("acme"), Some("acme")));
    }
}
