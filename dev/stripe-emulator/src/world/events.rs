//! Events: retrieve and list.

use super::*;

impl World {
    pub fn event(&self, id: &str) -> Result<Value, StripeError> {
        self.events
            .iter()
            .find(|e| e.id == id)
            .map(Event::render)
            .ok_or_else(|| StripeError::no_such("event", id, "id"))
    }

    pub fn list_events(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["type", "types", "created", "limit", "starting_after", "delivery_success"])?;
        // `type` takes one name or a `*` pattern; `types` up to 20 exact names (Stripe's rules).
        let (types, patterns) = match params.str("type")? {
            Some(t) => (vec![t.to_owned()], true),
            None => (params.strings("types"), false),
        };
        if types.len() > 20 {
            return Err(StripeError::invalid(
                "types",
                "Invalid array: `types` may contain at most 20 event types.",
            ));
        }
        let matches_type = |t: &str| {
            types.is_empty()
                || types.iter().any(|p| match p.strip_suffix('*').filter(|_| patterns) {
                    Some(prefix) => t.starts_with(prefix),
                    None => p == t,
                })
        };
        let created = CreatedFilter::from_params(params)?;
        let items = self
            .events
            .iter()
            .rev()
            .filter(|e| matches_type(&e.event_type) && created.accepts(e.created))
            .map(|e| (e.id.clone(), e.render()))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/events", data, has_more))
    }
}

/// `created`, `created[gt]`, `created[gte]`, `created[lt]`, `created[lte]`.
pub(super) struct CreatedFilter {
    gt: Option<i64>,
    gte: Option<i64>,
    lt: Option<i64>,
    lte: Option<i64>,
    eq: Option<i64>,
}

impl CreatedFilter {
    pub(super) fn from_params(params: &Params) -> Result<Self, StripeError> {
        let eq = match params.value("created") {
            Some(Value::String(_)) => params.i64("created")?,
            _ => None,
        };
        Ok(Self {
            gt: params.i64("created.gt")?,
            gte: params.i64("created.gte")?,
            lt: params.i64("created.lt")?,
            lte: params.i64("created.lte")?,
            eq,
        })
    }

    pub(super) fn accepts(&self, t: i64) -> bool {
        self.gt.is_none_or(|v| t > v)
            && self.gte.is_none_or(|v| t >= v)
            && self.lt.is_none_or(|v| t < v)
            && self.lte.is_none_or(|v| t <= v)
            && self.eq.is_none_or(|v| t == v)
    }
}
