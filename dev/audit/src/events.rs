//! I5 domain events: what the events publisher put on the bus, read back as a team's consumer
//! reads it (a rule with an SQS target on the stack's bus), judged against the table and the
//! access the API answers.
//!
//! - **Never another's.** Every event of a user names that user and that user's customer.
//! - **Same id, same event.** A redelivery carries the same `id` and the same detail.
//! - **Ordered.** Per subscription (or purchase), versions never go down in arrival order.
//! - **Never lost.** The last `subscription.*` event of each stored subscription carries its
//!   stored status; a stored purchase has its `purchase.completed`, and a refunded one its
//!   `purchase.refunded`. Each `entitlements.changed` starts where the previous one ended (the
//!   first from the free plan's features), and the last one ends at the features the API allows
//!   (unless a grace period may have run out since: no Stripe event marks that).
//! - **Drained.** Every publisher run leaves nothing refused, parked or behind.

use std::collections::{BTreeMap, BTreeSet};

use billing::adapters::bus::Bus;
use billing::testkit::consumer::{Consumer, sqs_client};
use serde_json::Value;

use crate::client::{CallError, Result};
use crate::model::{Observation, Rules};

/// The consumer of the stack's bus.
pub struct Feed {
    sqs: aws_sdk_sqs::Client,
    consumer: Consumer,
}

fn failed(what: &str, err: impl std::fmt::Display) -> CallError {
    CallError(format!("{what}: {err}"))
}

impl Feed {
    /// Attaches a rule and a queue to `EVENT_BUS_NAME` (default `billing-events`) on the stack's
    /// moto (`endpoint`), matching `EVENT_SOURCE` (default `billing`).
    pub async fn attach(endpoint: &str) -> Result<Self> {
        let url = url::Url::parse(endpoint).map_err(|e| failed("AUDIT_DYNAMODB", e))?;
        let sdk = billing::testkit::local_sdk();
        let name = std::env::var("EVENT_BUS_NAME").unwrap_or_else(|_| billing::config::DEFAULT_EVENT_BUS_NAME.into());
        let source = std::env::var("EVENT_SOURCE").unwrap_or_else(|_| billing::config::DEFAULT_EVENT_SOURCE.into());
        let client = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&sdk)
                .endpoint_url(endpoint.trim_end_matches('/'))
                .build(),
        );
        let bus = Bus::new(client, name, &source);
        bus.create().await.map_err(|e| failed("create bus", e))?;
        let sqs = sqs_client(&sdk, Some(&url));
        let consumer = Consumer::attach(&sqs, &bus, "audit-feed", &source, None)
            .await
            .map_err(|e| failed("attach consumer", e))?;
        Ok(Self { sqs, consumer })
    }

    /// The events that arrived since the last call: `(detail-type, detail)` in arrival order.
    pub async fn take(&self) -> Result<Vec<(String, Value)>> {
        let mut out = Vec::new();
        loop {
            let bodies = self.consumer.receive(&self.sqs).await.map_err(|e| failed("receive", e))?;
            if bodies.is_empty() {
                return Ok(out);
            }
            for body in bodies {
                let event: Value = serde_json::from_str(&body).map_err(|e| failed("event body", e))?;
                out.push((
                    event["detail-type"].as_str().unwrap_or_default().to_owned(),
                    event["detail"].clone(),
                ));
            }
        }
    }
}

/// The drain check of one publisher run's summary.
pub fn drained(summary: &Value) -> Option<String> {
    let count = |k: &str| summary[k].as_u64().unwrap_or(u64::MAX);
    (count("refused") != 0 || count("parked") != 0 || count("left") != 0).then(|| format!("a publisher run left events behind: {summary}"))
}

fn set(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// I5: what a user's published events (all so far, in arrival order) show wrong.
pub fn check(rules: &Rules, o: &Observation, published: &[(String, Value)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut by_id: BTreeMap<&str, &Value> = BTreeMap::new();
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_status: BTreeMap<String, String> = BTreeMap::new();
    let mut purchases: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut features = rules.free_features.clone();
    for (kind, detail) in published {
        let id = detail["id"].as_str().unwrap_or_default();
        if let Some(first) = by_id.insert(id, detail) {
            if first != detail {
                out.push(format!("{kind} {id} redelivered with another detail"));
            }
            continue;
        }
        if detail["user_id"].as_str() != Some(o.user.as_str()) {
            out.push(format!("{kind} {id} names user {}", detail["user_id"]));
        }
        let customer = detail["customer_id"].as_str().unwrap_or_default();
        // A free-plan user's threshold, or a support grant's change made before the user had a
        // customer: none.
        let before_customer = o
            .customer_since
            .is_none_or(|since| detail["occurred_at"].as_i64().is_some_and(|at| at <= since));
        let customerless = matches!(kind.as_str(), "usage.threshold" | "entitlements.changed") && customer.is_empty() && before_customer;
        let own = o.customer.as_deref() == Some(customer) || customerless;
        if !own {
            out.push(format!("{kind} {id} names customer {customer:?}, not {:?}", o.customer));
        }
        let version = detail["version"].as_u64().unwrap_or_default();
        if let Some(subject) = detail["subscription_id"].as_str().filter(|_| kind != "usage.threshold") {
            let last = versions.entry(subject.to_owned()).or_default();
            if version < *last {
                out.push(format!("{kind} {id} of {subject} at version {version} after version {last}"));
            }
            *last = (*last).max(version);
            if kind.starts_with("subscription.") {
                last_status.insert(subject.to_owned(), detail["status"].as_str().unwrap_or_default().to_owned());
            }
            if kind.starts_with("purchase.") {
                purchases.entry(subject.to_owned()).or_default().insert(kind.as_str());
            }
        }
        if kind == "entitlements.changed" {
            let before = set(&detail["before"]);
            if before != features {
                out.push(format!(
                    "entitlements.changed {id} starts from {before:?}, the last published set was {features:?}"
                ));
            }
            features = set(&detail["after"]);
        }
    }
    for sub in &o.table_subscriptions {
        let is_purchase = sub.id.starts_with("cs_");
        if is_purchase {
            let made = purchases.get(&sub.id);
            if !made.is_some_and(|m| m.contains("purchase.completed")) && sub.status != "refunded" {
                out.push(format!("purchase {} ({}) has no purchase.completed", sub.id, sub.status));
            }
            if sub.status == "refunded" && !made.is_some_and(|m| m.contains("purchase.refunded")) {
                out.push(format!("purchase {} is refunded without purchase.refunded", sub.id));
            }
        } else if last_status.get(&sub.id) != Some(&sub.status) {
            out.push(format!(
                "subscription {} is {} in the table; its last event says {:?}",
                sub.id,
                sub.status,
                last_status.get(&sub.id)
            ));
        }
    }
    let grace_may_end = o.table_subscriptions.iter().any(|s| s.status == "past_due");
    let allowed: BTreeSet<String> = o.allowed.iter().cloned().collect();
    // An organization's own set is what a member holding a seat gets; the API answers its admin,
    // who may hold none: members are judged by I6 instead.
    let organization = billing::domain::billable::Billable::of(&o.user).org_id().is_some();
    if !grace_may_end && !organization && features != allowed {
        out.push(format!(
            "the last entitlements.changed ends at {features:?}; the API allows {allowed:?}"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::TableSub;

    fn rules() -> Rules {
        Rules {
            free_features: ["projects".to_owned()].into(),
            ..Rules::default()
        }
    }

    fn observed(status: &str, allowed: &[&str]) -> Observation {
        Observation {
            user: "u1".into(),
            customer: Some("cus_1".into()),
            table_subscriptions: vec![TableSub {
                id: "sub_1".into(),
                status: status.into(),
                ..TableSub::default()
            }],
            allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
            ..Observation::default()
        }
    }

    fn event(kind: &str, id: &str, version: u64, extra: Value) -> (String, Value) {
        let mut detail = json!({"id": id, "user_id": "u1", "customer_id": "cus_1", "subscription_id": "sub_1", "version": version});
        for (k, v) in extra.as_object().unwrap() {
            detail[k] = v.clone();
        }
        (kind.to_owned(), detail)
    }

    fn good() -> Vec<(String, Value)> {
        vec![
            event("subscription.created", "a", 5, json!({"status": "active"})),
            event(
                "entitlements.changed",
                "b",
                5,
                json!({"subscription_id": null, "before": ["projects"], "after": ["exports", "projects"]}),
            ),
        ]
    }

    #[test]
    fn a_consistent_feed_passes() {
        assert!(check(&rules(), &observed("active", &["exports", "projects"]), &good()).is_empty());
        let mut again = good();
        again.push(again[0].clone());
        assert!(
            check(&rules(), &observed("active", &["exports", "projects"]), &again).is_empty(),
            "a redelivery"
        );
    }

    #[test]
    fn each_kind_of_wrong_feed_is_reported() {
        let o = observed("active", &["exports", "projects"]);
        // A lost cancellation: the table says canceled, the feed never did.
        assert_eq!(check(&rules(), &observed("canceled", &["exports", "projects"]), &good()).len(), 1);
        // Another user's event.
        let mut leaked = good();
        leaked[0].1["user_id"] = "u2".into();
        assert_eq!(check(&rules(), &o, &leaked).len(), 1);
        // Going back in version.
        let mut back = good();
        back.push(event("subscription.updated", "c", 4, json!({"status": "active"})));
        assert_eq!(check(&rules(), &o, &back).len(), 1);
        // A broken chain, and an end that is not what the API allows.
        let mut chain = good();
        chain[1].1["before"] = json!([]);
        assert_eq!(check(&rules(), &o, &chain).len(), 1);
        assert_eq!(check(&rules(), &observed("active", &["projects"]), &good()).len(), 1);
        // The same id with another detail.
        let mut changed = good();
        let mut copy = changed[0].clone();
        copy.1["status"] = "canceled".into();
        changed.push(copy);
        assert_eq!(check(&rules(), &o, &changed).len(), 1);
        assert!(drained(&json!({"refused": 1, "parked": 0, "left": 0})).is_some());
        assert!(drained(&json!({"refused": 0, "parked": 0, "left": 0})).is_none());
    }
}
