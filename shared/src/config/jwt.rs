//! The token section: how bearer tokens are verified (the issuer's keys, or an HS256 secret in
//! local runs only), and the rules that keep a deployment from accepting tokens anyone can mint.

use url::Url;

use super::{ConfigError, Env, Secret, is_loopback, vars};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// HS256 secret for verifying `Authorization: Bearer` tokens when no API Gateway authorizer
    /// context is present (local runs only: refused with a live key and outside a local run
    /// when it is the published one).
    pub hs256_secret: Option<Secret>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Where the issuer's RS256/ES256 signing keys come from: `JWT_JWKS_URL`, else OpenID
    /// discovery from an `https://` `JWT_ISSUER` when no HS256 secret is set. `None`: no keys.
    pub jwks: Option<JwksSource>,
    /// A local run (DynamoDB on loopback): keys may then be fetched over plain http from
    /// loopback addresses.
    pub local: bool,
    /// Which claims name the caller's organization and role.
    pub orgs: OrgClaims,
}

/// The organization claims: `ORG_ID_CLAIM` (default `org_id`), `ORG_ROLE_CLAIM` (default
/// `org_role`) and `ORG_ADMIN_ROLES` (comma-separated, default `admin,org:admin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgClaims {
    pub id_claim: String,
    pub role_claim: String,
    pub admin_roles: Vec<String>,
}

impl Default for OrgClaims {
    fn default() -> Self {
        Self {
            id_claim: "org_id".into(),
            role_claim: "org_role".into(),
            admin_roles: vec!["admin".into(), "org:admin".into()],
        }
    }
}

impl OrgClaims {
    fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let claim = |var: &'static str, default: String| match env.get(var) {
            None => Ok(default),
            Some(name) if !name.is_empty() && name.len() <= 100 && !name.contains(',') && name != "sub" => Ok(name),
            Some(_) => Err(ConfigError::invalid(var, "a claim name (1 to 100 characters, not `sub`)")),
        };
        let admin_roles = match env.get(vars::ORG_ADMIN_ROLES) {
            None => defaults.admin_roles,
            Some(list) => {
                let roles: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect();
                if roles.is_empty() {
                    return Err(ConfigError::invalid(vars::ORG_ADMIN_ROLES, "at least one role"));
                }
                roles
            }
        };
        Ok(Self {
            id_claim: claim(vars::ORG_ID_CLAIM, defaults.id_claim)?,
            role_claim: claim(vars::ORG_ROLE_CLAIM, defaults.role_claim)?,
            admin_roles,
        })
    }

    /// Whether `role` may buy and manage for the organization.
    pub fn is_admin(&self, role: Option<&str>) -> bool {
        role.is_some_and(|r| self.admin_roles.iter().any(|a| a == r))
    }
}

/// Where the issuer's signing keys come from (see [`crate::adapters::jwks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// `JWT_JWKS_URL`.
    Url(Url),
    /// OpenID Connect discovery from the issuer (`JWT_ISSUER`).
    Discovery(Url),
}

impl JwtConfig {
    /// `JWT_HS256_SECRET`, `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_JWKS_URL`; `local_run`: DynamoDB
    /// on loopback.
    pub(super) fn read(env: &Env<'_>, local_run: bool) -> Result<Self, ConfigError> {
        let mut jwt = JwtConfig {
            hs256_secret: env
                .get(vars::JWT_HS256_SECRET)
                .map(|v| {
                    if v.len() < 32 {
                        Err(ConfigError::invalid(vars::JWT_HS256_SECRET, "must be at least 32 bytes"))
                    } else {
                        Ok(Secret::new(v))
                    }
                })
                .transpose()?,
            issuer: env.get(vars::JWT_ISSUER),
            audience: env.get(vars::JWT_AUDIENCE),
            jwks: None,
            local: local_run,
            orgs: OrgClaims::read(env)?,
        };
        jwt.jwks = match env.get(vars::JWT_JWKS_URL) {
            Some(raw) => match Url::parse(&raw) {
                Ok(url) if url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url) && local_run) => {
                    Some(JwksSource::Url(url))
                }
                _ => {
                    return Err(ConfigError::invalid(
                        vars::JWT_JWKS_URL,
                        "expected an https URL (http only on loopback, in a local run)",
                    ));
                }
            },
            None => match (&jwt.hs256_secret, jwt.issuer.as_deref().map(Url::parse)) {
                (None, Some(Ok(issuer))) if issuer.scheme() == "https" => Some(JwksSource::Discovery(issuer)),
                _ => None,
            },
        };
        jwt.check(local_run)?;
        Ok(jwt)
    }

    /// The combinations refused: keys without an issuer and audience, HS256 outside a local run
    /// or beside keys, HS256 without an issuer or audience.
    fn check(&self, local_run: bool) -> Result<(), ConfigError> {
        if self.jwks.is_some() && (self.issuer.is_none() || self.audience.is_none()) {
            return Err(ConfigError {
                var: if self.issuer.is_none() {
                    vars::JWT_ISSUER
                } else {
                    vars::JWT_AUDIENCE
                },
                problem: "is not set (required to verify tokens against the issuer's keys)".into(),
            });
        }
        if self.hs256_secret.is_none() {
            return Ok(());
        }
        if !local_run {
            return Err(ConfigError::invalid(
                vars::JWT_HS256_SECRET,
                format!(
                    "is accepted only for a local run ({} on loopback); deployed stacks verify tokens against the issuer's keys",
                    vars::DYNAMODB_ENDPOINT
                ),
            ));
        }
        if self.jwks.is_some() {
            return Err(ConfigError::invalid(
                vars::JWT_HS256_SECRET,
                format!(
                    "set it or {}, not both: a token must not choose how it is verified",
                    vars::JWT_JWKS_URL
                ),
            ));
        }
        for (value, var) in [(&self.issuer, vars::JWT_ISSUER), (&self.audience, vars::JWT_AUDIENCE)] {
            if value.is_none() {
                return Err(ConfigError {
                    var,
                    problem: format!("is not set (required with {})", vars::JWT_HS256_SECRET),
                });
            }
        }
        Ok(())
    }
}
