//! Stripe's form encoding: `a=1&b[c]=2&items[0][price]=p&expand[]=x` → a JSON tree.
//! Numeric and empty brackets build arrays; other brackets build objects.

use serde_json::{Map, Value};

/// Parses a form body or query string. A malformed key (unbalanced brackets, an index gap) is an
/// error naming the key.
pub fn parse(input: &[u8]) -> Result<Value, String> {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(input) {
        let path = split_key(&key).ok_or_else(|| key.to_string())?;
        insert(&mut root, &path, Value::String(value.into_owned())).map_err(|()| key.to_string())?;
    }
    Ok(root)
}

enum Segment {
    Name(String),
    Index(usize),
    Push,
}

fn split_key(key: &str) -> Option<Vec<Segment>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut path = vec![Segment::Name(head.to_owned())];
    while !rest.is_empty() {
        let close = rest.find(']')?;
        if !rest.starts_with('[') {
            return None;
        }
        let inner = &rest[1..close];
        path.push(if inner.is_empty() {
            Segment::Push
        } else if let Ok(i) = inner.parse::<usize>() {
            Segment::Index(i)
        } else {
            Segment::Name(inner.to_owned())
        });
        rest = &rest[close + 1..];
    }
    Some(path)
}

fn insert(node: &mut Value, path: &[Segment], value: Value) -> Result<(), ()> {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return Ok(());
    };
    let fresh = |rest: &[Segment]| match rest.first() {
        Some(Segment::Index(_) | Segment::Push) => Value::Array(Vec::new()),
        Some(Segment::Name(_)) => Value::Object(Map::new()),
        None => Value::Null,
    };
    match first {
        Segment::Name(name) => {
            let map = node.as_object_mut().ok_or(())?;
            let child = map.entry(name.clone()).or_insert_with(|| fresh(rest));
            insert(child, rest, value)
        }
        Segment::Index(i) => {
            let list = node.as_array_mut().ok_or(())?;
            if *i > list.len() || *i > 1000 {
                return Err(());
            }
            if *i == list.len() {
                list.push(fresh(rest));
            }
            insert(&mut list[*i], rest, value)
        }
        Segment::Push => {
            let list = node.as_array_mut().ok_or(())?;
            list.push(fresh(rest));
            let last = list.len() - 1;
            insert(&mut list[last], rest, value)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_keys_build_a_tree() {
        let v = parse(b"mode=subscription&line_items[0][price]=price_1&line_items[0][quantity]=2&metadata[user_id]=u%231&expand[]=a&expand[]=b&subscription_data[metadata][plan]=pro").unwrap();
        assert_eq!(
            v,
            json!({"mode": "subscription", "line_items": [{"price": "price_1", "quantity": "2"}], "metadata": {"user_id": "u#1"}, "expand": ["a", "b"], "subscription_data": {"metadata": {"plan": "pro"}}})
        );
    }

    #[test]
    fn malformed_keys_are_errors() {
        assert!(parse(b"a[b=1").is_err());
        assert!(parse(b"items[3][price]=x").is_err(), "index gap");
        assert!(parse(b"a=1&a[b]=2").is_err(), "scalar then object");
        assert!(parse(b"[x]=1").is_err());
    }
}
