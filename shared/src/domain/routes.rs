//! Which feature a route of the team's own API needs (the `authorizer` function's
//! configuration, `AUTHORIZER_ROUTES`): route keys as API Gateway names them (`GET /reports`),
//! exact or with a `*` suffix matching every route key that starts with the rest
//! (`GET /reports/*`, `* ` forms such as `ANY /admin*`). The exact key wins, then the longest
//! prefix. A route not listed needs a valid token only.

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
    #[error("route key {0:?} is empty, too long, or has a `*` other than at its end")]
    Route(String),
    #[error("feature {feature:?} of route {route:?} is not of the form [a-z0-9_.:-]{{1,100}}")]
    Feature { route: String, feature: String },
}

impl RouteFeatures {
    /// From `{"GET /reports": "exports", "GET /api/*": "api_access"}`.
    pub fn parse(json: &str) -> Result<Self, RouteError> {
        let map: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| RouteError::Json(e.to_string()))?;
        let mut routes = Self::default();
        for (route, feature) in map {
            let pattern = route.trim();
            let body = pattern.strip_suffix('*').unwrap_or(pattern);
            if pattern.is_empty() || pattern.len() > MAX_ROUTE_KEY_LEN || body.contains('*') || pattern.chars().any(char::is_control) {
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
            (r#"{"GET /a": "Exports!"}"#, "feature \"Exports!\""),
        ] {
            let err = RouteFeatures::parse(json).unwrap_err();
            assert!(err.to_string().contains(says), "{json}: {err}");
        }
        assert!(RouteFeatures::parse("{}").unwrap().is_empty());
    }
}
