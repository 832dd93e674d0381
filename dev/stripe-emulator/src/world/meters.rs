//! Billing Meters: seeded from the catalog's usage meters, listed, created, updated,
//! deactivated and reactivated; meter events (validated as Stripe validates them, identifiers
//! unique); event summaries; and the aggregated usage renewal invoices bill (see
//! [`World::usage_lines`]).

use std::hash::{DefaultHasher, Hash, Hasher};

use super::*;
use crate::params::one_of;

const FORMULAS: &[&str] = &["sum", "count", "last"];
const WINDOWS: &[&str] = &["day", "hour"];
/// How old a meter event's timestamp may be ("within the past 35 calendar days").
const EVENT_MAX_AGE: i64 = 35 * DAY;
/// How far ahead of the clock a meter event's timestamp may be (clock drift).
const EVENT_MAX_AHEAD: i64 = 5 * 60;
/// How long Stripe remembers a meter event's identifier (a repeat within it is refused).
pub const IDENTIFIER_WINDOW_SECS: i64 = 86_400;

/// Longest event name and identifier Stripe accepts.
const MAX_NAME: usize = 100;

/// `api_calls` → `Api calls`.
fn display_name(event_name: &str) -> String {
    let spaced = event_name.replace(['_', '.', ':', '-'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// `prefix_` and 14 base-62 characters derived from `parts` (stable, so that a list can be paged).
fn stable_id(prefix: &str, parts: &[&str]) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    let mut n = u128::from(hasher.finish()) | (u128::from(parts.len() as u64) << 64);
    let mut out = format!("{prefix}_");
    for _ in 0..14 {
        out.push(ALPHABET[(n % 62) as usize] as char);
        n /= 62;
    }
    out
}

/// A UUID-like identifier for a meter event sent without one.
fn generated_identifier() -> String {
    let (a, b) = (crate::ids::random_u64(), crate::ids::random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

impl World {
    /// A meter for a catalog usage meter: `event_name` is the catalog's meter name, `sum` of
    /// `payload[value]` per `payload[stripe_customer_id]`.
    pub(super) fn seed_meter(&mut self, event_name: &str, now: i64) -> String {
        let id = new_id("mtr_test");
        self.meters.insert(
            id.clone(),
            Meter {
                id: id.clone(),
                display_name: display_name(event_name),
                event_name: event_name.to_owned(),
                formula: "sum".into(),
                customer_key: "stripe_customer_id".into(),
                value_key: "value".into(),
                event_time_window: None,
                status: "active".into(),
                deactivated_at: None,
                created: now,
                updated: now,
            },
        );
        self.track(&id);
        id
    }

    fn meter_of(&self, id: &str) -> Result<&Meter, StripeError> {
        self.meters.get(id).ok_or_else(|| StripeError::no_such("meter", id, "id"))
    }

    pub fn meter(&self, id: &str) -> Result<Value, StripeError> {
        self.meter_of(id).map(Meter::render)
    }

    /// `GET /v1/billing/meters`: `status`; newest first.
    pub fn list_meters(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["status", "limit", "starting_after", "ending_before"])?;
        let status = one_of(params, "status", &["active", "inactive"])?;
        let ids = self.newest_first(self.meters.keys());
        let items = ids
            .iter()
            .map(|id| &self.meters[id])
            .filter(|m| status.is_none_or(|s| m.status == s))
            .map(|m| (m.id.clone(), m.render()))
            .collect();
        let (data, has_more) = paginate_both(items, params.str("starting_after")?, params.str("ending_before")?, params.limit()?)?;
        Ok(list("/v1/billing/meters", data, has_more))
    }

    /// `POST /v1/billing/meters`: `display_name`, `event_name`, `default_aggregation[formula]`,
    /// `customer_mapping[event_payload_key|type]`, `value_settings[event_payload_key]`,
    /// `event_time_window`. An event name belongs to one meter.
    pub fn create_meter(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "display_name",
            "event_name",
            "default_aggregation",
            "customer_mapping",
            "value_settings",
            "event_time_window",
        ])?;
        let display_name = params.required_str("display_name")?;
        if display_name.chars().count() > 250 {
            return Err(StripeError::invalid("display_name", "display_name must be at most 250 characters."));
        }
        let event_name = params.required_str("event_name")?;
        if event_name.chars().count() > MAX_NAME {
            return Err(StripeError::invalid("event_name", "event_name must be at most 100 characters."));
        }
        let formula = one_of(params, "default_aggregation.formula", FORMULAS)?
            .ok_or_else(|| StripeError::missing_param("default_aggregation[formula]"))?;
        let customer_key = match params.value("customer_mapping") {
            None => "stripe_customer_id",
            Some(_) => {
                one_of(params, "customer_mapping.type", &["by_id"])?.ok_or_else(|| StripeError::missing_param("customer_mapping[type]"))?;
                params.required_str("customer_mapping.event_payload_key")?
            }
        };
        let value_key = match params.value("value_settings") {
            None => "value",
            Some(_) => params.required_str("value_settings.event_payload_key")?,
        };
        let window = one_of(params, "event_time_window", WINDOWS)?;
        if let Some(other) = self.meters.values().find(|m| m.event_name == event_name) {
            return Err(StripeError::invalid(
                "event_name",
                format!(
                    "A meter with the event name `{event_name}` already exists (`{}`): an event name belongs to one meter.",
                    other.id
                ),
            ));
        }
        let now = self.now();
        let id = new_id("mtr_test");
        let meter = Meter {
            id: id.clone(),
            display_name: display_name.to_owned(),
            event_name: event_name.to_owned(),
            formula: formula.to_owned(),
            customer_key: customer_key.to_owned(),
            value_key: value_key.to_owned(),
            event_time_window: window.map(str::to_owned),
            status: "active".into(),
            deactivated_at: None,
            created: now,
            updated: now,
        };
        let rendered = meter.render();
        self.meters.insert(id.clone(), meter);
        self.track(&id);
        self.emit("billing.meter.created", rendered.clone(), None);
        Ok(rendered)
    }

    /// `POST /v1/billing/meters/{id}`: `display_name` (nothing else of a meter changes).
    pub fn update_meter(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["display_name"])?;
        let before = self.meter_of(id)?.render();
        if let Some(name) = params.str("display_name")? {
            if name.chars().count() > 250 {
                return Err(StripeError::invalid("display_name", "display_name must be at most 250 characters."));
            }
            let now = self.now();
            let meter = self.meters.get_mut(id).expect("checked");
            meter.display_name = name.to_owned();
            meter.updated = now;
        }
        let after = self.meters[id].render();
        if let Some(previous) = super::subscriptions::changed_fields(&before, &after) {
            self.emit("billing.meter.updated", after.clone(), Some(previous));
        }
        Ok(after)
    }

    /// `POST /v1/billing/meters/{id}/deactivate` and `/reactivate`: a deactivated meter accepts
    /// no events.
    pub fn set_meter_active(&mut self, id: &str, active: bool, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[])?;
        let meter = self.meter_of(id)?;
        let wanted = if active { "active" } else { "inactive" };
        if meter.status == wanted {
            return Err(StripeError::state(format!("This meter is already {wanted}.")));
        }
        if active
            && let Some(other) = self
                .meters
                .values()
                .find(|m| m.id != id && m.status == "active" && m.event_name == meter.event_name)
        {
            return Err(StripeError::state(format!(
                "Another active meter (`{}`) uses the event name `{}`.",
                other.id, meter.event_name
            )));
        }
        let now = self.now();
        let meter = self.meters.get_mut(id).expect("checked");
        meter.status = wanted.to_owned();
        meter.deactivated_at = (!active).then_some(now);
        meter.updated = now;
        let rendered = meter.render();
        let event = if active {
            "billing.meter.reactivated"
        } else {
            "billing.meter.deactivated"
        };
        self.emit(event, rendered.clone(), None);
        Ok(rendered)
    }

    /// `POST /v1/billing/meter_events`: `event_name` (an active meter's), `payload` (the meter's
    /// customer key naming an existing customer, its value key a number), `timestamp` (within
    /// the past 35 days, at most 5 minutes ahead; default now), `identifier` (default generated).
    /// As Stripe does, an identifier already recorded is refused (`400`, "An event already exists
    /// with identifier …"): a repeat never counts twice. (A retry with the same `Idempotency-Key`
    /// replays the first answer instead.)
    pub fn create_meter_event(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["event_name", "payload", "identifier", "timestamp"])?;
        let event_name = params.required_str("event_name")?;
        if event_name.chars().count() > MAX_NAME {
            return Err(StripeError::invalid("event_name", "event_name must be at most 100 characters."));
        }
        let payload: Metadata = match params.value("payload") {
            None => return Err(StripeError::missing_param("payload")),
            Some(Value::String(s)) if s.is_empty() => return Err(StripeError::missing_param("payload")),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(key, value)| match value {
                    Value::String(s) => Ok((key.clone(), s.clone())),
                    _ => Err(StripeError::invalid(
                        format!("payload[{key}]"),
                        format!("Invalid string: payload[{key}]"),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(StripeError::invalid("payload", "Invalid hash: payload")),
        };
        let identifier = params.str("identifier")?.map(str::to_owned);
        if identifier.as_ref().is_some_and(|i| i.chars().count() > MAX_NAME) {
            return Err(StripeError::invalid("identifier", "identifier must be at most 100 characters."));
        }
        let meter = self
            .meters
            .values()
            .find(|m| m.status == "active" && m.event_name == event_name)
            .cloned()
            .ok_or_else(|| StripeError {
                code: None,
                ..StripeError::invalid("event_name", format!("No active meter found for event name \"{event_name}\"."))
            })?;
        let now = self.now();
        let timestamp = params.i64("timestamp")?.unwrap_or(now);
        if timestamp < now - EVENT_MAX_AGE {
            return Err(StripeError {
                code: None,
                ..StripeError::invalid(
                    "timestamp",
                    format!(
                        "The event timestamp cannot be more than 35 days in past. Expected a timestamp greater than or equal to {}.",
                        now - EVENT_MAX_AGE
                    ),
                )
            });
        }
        if timestamp > now + EVENT_MAX_AHEAD {
            return Err(StripeError {
                code: None,
                ..StripeError::invalid("timestamp", "The event timestamp cannot be in future.")
            });
        }
        let customer_param = format!("payload[{}]", meter.customer_key);
        let customer = payload
            .get(&meter.customer_key)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| StripeError::missing_param(&customer_param))?
            .clone();
        // "The numerical usage value in the payload only accepts whole number values"
        // (negative ones included).
        let value = if meter.formula == "count" {
            0
        } else {
            let value_param = format!("payload[{}]", meter.value_key);
            let text = payload
                .get(&meter.value_key)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| StripeError::missing_param(&value_param))?;
            text.parse::<i64>().map_err(|_| {
                StripeError::invalid(
                    &value_param,
                    format!("Invalid value for {value_param}: `{text}`. The usage value must be a whole number."),
                )
            })?
        };
        self.live_customer(&customer, &customer_param)?;
        let identifier = identifier.unwrap_or_else(generated_identifier);
        // Stripe de-duplicates identifiers for 24 hours: after that the same one counts anew.
        if self
            .meter_identifiers
            .get(&identifier)
            .is_some_and(|recorded| now - recorded < IDENTIFIER_WINDOW_SECS)
        {
            return Err(StripeError {
                code: None,
                ..StripeError::invalid("identifier", format!("An event already exists with identifier {identifier}."))
            });
        }
        let event = MeterEvent {
            identifier: identifier.clone(),
            event_name: event_name.to_owned(),
            payload,
            timestamp,
            created: now,
            meter: meter.id.clone(),
            customer,
            value,
            seq: self.meter_events.len() as u64,
        };
        let rendered = event.render();
        self.meter_identifiers.insert(identifier, now);
        self.meter_events.push(event);
        Ok(rendered)
    }

    /// The meter's aggregate of `customer`'s events with `from <= timestamp < to`, and whether
    /// any event counted: `sum` of values, `count` of events, or the `last` value. With an
    /// `event_time_window`, only the last event received in each window counts.
    pub(super) fn meter_usage(&self, meter_id: &str, customer: &str, from: i64, to: i64) -> (i64, bool) {
        let Some(meter) = self.meters.get(meter_id) else {
            return (0, false);
        };
        let mut events: Vec<&MeterEvent> = self
            .meter_events
            .iter()
            .filter(|e| e.meter == meter.id && e.customer == customer && (from..to).contains(&e.timestamp))
            .collect();
        if let Some(window) = &meter.event_time_window {
            let length = if window == "hour" { 3600 } else { DAY };
            let mut latest: BTreeMap<i64, &MeterEvent> = BTreeMap::new();
            for event in events {
                let slot = latest.entry(event.timestamp.div_euclid(length)).or_insert(event);
                if event.seq > slot.seq {
                    *slot = event;
                }
            }
            events = latest.into_values().collect();
        }
        let value = match meter.formula.as_str() {
            "count" => events.len() as i64,
            "last" => events.iter().max_by_key(|e| (e.timestamp, e.seq)).map_or(0, |e| e.value),
            _ => events.iter().fold(0i64, |sum, e| sum.saturating_add(e.value)),
        };
        (value, !events.is_empty())
    }

    /// `GET /v1/billing/meters/{id}/event_summaries`: `customer`, `start_time` (inclusive) and
    /// `end_time` (exclusive), both on minute boundaries (hour or UTC day boundaries with
    /// `value_grouping_window`). One summary for the range, or one per hour or day with events,
    /// newest first.
    pub fn list_meter_event_summaries(&self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "customer",
            "start_time",
            "end_time",
            "value_grouping_window",
            "limit",
            "starting_after",
            "ending_before",
        ])?;
        let meter = self.meter_of(id)?;
        let customer = params.required_str("customer")?;
        let start = params.i64("start_time")?.ok_or_else(|| StripeError::missing_param("start_time"))?;
        let end = params.i64("end_time")?.ok_or_else(|| StripeError::missing_param("end_time"))?;
        let window = one_of(params, "value_grouping_window", WINDOWS)?;
        let (unit, boundary) = match window {
            Some("hour") => (3600, "hour"),
            Some(_) => (DAY, "UTC day"),
            None => (60, "minute"),
        };
        for (param, time) in [("start_time", start), ("end_time", end)] {
            if time.rem_euclid(unit) != 0 {
                return Err(StripeError::invalid(
                    param,
                    format!("{param} must be aligned with {boundary} boundaries."),
                ));
            }
        }
        if end <= start {
            return Err(StripeError::invalid("end_time", "end_time must be after start_time."));
        }
        self.live_customer(customer, "customer")?;
        let summary = |from: i64, to: i64, value: i64| {
            let id = stable_id("mtrusg_test", &[&meter.id, customer, &from.to_string(), &to.to_string()]);
            let rendered = json!({
                "id": id, "object": "billing.meter_event_summary", "aggregated_value": value,
                "end_time": to, "livemode": false, "meter": meter.id, "start_time": from
            });
            (id, rendered)
        };
        let items: Vec<(String, Value)> = match window {
            None => {
                let (value, _) = self.meter_usage(&meter.id, customer, start, end);
                vec![summary(start, end, value)]
            }
            Some(_) => {
                let mut windows = Vec::new();
                let mut from = start;
                while from < end {
                    let to = (from + unit).min(end);
                    let (value, any) = self.meter_usage(&meter.id, customer, from, to);
                    if any {
                        windows.push(summary(from, to, value));
                    }
                    from = to;
                }
                windows.reverse();
                windows
            }
        };
        let (data, has_more) = paginate_both(items, params.str("starting_after")?, params.str("ending_before")?, params.limit()?)?;
        Ok(list(&format!("/v1/billing/meters/{}/event_summaries", meter.id), data, has_more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_read_as_words() {
        assert_eq!(display_name("api_calls"), "Api calls");
        assert_eq!(display_name(""), "");
    }

    #[test]
    fn generated_identifiers_look_like_uuids() {
        let id = generated_identifier();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.split('-').map(str::len).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12]);
        assert_ne!(id, generated_identifier());
    }

    #[test]
    fn summary_ids_are_stable() {
        assert_eq!(stable_id("mtrusg_test", &["a", "b"]), stable_id("mtrusg_test", &["a", "b"]));
        assert_ne!(stable_id("mtrusg_test", &["a", "b"]), stable_id("mtrusg_test", &["a", "c"]));
    }
}
