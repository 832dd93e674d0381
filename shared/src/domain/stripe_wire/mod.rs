//! Stripe objects as they come over the wire: the private serde shapes through which the domain
//! reads JSON, before it turns what was read into its snapshots ([`super::objects`],
//! [`super::schedules`], [`super::invoices`]) and applies its rules. Both sources of objects go
//! through them: event payloads (the webhook, reconcile) and the Stripe port's answers.
//!
//! They live in the domain, beside the parsers that use them, because event payloads are parsed
//! there and the domain depends on no adapter; they are `pub(crate)` so that the Stripe port
//! reads its pages ([`List`]) and the objects only it reads ([`Price`], …) through them too, and
//! so that no crate outside sees a shape that is not the domain's.
//!
//! Every shape is as tolerant as the JSON lookups it replaced:
//! - every field is optional (`#[serde(default)]`), and unknown fields are ignored, so older and
//!   newer API versions keep parsing;
//! - `null` reads as absent, and so does a value of another type than expected (a number sent
//!   as a string, an object where an id is expected): such a field is skipped, never the object;
//! - an object is read from a JSON object only (never positionally from an array); where an
//!   object is expected, anything else reads as an object with no fields;
//! - lists keep their elements' places: an element that is not an object reads as an empty one.

mod shapes;

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

pub(crate) use self::shapes::*;

/// Reads `value` as the shape `T`; `None` unless it is a JSON object.
pub(crate) fn read<'a, T: Deserialize<'a>>(value: &'a Value) -> Option<T> {
    Obj::<T>::deserialize(value).ok().map(|object| object.0)
}

/// `T` when the value has its shape; anything else is taken (and ignored) without an error.
#[derive(Deserialize)]
#[serde(untagged)]
enum Or<T> {
    Fit(T),
    Misfit(IgnoredAny),
}

impl<T> Or<T> {
    fn fit(self) -> Option<T> {
        match self {
            Or::Fit(value) => Some(value),
            Or::Misfit(_) => None,
        }
    }
}

/// `T` read from a JSON object only (a derived struct also reads an array, positionally).
#[derive(Debug)]
pub(crate) struct Obj<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapOnly<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapOnly<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_map(MapOnly(PhantomData)).map(Obj)
    }
}

/// A field Stripe sends as an id, or as the object when expanded.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Expandable<T> {
    Id(String),
    Object(Obj<Box<T>>),
}

/// An object with an id.
pub(crate) trait HasId {
    fn id(&self) -> Option<&str>;
}

impl<T: HasId> Expandable<T> {
    /// The id: the string (unless empty), or the object's `id`.
    pub(crate) fn id(&self) -> Option<&str> {
        match self {
            Expandable::Id(id) => Some(id.as_str()).filter(|id| !id.is_empty()),
            Expandable::Object(object) => object.0.id(),
        }
    }
}

impl<T> Expandable<T> {
    /// The object, when expanded.
    pub(crate) fn object(&self) -> Option<&T> {
        match self {
            Expandable::Object(object) => Some(&object.0),
            Expandable::Id(_) => None,
        }
    }
}

/// The id of an optional expandable field.
pub(crate) fn id_of<T: HasId>(field: Option<&Expandable<T>>) -> Option<String> {
    field?.id().map(str::to_owned)
}

/// An object of which only the id is read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Ref {
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
}

impl HasId for Ref {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// An id, or an object of which only the id is read.
pub(crate) type AnyId = Expandable<Ref>;

/// A list object (`{"object": "list", "data": […], "has_more": …}`).
#[derive(Debug, Deserialize)]
#[serde(default, bound(deserialize = "T: Deserialize<'de> + Default"))]
pub(crate) struct List<T> {
    /// `None` when `data` is not an array.
    #[serde(deserialize_with = "elements")]
    pub(crate) data: Option<Vec<T>>,
    #[serde(deserialize_with = "loose")]
    pub(crate) has_more: Option<bool>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self {
            data: None,
            has_more: None,
        }
    }
}

impl<T> List<T> {
    /// The elements (none when `data` is not an array).
    pub(crate) fn items(self) -> Vec<T> {
        self.data.unwrap_or_default()
    }
}

/// A field of type `T`; absent when `null` or of another type.
pub(crate) fn loose<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    Ok(Or::<T>::deserialize(deserializer)?.fit())
}

/// A nested object; an empty one when the value is not an object.
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(loose::<D, Obj<T>>(deserializer)?.map(|object| object.0).unwrap_or_default())
}

/// A nested object whose presence matters even when its value is not an object (`Some` of an
/// empty one); `None` only when the field is missing (with `#[serde(default)]`).
pub(crate) fn present_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    object(deserializer).map(Some)
}

/// A field whose presence matters even when its value does not read (`Some(None)`); `None` only
/// when the field is missing (with `#[serde(default)]`).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    loose(deserializer).map(Some)
}

/// An array of objects (an element that is not an object reads as an empty one); `None` when
/// the value is not an array.
pub(crate) fn elements<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let list: Option<Vec<Or<Obj<T>>>> = loose(deserializer)?;
    Ok(list.map(|list| {
        list.into_iter()
            .map(|element| element.fit().map(|object| object.0).unwrap_or_default())
            .collect()
    }))
}

/// An array of values of type `T` (`None` for an element of another type); `None` when the
/// value is not an array.
pub(crate) fn each<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Vec<Option<T>>>, D::Error> {
    let list: Option<Vec<Or<T>>> = loose(deserializer)?;
    Ok(list.map(|list| list.into_iter().map(Or::fit).collect()))
}

/// A map of objects (a value that is not an object reads as an empty one); empty when the value
/// is not an object.
pub(crate) fn object_map<'de, D, T>(deserializer: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let map: Option<BTreeMap<String, Or<Obj<T>>>> = loose(deserializer)?;
    Ok(map
        .into_iter()
        .flatten()
        .map(|(key, value)| (key, value.fit().map(|object| object.0).unwrap_or_default()))
        .collect())
}

/// A `metadata` map: its string values (others are skipped); empty when not an object.
pub(crate) fn strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map: Option<BTreeMap<String, Or<String>>> = loose(deserializer)?;
    Ok(map
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key, value.fit()?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Probe {
        #[serde(deserialize_with = "loose")]
        n: Option<i64>,
        #[serde(deserialize_with = "loose")]
        q: Option<u64>,
        #[serde(deserialize_with = "loose")]
        s: Option<String>,
        #[serde(deserialize_with = "loose")]
        b: Option<bool>,
        #[serde(deserialize_with = "loose")]
        customer: Option<AnyId>,
        #[serde(deserialize_with = "object")]
        nested: Ref,
        #[serde(default, deserialize_with = "present")]
        maybe: Option<Option<String>>,
        #[serde(deserialize_with = "elements")]
        list: Option<Vec<Ref>>,
        #[serde(deserialize_with = "strings")]
        metadata: BTreeMap<String, String>,
    }

    fn probe(value: Value) -> Probe {
        read(&value).expect("an object reads")
    }

    /// Also the guard of an assumption: numbers read through `loose` as plain integers, which
    /// serde_json's `arbitrary_precision` feature would break (every amount and timestamp
    /// would read as absent). Enabling it anywhere in the build fails this test.
    #[test]
    fn fields_of_another_type_read_as_absent() {
        let p = probe(json!({"n": "12", "q": -1, "s": 5, "b": "true", "customer": 7, "nested": [1], "list": {"0": {}}}));
        assert_eq!((p.n, p.q, p.s, p.b), (None, None, None, None));
        assert!(p.customer.is_none() && p.nested.id.is_none() && p.list.is_none());
        let p = probe(json!({"n": 1.5, "q": 1.0, "s": null, "b": null, "nested": null}));
        assert_eq!((p.n, p.q, p.s, p.b), (None, None, None, None));
        let p = probe(json!({"n": -3, "q": 4, "s": "x", "b": false, "nested": {"id": "r_1"}}));
        assert_eq!(
            (p.n, p.q, p.s.as_deref(), p.b, p.nested.id.as_deref()),
            (Some(-3), Some(4), Some("x"), Some(false), Some("r_1"))
        );
        assert_eq!(probe(json!({"n": u64::MAX})).n, None, "as Value::as_i64");
    }

    #[test]
    fn expandable_fields_are_an_id_or_an_object() {
        let id = |v: Value| id_of(probe(json!({ "customer": v })).customer.as_ref());
        assert_eq!(id(json!("cus_1")).as_deref(), Some("cus_1"));
        assert_eq!(id(json!({"id": "cus_2", "object": "customer"})).as_deref(), Some("cus_2"));
        assert_eq!(id(json!("")), None, "an empty id is none");
        assert_eq!(id(json!({"id": ""})).as_deref(), Some(""), "an object's id is as it is");
        assert_eq!(id(json!({"id": 5})), None);
        assert_eq!(id(json!(["cus_1"])), None, "never read from an array");
        assert_eq!(id(Value::Null), None);
    }

    #[test]
    fn presence_lists_and_metadata() {
        assert_eq!(probe(json!({})).maybe, None);
        assert_eq!(probe(json!({"maybe": null})).maybe, Some(None));
        assert_eq!(probe(json!({"maybe": "x"})).maybe, Some(Some("x".into())));
        let list = probe(json!({"list": [{"id": "a"}, "b", null, {"id": 1}]})).list.unwrap();
        let ids: Vec<Option<&str>> = list.iter().map(|r| r.id.as_deref()).collect();
        assert_eq!(ids, [Some("a"), None, None, None], "elements keep their places");
        let metadata = probe(json!({"metadata": {"user_id": "u1", "n": 1, "z": null}})).metadata;
        assert_eq!(metadata.into_iter().collect::<Vec<_>>(), [("user_id".to_owned(), "u1".to_owned())]);
        assert!(probe(json!({"metadata": ["user_id"]})).metadata.is_empty());
    }

    #[test]
    fn list_pages_keep_raw_elements_intact() {
        let event = json!({"id": "evt_1", "created": -5, "n": [1.5, u64::MAX, null, {"deep": true}], "s": "x"});
        let page: List<Value> = read(&json!({"data": [event.clone(), 7], "has_more": true})).unwrap();
        assert_eq!(page.data, Some(vec![event, Value::Null]));
        assert_eq!(page.has_more, Some(true));
        let page: List<Value> = read(&json!({"data": {"0": {}}})).unwrap();
        assert_eq!((page.data, page.has_more), (None, None), "data that is not an array is none");
    }

    #[test]
    fn only_objects_read_as_objects() {
        assert!(read::<Probe>(&json!([1, 2])).is_none());
        assert!(read::<Probe>(&json!("sub_1")).is_none());
        assert!(read::<Probe>(&Value::Null).is_none());
        assert!(
            read::<Probe>(&json!({"unknown": {"deep": [1]}})).is_some(),
            "unknown fields are ignored"
        );
    }
}
