//! Tolerant Stripe event envelopes: the few fields the webhook needs, read from the JSON value
//! without the full typed shape, so unknown fields and older API versions never fail an event.

use serde_json::{Map, Value};

use crate::domain::ids::EventId;

/// The generic part of a Stripe event.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `evt_…`
    pub id: String,
    /// `type`, e.g. `customer.subscription.updated`.
    pub event_type: String,
    /// Unix seconds.
    pub created: i64,
    pub livemode: bool,
    /// `None` when absent or `null`.
    pub api_version: Option<String>,
    /// `data.object`: always a JSON object with a string `id`.
    pub object: Value,
    /// `data.previous_attributes` (update events); `None` when absent or `null`.
    pub previous_attributes: Option<Value>,
    /// The connected account (Connect events); `None` when absent or `null`.
    pub account: Option<String>,
}

impl Envelope {
    /// `data.object.id`. Some objects have none (the entitlement summary, balances).
    pub fn object_id(&self) -> Option<&str> {
        self.object.get("id").and_then(Value::as_str)
    }

    /// `data.object.object`, the object's type (`subscription`, `customer`, …), when present.
    pub fn object_type(&self) -> Option<&str> {
        self.object.get("object").and_then(Value::as_str)
    }
}

/// Why a payload is not a usable Stripe event. Messages name fields, never payload content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("event payload is not UTF-8")]
    NotUtf8,
    #[error("event payload is not JSON (line {line}, column {column})")]
    InvalidJson { line: usize, column: usize },
    #[error("event payload is not a JSON object")]
    NotAnObject,
    #[error("event field `{0}` is missing")]
    MissingField(&'static str),
    #[error("event field `{0}` has an invalid value")]
    InvalidField(&'static str),
}

impl EnvelopeError {
    /// A stable code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotUtf8 => "not_utf8",
            Self::InvalidJson { .. } => "invalid_json",
            Self::NotAnObject => "not_an_object",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField(_) => "invalid_field",
        }
    }

    /// The field at fault, as a dotted path (`data.object.id`), for the field errors.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::MissingField(field) | Self::InvalidField(field) => Some(field),
            _ => None,
        }
    }
}

/// Removes `key` from `map`, treating `null` as absent.
fn take(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    map.remove(key).filter(|v| !v.is_null())
}

fn required(map: &mut Map<String, Value>, key: &str, name: &'static str) -> Result<Value, EnvelopeError> {
    take(map, key).ok_or(EnvelopeError::MissingField(name))
}

fn optional_string(map: &mut Map<String, Value>, key: &str, name: &'static str) -> Result<Option<String>, EnvelopeError> {
    match take(map, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(EnvelopeError::InvalidField(name)),
    }
}

/// Reads the envelope of a Stripe event from its raw JSON bytes.
pub fn parse(payload: &[u8]) -> Result<Envelope, EnvelopeError> {
    let text = std::str::from_utf8(payload).map_err(|_| EnvelopeError::NotUtf8)?;
    let value: Value = serde_json::from_str(text).map_err(|e| EnvelopeError::InvalidJson {
        line: e.line(),
        column: e.column(),
    })?;
    parse_value(value)
}

/// Reads the envelope of a Stripe event already parsed as JSON (an event listed by the Events
/// API).
pub fn parse_value(value: Value) -> Result<Envelope, EnvelopeError> {
    let Value::Object(mut event) = value else {
        return Err(EnvelopeError::NotAnObject);
    };

    let id = match required(&mut event, "id", "id")? {
        // Well-formed (the id becomes a table key): see [`EventId`].
        Value::String(id) if EventId::parse(&id).is_some() => id,
        _ => return Err(EnvelopeError::InvalidField("id")),
    };
    let event_type = match required(&mut event, "type", "type")? {
        Value::String(t) if !t.trim().is_empty() => t,
        _ => return Err(EnvelopeError::InvalidField("type")),
    };
    let created = required(&mut event, "created", "created")?
        .as_i64()
        .ok_or(EnvelopeError::InvalidField("created"))?;
    let livemode = required(&mut event, "livemode", "livemode")?
        .as_bool()
        .ok_or(EnvelopeError::InvalidField("livemode"))?;
    let api_version = optional_string(&mut event, "api_version", "api_version")?;
    let account = optional_string(&mut event, "account", "account")?;

    let Value::Object(mut data) = required(&mut event, "data", "data")? else {
        return Err(EnvelopeError::InvalidField("data"));
    };
    let object = required(&mut data, "object", "data.object")?;
    // `id` is optional: some objects (e.g. `entitlements.active_entitlement_summary`) have none.
    match object.as_object().map(|o| o.get("id")) {
        None => return Err(EnvelopeError::InvalidField("data.object")),
        Some(None | Some(Value::Null)) => {}
        Some(Some(Value::String(id))) if !id.is_empty() => {}
        Some(Some(_)) => return Err(EnvelopeError::InvalidField("data.object.id")),
    }
    let previous_attributes = match take(&mut data, "previous_attributes") {
        None => None,
        Some(attrs @ Value::Object(_)) => Some(attrs),
        Some(_) => return Err(EnvelopeError::InvalidField("data.previous_attributes")),
    };

    Ok(Envelope {
        id,
        event_type,
        created,
        livemode,
        api_version,
        object,
        previous_attributes,
        account,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `customer.subscription.updated` event as Stripe sends it (API version 2025-03-31.basil).
    const SUBSCRIPTION_UPDATED: &str = r#"{
  "id": "evt_1QzXyZB7WZ01zgkWa1b2c3d4",
  "object": "event",
  "api_version": "2025-03-31.basil",
  "created": 1743465600,
  "data": {
    "object": {
      "id": "sub_1QzXwYB7WZ01zgkWNy0Cn5nw",
      "object": "subscription",
      "application": null,
      "automatic_tax": {"enabled": false, "liability": null, "disabled_reason": null},
      "billing_cycle_anchor": 1743379200,
      "cancel_at": null,
      "cancel_at_period_end": true,
      "canceled_at": 1743465599,
      "cancellation_details": {"comment": null, "feedback": "too_expensive", "reason": "cancellation_requested"},
      "collection_method": "charge_automatically",
      "created": 1743379200,
      "currency": "usd",
      "customer": "cus_QXg1o8vcGmoR32",
      "default_payment_method": "pm_1QzXvXB7WZ01zgkWc0ffee00",
      "discounts": [],
      "ended_at": null,
      "items": {
        "object": "list",
        "data": [
          {
            "id": "si_QXhVnC2h0Jczwc",
            "object": "subscription_item",
            "created": 1743379201,
            "current_period_end": 1746057600,
            "current_period_start": 1743379200,
            "discounts": [],
            "metadata": {},
            "price": {
              "id": "price_1PgafmB7WZ01zgkW6dKueIc5",
              "object": "price",
              "active": true,
              "currency": "usd",
              "lookup_key": "pro_monthly",
              "product": "prod_QXg1hqf4jFNsqG",
              "recurring": {"interval": "month", "interval_count": 1, "meter": null, "usage_type": "licensed"},
              "type": "recurring",
              "unit_amount": 2000
            },
            "quantity": 1,
            "subscription": "sub_1QzXwYB7WZ01zgkWNy0Cn5nw",
            "tax_rates": []
          }
        ],
        "has_more": false,
        "url": "/v1/subscription_items?subscription=sub_1QzXwYB7WZ01zgkWNy0Cn5nw"
      },
      "latest_invoice": "in_1QzXwZB7WZ01zgkWx9y8z7w6",
      "livemode": false,
      "metadata": {"user_id": "user_123"},
      "pause_collection": null,
      "start_date": 1743379200,
      "status": "active",
      "trial_end": null,
      "trial_start": null
    },
    "previous_attributes": {
      "cancel_at_period_end": false,
      "canceled_at": null,
      "cancellation_details": {"feedback": null, "reason": null}
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_9n8m7l6k5j4h3g", "idempotency_key": "5f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"},
  "type": "customer.subscription.updated"
}"#;

    /// An event at an old API version (2019-12-03: `plan`, `tax_percent`, period fields on the
    /// subscription) with fields this code has never heard of, sent to a Connect platform.
    const OLD_VERSION_UNKNOWN_FIELDS: &str = r#"{
  "id": "evt_1GqIC8HYgolSBA35zoWo3Hs2",
  "object": "event",
  "account": "acct_1PgafTB7WZ01zgkW",
  "api_version": "2019-12-03",
  "context": "some_future_context",
  "created": 1591210188,
  "data": {
    "object": {
      "id": "sub_HPDR5HdB8Wp0WB",
      "object": "subscription",
      "current_period_end": 1593802188,
      "current_period_start": 1591210188,
      "customer": "cus_HPDR8mQyg9b1Rm",
      "plan": {"id": "plan_pro", "object": "plan", "amount": 2000, "interval": "month"},
      "quantity": 1,
      "status": "trialing",
      "tax_percent": null,
      "brand_new_field": {"nested": [1, 2, 3]}
    },
    "previous_attributes": null,
    "another_unknown": true
  },
  "livemode": true,
  "pending_webhooks": 2,
  "request": "req_oldstyle_string_request",
  "type": "customer.subscription.created",
  "some_new_top_level_field": 42
}"#;

    fn event(mutate: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
        let Value::Object(mut event) = serde_json::from_str(SUBSCRIPTION_UPDATED).unwrap() else {
            unreachable!()
        };
        mutate(&mut event);
        serde_json::to_vec(&event).unwrap()
    }

    fn data_object(event: &mut Map<String, Value>) -> &mut Map<String, Value> {
        event["data"]["object"].as_object_mut().unwrap()
    }

    #[test]
    fn parses_subscription_updated() {
        let env = parse(SUBSCRIPTION_UPDATED.as_bytes()).unwrap();
        assert_eq!(env.id, "evt_1QzXyZB7WZ01zgkWa1b2c3d4");
        assert_eq!(env.event_type, "customer.subscription.updated");
        assert_eq!(env.created, 1_743_465_600);
        assert!(!env.livemode);
        assert_eq!(env.api_version.as_deref(), Some("2025-03-31.basil"));
        assert_eq!(env.object_id(), Some("sub_1QzXwYB7WZ01zgkWNy0Cn5nw"));
        assert_eq!(env.object_type(), Some("subscription"));
        assert_eq!(env.object["customer"], "cus_QXg1o8vcGmoR32");
        let prev = env.previous_attributes.as_ref().unwrap();
        assert_eq!(prev["cancel_at_period_end"], false);
        assert_eq!(env.account, None);
    }

    #[test]
    fn parses_old_api_version_with_unknown_fields() {
        let env = parse(OLD_VERSION_UNKNOWN_FIELDS.as_bytes()).unwrap();
        assert_eq!(env.id, "evt_1GqIC8HYgolSBA35zoWo3Hs2");
        assert_eq!(env.event_type, "customer.subscription.created");
        assert_eq!(env.api_version.as_deref(), Some("2019-12-03"));
        assert!(env.livemode);
        assert_eq!(env.object_id(), Some("sub_HPDR5HdB8Wp0WB"));
        assert_eq!(env.object["plan"]["id"], "plan_pro");
        assert_eq!(env.previous_attributes, None);
        assert_eq!(env.account.as_deref(), Some("acct_1PgafTB7WZ01zgkW"));
    }

    #[test]
    fn missing_pending_webhooks_and_request_are_fine() {
        let payload = event(|e| {
            e.remove("pending_webhooks");
            e.remove("request");
        });
        assert_eq!(parse(&payload).unwrap().id, "evt_1QzXyZB7WZ01zgkWa1b2c3d4");
    }

    #[test]
    fn null_api_version_and_no_object_type_are_fine() {
        let payload = event(|e| {
            e.insert("api_version".into(), Value::Null);
            data_object(e).remove("object");
        });
        let env = parse(&payload).unwrap();
        assert_eq!(env.api_version, None);
        assert_eq!(env.object_type(), None);
    }

    #[test]
    fn invalid_json_is_rejected() {
        for bad in [&b""[..], b"{", b"not json", b"{\"id\": \"evt_1\",}", &[b'['; 10_000]] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.reason(), "invalid_json", "{err}");
        }
    }

    #[test]
    fn non_utf8_is_rejected() {
        let mut payload = SUBSCRIPTION_UPDATED.as_bytes().to_vec();
        payload[20] = 0xff;
        assert_eq!(parse(&payload), Err(EnvelopeError::NotUtf8));
        assert_eq!(parse(b"\xff\xfe{}").unwrap_err().reason(), "not_utf8");
    }

    #[test]
    fn non_object_json_is_rejected() {
        for bad in ["[]", "null", "\"evt_1\"", "42"] {
            assert_eq!(parse(bad.as_bytes()), Err(EnvelopeError::NotAnObject), "{bad}");
        }
    }

    #[test]
    fn missing_id_is_rejected() {
        let payload = event(|e| {
            e.remove("id");
        });
        let err = parse(&payload).unwrap_err();
        assert_eq!(err, EnvelopeError::MissingField("id"));
        assert_eq!((err.reason(), err.field()), ("missing_field", Some("id")));
    }

    #[test]
    fn id_without_evt_prefix_is_rejected() {
        for bad in [
            Value::from("sub_123"),
            Value::from("evt_"),
            Value::from("evt_a/b"),
            Value::from(12),
            Value::from("evt_".repeat(100)),
        ] {
            let payload = event(|e| {
                e.insert("id".into(), bad);
            });
            assert_eq!(parse(&payload), Err(EnvelopeError::InvalidField("id")));
        }
    }

    #[test]
    fn missing_or_empty_type_is_rejected() {
        let payload = event(|e| {
            e.remove("type");
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::MissingField("type")));
        let payload = event(|e| {
            e.insert("type".into(), "".into());
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::InvalidField("type")));
    }

    #[test]
    fn created_and_livemode_are_required_and_typed() {
        let payload = event(|e| {
            e.insert("created".into(), "1743465600".into());
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::InvalidField("created")));
        let payload = event(|e| {
            e.insert("created".into(), Value::from(1.5));
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::InvalidField("created")));
        let payload = event(|e| {
            e.remove("livemode");
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::MissingField("livemode")));
        let payload = event(|e| {
            e.insert("livemode".into(), "false".into());
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::InvalidField("livemode")));
    }

    #[test]
    fn data_object_not_an_object_is_rejected() {
        for bad in [Value::from("sub_123"), Value::from(vec![1, 2]), Value::from(7)] {
            let payload = event(|e| {
                e.get_mut("data").unwrap()["object"] = bad;
            });
            assert_eq!(parse(&payload), Err(EnvelopeError::InvalidField("data.object")));
        }
        let payload = event(|e| {
            e.get_mut("data").unwrap().as_object_mut().unwrap().remove("object");
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::MissingField("data.object")));
        let payload = event(|e| {
            e.insert("data".into(), "nope".into());
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::InvalidField("data")));
        let payload = event(|e| {
            e.remove("data");
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::MissingField("data")));
    }

    #[test]
    fn data_object_id_is_optional_but_a_string_when_present() {
        let payload = event(|e| {
            data_object(e).remove("id");
        });
        assert_eq!(parse(&payload).map(|e| e.object_id().map(str::to_owned)), Ok(None));
        let payload = event(|e| {
            data_object(e).insert("id".into(), Value::from(5));
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::InvalidField("data.object.id")));
    }

    #[test]
    fn optional_fields_of_the_wrong_type_are_rejected() {
        let payload = event(|e| {
            e.insert("api_version".into(), Value::from(2019));
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::InvalidField("api_version")));
        let payload = event(|e| {
            e.get_mut("data").unwrap()["previous_attributes"] = Value::from("x");
        });
        assert_eq!(parse(&payload), Err(EnvelopeError::InvalidField("data.previous_attributes")));
    }

    #[test]
    fn error_messages_do_not_echo_the_payload() {
        let err = parse(br#"{"id": "evt_1", "type": "secret-ish-content" "#).unwrap_err();
        assert!(!err.to_string().contains("secret-ish"), "{err}");
    }
}
