//! The caller's organization, from the claims `ORG_ID_CLAIM` and `ORG_ROLE_CLAIM` name
//! ([`crate::config::OrgClaims`]), and the optional `org_name`.
//!
//! A claim name is looked up as a top-level claim first (`org_id`, or a namespaced
//! `https://example.com/org_role`), then as a dotted path into nested claims (Clerk's v2
//! session token: `o.id`, `o.rol`). A role may be a string or a list of strings.
//!
//! API Gateway's JWT authorizer hands claims on as strings, rendering an object as `map[k:v …]`
//! and a list as `[a b]`: renderings that cannot be read back without ambiguity (a value with a
//! space can pose as another key or another role). So through that context only an object
//! rendered as JSON is read as one, and a rendered list only when it holds a single role;
//! anything else fails closed (no organization, or not an admin). Put the organization claims
//! at the top level of the token as plain strings to use them behind that authorizer.

use serde_json::{Map, Value};

use crate::config::OrgClaims;
use crate::domain::billable;

/// The claim naming the organization's display name (used for its Stripe customer).
pub const ORG_NAME_CLAIM: &str = "org_name";
/// Longest organization name kept.
pub const MAX_ORG_NAME_LEN: usize = 200;

/// The organization a caller acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMember {
    pub org_id: String,
    /// Whether the caller's role is one of `ORG_ADMIN_ROLES`: may buy and manage.
    pub admin: bool,
    pub name: Option<String>,
}

/// Why a token's organization claims are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadOrgClaim;

/// The membership the claims carry: `Ok(None)` without the organization claim.
pub fn from_claims(rules: &OrgClaims, claims: &Map<String, Value>) -> Result<Option<OrgMember>, BadOrgClaim> {
    let Some(id) = lookup(claims, &rules.id_claim) else {
        // A nested claim whose root is there but unreadable (API Gateway's `map[…]`) must not
        // turn an organization's request into a personal one.
        return match rules.id_claim.split_once('.').and_then(|(root, _)| claims.get(root)) {
            Some(root) if !root.is_object() && !claims.contains_key(&rules.id_claim) => Err(BadOrgClaim),
            _ => Ok(None),
        };
    };
    let org_id = match id {
        Value::String(s) if billable::is_valid_org_id(s) => s.clone(),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::Null => return Ok(None),
        _ => return Err(BadOrgClaim),
    };
    let roles = lookup(claims, &rules.role_claim).map(roles_of).unwrap_or_default();
    let name = lookup(claims, ORG_NAME_CLAIM)
        .and_then(Value::as_str)
        .map(|n| {
            n.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_ORG_NAME_LEN)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty());
    Ok(Some(OrgMember {
        admin: roles.iter().any(|r| rules.is_admin(Some(r))),
        org_id,
        name,
    }))
}

/// The claims API Gateway's JWT authorizer passes on (every value a string).
pub fn from_context_claims<'a>(
    rules: &OrgClaims,
    claims: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<Option<OrgMember>, BadOrgClaim> {
    let map: Map<String, Value> = claims.map(|(k, v)| (k.clone(), context_value(v))).collect();
    from_claims(rules, &map)
}

/// A claim value as API Gateway passed it on: an object rendered as JSON is read back as an
/// object; a list rendered `[role]` holding one role as that role; anything else stays the
/// string it is (a `map[…]` or a `[a b]` rendering matches no organization id and no role).
fn context_value(value: &str) -> Value {
    if value.starts_with('{')
        && let Ok(object @ Value::Object(_)) = serde_json::from_str(value)
    {
        return object;
    }
    if let Some(single) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']'))
        && !single.is_empty()
        && !single.contains([' ', ',', '[', ']'])
    {
        return Value::Array(vec![Value::String(single.to_owned())]);
    }
    Value::String(value.to_owned())
}

fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn roles_of(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(claims: Value) -> Result<Option<OrgMember>, BadOrgClaim> {
        from_claims(&OrgClaims::default(), claims.as_object().expect("object"))
    }

    #[test]
    fn clerk_auth0_workos_and_context_shapes() {
        let clerk = read(json!({"org_id": "org_2a", "org_role": "org:admin", "org_name": "Acme"}))
            .unwrap()
            .unwrap();
        assert_eq!(
            (clerk.org_id.as_str(), clerk.admin, clerk.name.as_deref()),
            ("org_2a", true, Some("Acme"))
        );
        let member = read(json!({"org_id": "org_2a", "org_role": "org:member"})).unwrap().unwrap();
        assert!(!member.admin);
        assert_eq!(read(json!({"sub": "u"})).unwrap(), None);
        assert_eq!(read(json!({"org_id": 5})), Err(BadOrgClaim));
        assert_eq!(read(json!({"org_id": "a#b"})), Err(BadOrgClaim));
        let rules = OrgClaims {
            id_claim: "o.id".into(),
            role_claim: "https://example.com/roles".into(),
            admin_roles: vec!["admin".into()],
        };
        let nested = json!({"o": {"id": "org_9"}, "https://example.com/roles": ["viewer", "admin"]});
        let nested = from_claims(&rules, nested.as_object().unwrap()).unwrap().unwrap();
        assert_eq!((nested.org_id.as_str(), nested.admin), ("org_9", true));
        let via = |role: &str| {
            let context = [("org_id".to_owned(), "org_1".to_owned()), ("org_role".to_owned(), role.to_owned())];
            from_context_claims(&OrgClaims::default(), context.iter().map(|(k, v)| (k, v)))
                .unwrap()
                .unwrap()
                .admin
        };
        assert!(via("[admin]") && via("org:admin"));
        assert!(
            !via("[member admin]") && !via("support admin") && !via("[support admin]"),
            "ambiguous renderings fail closed"
        );
        assert_eq!(read(json!({"org_id": null})).unwrap(), None);
        let clerk_v2 = OrgClaims {
            id_claim: "o.id".into(),
            role_claim: "o.rol".into(),
            admin_roles: vec!["admin".into()],
        };
        let context = [("o".to_owned(), r#"{"id":"org_7","rol":"admin"}"#.to_owned())];
        let member = from_context_claims(&clerk_v2, context.iter().map(|(k, v)| (k, v)))
            .unwrap()
            .unwrap();
        assert_eq!((member.org_id.as_str(), member.admin), ("org_7", true));
        // A `map[…]` rendering can be forged from inside a value: it is never read as an object.
        let forged = [("o".to_owned(), "map[id:org_7 name:x rol:admin]".to_owned())];
        assert_eq!(
            from_context_claims(&clerk_v2, forged.iter().map(|(k, v)| (k, v))),
            Err(BadOrgClaim),
            "refused, not read as a personal request"
        );
    }
}
