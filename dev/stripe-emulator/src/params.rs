//! Typed reads of a decoded form (see [`crate::form`]) with Stripe-style errors naming the
//! parameter.

use serde_json::{Map, Value};

use crate::error::StripeError;
use crate::model::Metadata;

pub struct Params {
    root: Value,
}

impl Params {
    pub fn parse(bytes: &[u8]) -> Result<Self, StripeError> {
        crate::form::parse(bytes)
            .map(|root| Self { root })
            .map_err(|key| StripeError::invalid(key.clone(), format!("Invalid parameter name: {key}")))
    }

    /// Parameters from an already decoded tree (a nested object such as `subscription_details`).
    pub fn from_value(root: Value) -> Self {
        match root {
            Value::Object(_) => Self { root },
            _ => Self::empty(),
        }
    }

    /// The top-level parameter names given.
    pub fn keys(&self) -> Vec<&str> {
        self.object().keys().map(String::as_str).collect()
    }

    pub fn empty() -> Self {
        Self {
            root: Value::Object(Map::new()),
        }
    }

    fn object(&self) -> &Map<String, Value> {
        self.root.as_object().expect("form root is an object")
    }

    /// Rejects top-level parameters outside `known` (`expand` is always allowed).
    pub fn allow(&self, known: &[&str]) -> Result<(), StripeError> {
        match self.object().keys().find(|k| *k != "expand" && !known.contains(&k.as_str())) {
            Some(unknown) => Err(StripeError::unknown_param(unknown)),
            None => Ok(()),
        }
    }

    pub fn value(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(&self.root, |node, key| match key.parse::<usize>() {
            Ok(i) => node.get(i),
            Err(_) => node.get(key),
        })
    }

    pub fn str(&self, path: &str) -> Result<Option<&str>, StripeError> {
        match self.value(path) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(StripeError::invalid(display(path), format!("Invalid string: {}", display(path)))),
        }
    }

    pub fn required_str(&self, path: &str) -> Result<&str, StripeError> {
        self.str(path)?.ok_or_else(|| StripeError::missing_param(&display(path)))
    }

    pub fn bool(&self, path: &str) -> Result<Option<bool>, StripeError> {
        match self.str(path)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(StripeError::invalid(display(path), format!("Invalid boolean: {}", display(path)))),
        }
    }

    pub fn u64(&self, path: &str) -> Result<Option<u64>, StripeError> {
        self.integer(path)
    }

    pub fn i64(&self, path: &str) -> Result<Option<i64>, StripeError> {
        self.integer(path)
    }

    /// A decimal number (`percent_off=25.5`).
    pub fn f64(&self, path: &str) -> Result<Option<f64>, StripeError> {
        self.str(path)?
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| StripeError::invalid(display(path), format!("Invalid decimal: {s}")))
            })
            .transpose()
    }

    fn integer<T: std::str::FromStr>(&self, path: &str) -> Result<Option<T>, StripeError> {
        self.str(path)?
            .map(|s| {
                s.parse()
                    .map_err(|_| StripeError::invalid(display(path), format!("Invalid integer: {s}")))
            })
            .transpose()
    }

    /// `limit` between 1 and 100, default 10.
    pub fn limit(&self) -> Result<usize, StripeError> {
        match self.u64("limit")? {
            None => Ok(10),
            Some(n @ 1..=100) => Ok(n as usize),
            Some(_) => Err(StripeError::invalid("limit", "This value must be between 1 and 100.")),
        }
    }

    pub fn metadata(&self, path: &str) -> Result<Metadata, StripeError> {
        match self.value(path) {
            None | Some(Value::String(_)) => Ok(Metadata::new()),
            Some(Value::Object(map)) => {
                if map.len() > 50 {
                    return Err(StripeError::invalid(display(path), "Metadata can have at most 50 keys."));
                }
                map.iter()
                    .map(|(k, v)| match v {
                        Value::String(s) if k.len() <= 40 && s.len() <= 500 => Ok((k.clone(), s.clone())),
                        _ => Err(StripeError::invalid(format!("{}[{k}]", display(path)), "Invalid metadata value.")),
                    })
                    .collect()
            }
            Some(_) => Err(StripeError::invalid(display(path), "Invalid metadata.")),
        }
    }

    /// The elements of an array parameter (`items[0]…`, `lookup_keys[]`).
    pub fn array_len(&self, path: &str) -> usize {
        self.value(path).and_then(Value::as_array).map_or(0, Vec::len)
    }

    pub fn strings(&self, path: &str) -> Vec<String> {
        self.value(path)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// `line_items.0.price` → `line_items[0][price]`.
pub fn display(path: &str) -> String {
    let mut parts = path.split('.');
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        out.push('[');
        out.push_str(part);
        out.push(']');
    }
    out
}

/// Newest-first pagination with `starting_after`: returns the page and `has_more`.
pub fn paginate(items: Vec<(String, Value)>, starting_after: Option<&str>, limit: usize) -> Result<(Vec<Value>, bool), StripeError> {
    let start = match starting_after {
        None => 0,
        Some(cursor) => items
            .iter()
            .position(|(id, _)| id == cursor)
            .map(|i| i + 1)
            .ok_or_else(|| StripeError::no_such_ref("object", cursor, "starting_after"))?,
    };
    let rest: Vec<Value> = items.into_iter().skip(start).map(|(_, v)| v).collect();
    let has_more = rest.len() > limit;
    Ok((rest.into_iter().take(limit).collect(), has_more))
}

/// Newest-first pagination with `starting_after` or `ending_before` (Stripe refuses both).
pub fn paginate_both(
    items: Vec<(String, Value)>,
    starting_after: Option<&str>,
    ending_before: Option<&str>,
    limit: usize,
) -> Result<(Vec<Value>, bool), StripeError> {
    let Some(cursor) = ending_before else {
        return paginate(items, starting_after, limit);
    };
    if starting_after.is_some() {
        return Err(StripeError::invalid(
            "ending_before",
            "You may only specify one of these parameters: ending_before, starting_after.",
        ));
    }
    let end = items
        .iter()
        .position(|(id, _)| id == cursor)
        .ok_or_else(|| StripeError::no_such_ref("object", cursor, "ending_before"))?;
    let start = end.saturating_sub(limit);
    let page = items.into_iter().skip(start).take(end - start).map(|(_, v)| v).collect();
    Ok((page, start > 0))
}

/// A `proration_behavior`-like enum parameter.
pub fn one_of<'a>(params: &'a Params, path: &str, allowed: &[&str]) -> Result<Option<&'a str>, StripeError> {
    match params.str(path)? {
        Some(value) if !allowed.contains(&value) => Err(StripeError::invalid(
            display(path),
            format!("Invalid {}: must be one of {}", display(path), allowed.join(", ")),
        )),
        other => Ok(other),
    }
}
