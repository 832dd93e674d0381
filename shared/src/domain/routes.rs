//! Which feature a route of the team's own API needs (the `authorizer` function's
//! configuration, `AUTHORIZER_ROUTES`): route keys as API Gateway names them (`GET /reports`),
//! exact or with a `*` suffix matching every route key that starts with the rest
//! (`GET /reports/*`, `ANY /admin*`, `GET *`). The exact key wins, then the longest prefix. A
//! route not listed needs a valid token only; keys are checked when the configuration is read
//! (`get /x` or a doubled space would never match, so they are refused).

use std::collections::BTreeMap;

use crate::domain::plans::is_valid_key;

/// Longest route key (or pattern) accepted.
pub const MAX_ROUTE_KEY_LEN: usize = 256;

/// The routes that need a feature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteFeatures {
    exact: BTreeMap<String, String>,
    /// Prefixes (the pattern without its `*`), longest first.
    prefixes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("expected a JSON object of route key → feature: {0}")]
    Json(String),
    #[error("route key {0:?} is not `$default` or `METHOD /path` (an upper-case method or ANY, one space, a `*` only at the end)")]
    Route(String),
    #[error("feature {feature:?} of route {route:?} is not of the form [a-z0-9_.:-]{{1,100}}")]
    Feature { route: String, feature: String },
}

/// `$default`, or `METHOD /path` as API Gateway writes route keys (a prefix of one when
/// `prefix`: `GET /api/` or even `GET ` for every GET route).
fn is_route_key(key: &str, prefix: bool) -> bool {
    if key == "$default" {
        return true;
    }
    let Some((method, path)) = key.split_once(' ') else {
        return false;
    };
    let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    let path_ok =
        (path.starts_with('/') || (prefix && path.is_empty())) && !path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
    method_ok && path_ok
}

impl RouteFeatures {
    /// From `{"GET /reports": "exports", "GET /api/*": "api_access"}`.
    pub fn parse(json: &str) -> Result<Self, RouteError> {
        let map: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| RouteError::Json(e.to_string()))?;
        let mut routes = Self::default();
        for (route, feature) in map {
            let pattern = route.as_str();
            let body = pattern.strip_suffix('*').unwrap_or(pattern);
            if pattern.len() > MAX_ROUTE_KEY_LEN || body.contains('*') || !is_route_key(body, pattern.ends_with('*')) {
                return Err(RouteError::Route(route));
            }
            if !is_valid_key(&feature) {
                return Err(RouteError::Feature { route, feature });
            }
            if pattern.ends_with('*') {
                routes.prefixes.push((body.to_owned(), feature));
            } else {
                routes.exact.insert(pattern.to_owned(), feature);
            }
        }
        routes
            .prefixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(routes)
    }

    /// The feature `route_key` needs; `None` when the route needs a valid token only.
    pub fn feature_for(&self, route_key: &str) -> Option<&str> {
        if let Some(feature) = self.exact.get(route_key) {
            return Some(feature);
        }
        self.prefixes
            .iter()
            .find(|(prefix, _)| route_key.starts_with(prefix.as_str()))
            .map(|(_, feature)| feature.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_keys_win_then_the_longest_prefix() {
        let routes = RouteFeatures::parse(
            r#"{"GET /reports": "exports", "GET /api/*": "api_access", "GET /api/admin/*": "admin", "POST /reports/export": "exports"}"#,
        )
        .unwrap();
        assert_eq!(routes.feature_for("GET /reports"), Some("exports"));
        assert_eq!(routes.feature_for("GET /api/things"), Some("api_access"));
        assert_eq!(routes.feature_for("GET /api/admin/users"), Some("admin"));
        assert_eq!(routes.feature_for("GET /reports/1"), None, "no pattern covers it");
        assert_eq!(routes.feature_for("DELETE /reports"), None, "the method is part of the key");
        assert_eq!(routes.feature_for("GET /profile"), None);
    }

    #[test]
    fn bad_configuration_is_refused_naming_the_entry() {
        for (json, says) in [
            ("[1]", "JSON object"),
            (r#"{"": "exports"}"#, "route key"),
            (r#"{"GET /a*b": "exports"}"#, "route key"),
            (r#"{"get /reports": "exports"}"#, "route key"),
            (r#"{"GET  /reports": "exports"}"#, "route key"),
            (r#"{"GET reports": "exports"}"#, "route key"),
            (r#"{"GET /a": "Exports!"}"#, "feature \"Exports!\""),
        ] {
            let err = RouteFeatures::parse(json).unwrap_err();
            assert!(err.to_string().contains(says), "{json}: {err}");
        }
        assert!(RouteFeatures::parse("{}").unwrap().is_empty());
        let every_get = RouteFeatures::parse(r#"{"GET *": "reads", "$default": "api_access", "ANY /admin/*": "admin"}"#).unwrap();
        assert_eq!(every_get.feature_for("GET /anything"), Some("reads"));
        assert_eq!(every_get.feature_for("$default"), Some("api_access"));
        assert_eq!(every_get.feature_for("ANY /admin/users"), Some("admin"));
    }
}
