//! Who is calling. A user is the JWT `sub` claim.
//!
//! 1. In AWS, API Gateway's JWT authorizer has verified the token: the claims are read from
//!    `requestContext.authorizer.jwt.claims` (HTTP API) or `requestContext.authorizer.claims`
//!    (REST API with a Cognito authorizer).
//! 2. Without an authorizer context (local `cargo lambda watch`, Function URLs, a REST API, the
//!    `authorizer` function) the function verifies `Authorization: Bearer <jwt>` itself:
//!    - RS256 / ES256 against the issuer's keys (`JWT_JWKS_URL`, or OpenID discovery from
//!      `JWT_ISSUER`), fetched at init, cached, and fetched again for an unknown `kid` at most
//!      once a minute. The algorithm is the key's, never the token's: a token whose `alg` is
//!      not its key's is refused (no `none`, no HS256 signed with a public key).
//!    - HS256 with the configured secret (local runs only; see `crate::config`).
//!
//!    Issuer and audience must match, `exp` is required, `exp` and `nbf` are checked with
//!    [`LEEWAY_SECS`] of leeway.
//! 3. Otherwise: [`IdentityError`], which every function renders as 401 problem+json.
//!
//! There is no header that names a user and no mode that trusts an unverified id.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::http::header::AUTHORIZATION;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use crate::adapters::jwks::{JwksError, JwksFetcher, VerificationKey};
use crate::config::{JwtConfig, OrgClaims};
use crate::edge::membership::{self, OrgMember};
use crate::edge::problem::Problem;

/// Leeway on `exp` and `nbf`, for clocks that differ a little.
pub const LEEWAY_SECS: u64 = 30;
/// An unknown `kid` fetches the key set again at most this often.
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// While no key could be fetched at all, a token may try again this often.
pub const EMPTY_SET_RETRY: Duration = Duration::from_secs(5);
/// The algorithms verified against the issuer's keys.
pub const KEY_ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub email: Option<String>,
    /// The organization the token acts for (its `ORG_ID_CLAIM`), if any.
    pub org: Option<OrgMember>,
}

impl Identity {
    /// A user acting for themselves.
    pub fn user(user_id: impl Into<String>, email: Option<String>) -> Self {
        Self {
            user_id: user_id.into(),
            email,
            org: None,
        }
    }

    /// Who pays in this context: the organization's billable id, else the user's
    /// ([`crate::domain::billable`]).
    pub fn billable(&self) -> String {
        match &self.org {
            Some(org) => crate::domain::billable::org(&org.org_id),
            None => self.user_id.clone(),
        }
    }

    /// Whether the caller may buy and manage in this context: always for themselves; for an
    /// organization, with an admin role.
    pub fn may_manage(&self) -> bool {
        self.org.as_ref().is_none_or(|o| o.admin)
    }

    /// The billable the caller may buy and manage for: [`Identity::billable`], or
    /// [`IdentityError::OrgAdminRequired`] for an organization's member without an admin role.
    pub fn manager(&self) -> Result<String, IdentityError> {
        if self.may_manage() {
            Ok(self.billable())
        } else {
            Err(IdentityError::OrgAdminRequired)
        }
    }

    /// The organization's id, when acting for one.
    pub fn org_id(&self) -> Option<&str> {
        self.org.as_ref().map(|o| o.org_id.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("no credentials: send Authorization: Bearer <token>")]
    Missing,
    #[error("the Authorization header is not a Bearer token")]
    NotBearer,
    #[error("bearer tokens are not accepted by this deployment")]
    BearerDisabled,
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    #[error("the token has no usable `sub` claim")]
    NoSubject,
    #[error("the token's organization claim is not a usable organization id")]
    BadOrganization,
    /// A member without an admin role on a route that buys or manages for the organization.
    #[error("only an organization admin may buy or manage its billing")]
    OrgAdminRequired,
}

impl IdentityError {
    pub fn problem(&self) -> Problem {
        match self {
            IdentityError::OrgAdminRequired => Problem::new(
                lambda_http::http::StatusCode::FORBIDDEN,
                "/errors/org-admin-required",
                "Organization admin required",
                self.to_string(),
            ),
            _ => Problem::unauthorized(self.to_string()),
        }
    }
}

/// Longest user id accepted (it becomes part of DynamoDB keys).
pub const MAX_USER_ID_LEN: usize = 256;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    /// More claims (the organization's, in tests and `devtool token --org`).
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// What this service reads of a verified token (issuer, audience and times are checked by the
/// validation; `aud` may be a string or a list there).
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    sub: String,
    /// Every other claim (the organization claims are looked up here by their configured name).
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    email: Option<String>,
    /// A string or a list.
    #[serde(default)]
    aud: Option<serde_json::Value>,
    /// Cognito access tokens name their app client here instead of `aud`.
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    token_use: Option<String>,
}

impl VerifiedClaims {
    /// `aud` holds `audience`; or, without `aud`, a Cognito access token of that app client.
    fn for_audience(&self, audience: &str) -> bool {
        match &self.aud {
            Some(serde_json::Value::String(aud)) => aud == audience,
            Some(serde_json::Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
            Some(_) => false,
            None => self.token_use.as_deref() == Some("access") && self.client_id.as_deref() == Some(audience),
        }
    }
}

/// The issuer's keys, fetched at init and again for an unknown `kid` (at most once per
/// [`KEY_REFRESH_INTERVAL`]).
pub struct KeySet {
    fetcher: JwksFetcher,
    keys: RwLock<Vec<VerificationKey>>,
    /// When the keys were last fetched (or a fetch last failed).
    fetched: Mutex<Option<Instant>>,
    refresh_interval: Duration,
}

impl KeySet {
    pub fn new(fetcher: JwksFetcher) -> Self {
        Self {
            fetcher,
            keys: RwLock::new(Vec::new()),
            fetched: Mutex::new(None),
            refresh_interval: KEY_REFRESH_INTERVAL,
        }
    }

    /// The same, refreshing at most once per `interval` (tests).
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Fetches the keys now; returns how many are usable.
    pub async fn load(&self) -> Result<usize, JwksError> {
        let mut fetched = self.fetched.lock().await;
        self.fetch(&mut fetched).await
    }

    async fn fetch(&self, fetched: &mut Option<Instant>) -> Result<usize, JwksError> {
        *fetched = Some(Instant::now());
        let keys = self.fetcher.fetch().await?;
        let count = keys.len();
        *self.keys.write().await = keys;
        tracing::info!(keys = count, "token signing keys loaded");
        Ok(count)
    }

    /// How many keys are loaded.
    pub async fn len(&self) -> usize {
        self.keys.read().await.len()
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }

    fn find(keys: &[VerificationKey], kid: Option<&str>, algorithm: Algorithm) -> Option<VerificationKey> {
        match kid {
            Some(kid) => keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid) && k.algorithm == algorithm)
                .cloned(),
            // Without a `kid` only a set of one key says which key is meant.
            None if keys.len() == 1 => keys.first().filter(|k| k.algorithm == algorithm).cloned(),
            None => None,
        }
    }

    /// The key `kid` names for `algorithm`; an unknown `kid` fetches the set again, at most once
    /// per interval (every [`EMPTY_SET_RETRY`] while no key could be fetched at all).
    pub async fn key(&self, kid: Option<&str>, algorithm: Algorithm) -> Option<VerificationKey> {
        if let Some(key) = Self::find(&self.keys.read().await, kid, algorithm) {
            return Some(key);
        }
        let empty = self.keys.read().await.is_empty();
        if kid.is_none() && !empty {
            // No fetch can make a `kid`-less token name one key of several.
            return None;
        }
        let mut fetched = self.fetched.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = Self::find(&self.keys.read().await, kid, algorithm) {
            return Some(key);
        }
        let interval = if empty {
            EMPTY_SET_RETRY.min(self.refresh_interval)
        } else {
            self.refresh_interval
        };
        if fetched.is_some_and(|at| at.elapsed() < interval) {
            return None;
        }
        if let Err(err) = self.fetch(&mut fetched).await {
            tracing::warn!(error = %crate::adapters::cause_chain(&err), "token signing keys could not be fetched");
            return None;
        }
        Self::find(&self.keys.read().await, kid, algorithm)
    }
}

/// Verifies identities; built once per process from [`JwtConfig`].
pub struct IdentityVerifier {
    hs256: Option<DecodingKey>,
    keys: Option<KeySet>,
    validation: Validation,
    /// Checked here rather than by the validation: Cognito access tokens carry `client_id`.
    audience: Option<String>,
    orgs: OrgClaims,
}

impl std::fmt::Debug for IdentityVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityVerifier")
            .field("hs256", &self.hs256.is_some())
            .field("jwks", &self.keys.as_ref().map(|k| k.fetcher.source().clone()))
            .finish()
    }
}

impl IdentityVerifier {
    /// The verifier `config` describes. Keys are not fetched yet: see [`IdentityVerifier::load_keys`].
    pub fn new(config: &JwtConfig) -> Result<Self, JwksError> {
        let keys = match &config.jwks {
            Some(source) => Some(KeySet::new(JwksFetcher::new(source.clone(), config.issuer.clone(), config.local)?)),
            None => None,
        };
        Ok(Self::with_keys(config, keys))
    }

    /// A verifier with the given key set (tests pass one with a short refresh interval).
    pub fn with_keys(config: &JwtConfig, keys: Option<KeySet>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
        }
        validation.validate_aud = false;
        let hs256 = config
            .hs256_secret
            .as_ref()
            .map(|s| DecodingKey::from_secret(s.expose().as_bytes()));
        Self {
            hs256,
            keys,
            validation,
            audience: config.audience.clone(),
            orgs: config.orgs.clone(),
        }
    }

    /// Fetches the issuer's keys (at init). `Ok(None)` when this verifier uses none.
    pub async fn load_keys(&self) -> Result<Option<usize>, JwksError> {
        match &self.keys {
            Some(keys) => keys.load().await.map(Some),
            None => Ok(None),
        }
    }

    /// The key set, when tokens are verified against the issuer's keys.
    pub fn key_set(&self) -> Option<&KeySet> {
        self.keys.as_ref()
    }

    /// The caller of `req`, from the authorizer context or a verified bearer token.
    pub async fn identify(&self, req: &Request) -> Result<Identity, IdentityError> {
        if let Some(claims) = authorizer_claims(req, &self.orgs) {
            let org = claims.org.map_err(|_| IdentityError::BadOrganization)?;
            return identity_from_claims(claims.sub, claims.email, org);
        }
        let header = req.headers().get(AUTHORIZATION).ok_or(IdentityError::Missing)?;
        let value = header.to_str().map_err(|_| IdentityError::NotBearer)?;
        self.verify_bearer(value).await
    }

    /// An `Authorization` header value (`Bearer <jwt>`), verified.
    pub async fn verify_bearer(&self, value: &str) -> Result<Identity, IdentityError> {
        let token = value
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
            .and_then(|_| value.get(7..))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(IdentityError::NotBearer)?;
        self.verify_token(token).await
    }

    /// A bearer token, verified: its signature under the key its `kid` names (with that key's
    /// algorithm) or the local HS256 secret, then issuer, audience, `exp` and `nbf`.
    pub async fn verify_token(&self, token: &str) -> Result<Identity, IdentityError> {
        if self.hs256.is_none() && self.keys.is_none() {
            return Err(IdentityError::BearerDisabled);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| IdentityError::InvalidToken(describe(e.kind())))?;
        let (key, algorithm) = match (&self.keys, &self.hs256) {
            // With the issuer's keys, only their algorithms: never the token's choice of HS256.
            (Some(keys), _) => {
                if !KEY_ALGORITHMS.contains(&header.alg) {
                    return Err(IdentityError::InvalidToken("algorithm not accepted"));
                }
                let key = keys
                    .key(header.kid.as_deref(), header.alg)
                    .await
                    .ok_or(IdentityError::InvalidToken("unknown signing key"))?;
                (key.key, key.algorithm)
            }
            (None, Some(secret)) if header.alg == Algorithm::HS256 => (secret.clone(), Algorithm::HS256),
            (None, _) => return Err(IdentityError::InvalidToken("algorithm not accepted")),
        };
        let mut validation = self.validation.clone();
        validation.algorithms = vec![algorithm];
        let data = jsonwebtoken::decode::<VerifiedClaims>(token, &key, &validation)
            .map_err(|e| IdentityError::InvalidToken(describe(e.kind())))?;
        if let Some(audience) = &self.audience
            && !data.claims.for_audience(audience)
        {
            return Err(IdentityError::InvalidToken("wrong audience"));
        }
        let org = membership::from_claims(&self.orgs, &data.claims.rest).map_err(|_| IdentityError::BadOrganization)?;
        identity_from_claims(Some(data.claims.sub), data.claims.email, org)
    }
}

fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "expired",
        K::ImmatureSignature => "not yet valid",
        K::InvalidIssuer => "wrong issuer",
        K::InvalidAudience => "wrong audience",
        K::InvalidSignature => "bad signature",
        K::InvalidAlgorithm | K::InvalidAlgorithmName => "algorithm not accepted",
        K::MissingRequiredClaim(_) => "a required claim is missing",
        _ => "malformed",
    }
}

struct ContextClaims {
    sub: Option<String>,
    email: Option<String>,
    org: Result<Option<OrgMember>, membership::BadOrgClaim>,
}

fn authorizer_claims(req: &Request, orgs: &OrgClaims) -> Option<ContextClaims> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => {
            let jwt = ctx.authorizer.as_ref()?.jwt.as_ref()?;
            Some(ContextClaims {
                sub: jwt.claims.get("sub").cloned(),
                email: jwt.claims.get("email").cloned(),
                org: membership::from_context_claims(orgs, jwt.claims.iter()),
            })
        }
        RequestContext::ApiGatewayV1(ctx) => {
            let claims = ctx.authorizer.fields.get("claims")?.as_object()?;
            let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            Some(ContextClaims {
                sub: text("sub"),
                email: text("email"),
                org: membership::from_claims(orgs, claims),
            })
        }
        _ => None,
    }
}

fn identity_from_claims(sub: Option<String>, email: Option<String>, org: Option<OrgMember>) -> Result<Identity, IdentityError> {
    let sub = sub.ok_or(IdentityError::NoSubject)?;
    if sub.len() > MAX_USER_ID_LEN || sub.chars().any(char::is_control) || !crate::domain::billable::is_valid_user_id(&sub) {
        return Err(IdentityError::NoSubject);
    }
    let email = email.filter(|e| e.contains('@') && e.len() <= 320);
    Ok(Identity { user_id: sub, email, org })
}

/// Mints an HS256 token the local stack accepts (`devtool token`, tests). Requires the
/// configured secret, issuer and audience.
pub fn issue_token(config: &JwtConfig, user_id: &str, email: Option<&str>, ttl_secs: u64) -> Result<String, jsonwebtoken::errors::Error> {
    issue_token_with(config, user_id, email, serde_json::Map::new(), ttl_secs)
}

/// [`issue_token`] with more claims (such as `org_id` and `org_role`).
pub fn issue_token_with(
    config: &JwtConfig,
    user_id: &str,
    email: Option<&str>,
    extra: serde_json::Map<String, serde_json::Value>,
    ttl_secs: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let (Some(secret), Some(iss), Some(aud)) = (&config.hs256_secret, &config.issuer, &config.audience) else {
        return Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into());
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let claims = Claims {
        sub: user_id.into(),
        email: email.map(Into::into),
        iss: iss.clone(),
        aud: aud.clone(),
        exp: now + ttl_secs,
        iat: now,
        extra,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use lambda_http::Body;

    use super::*;
    use crate::config::Secret;

    fn config() -> JwtConfig {
        JwtConfig {
            hs256_secret: Some(Secret::new("unit-test-secret-unit-test-secret!!")),
            issuer: Some("iss-a".into()),
            audience: Some("aud-a".into()),
            jwks: None,
            local: true,
            orgs: OrgClaims::default(),
        }
    }

    fn bearer(token: &str) -> Request {
        lambda_http::http::Request::builder()
            .uri("/entitlements")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::Empty)
            .unwrap()
    }

    #[tokio::test]
    async fn valid_bearer_token_identifies_user() {
        let token = issue_token(&config(), "user_1", Some("a@example.com"), 60).unwrap();
        let id = IdentityVerifier::new(&config()).unwrap().identify(&bearer(&token)).await.unwrap();
        assert_eq!(
            id,
            Identity {
                user_id: "user_1".into(),
                email: Some("a@example.com".into()),
                org: None,
            }
        );
    }

    #[tokio::test]
    async fn wrong_issuer_audience_secret_and_expiry_are_rejected() {
        let verifier = IdentityVerifier::new(&config()).unwrap();
        let mut other = config();
        other.issuer = Some("iss-b".into());
        let token = issue_token(&other, "u", None, 60).unwrap();
        assert_eq!(
            verifier.identify(&bearer(&token)).await,
            Err(IdentityError::InvalidToken("wrong issuer"))
        );

        let mut other = config();
        other.audience = Some("aud-b".into());
        let token = issue_token(&other, "u", None, 60).unwrap();
        assert_eq!(
            verifier.identify(&bearer(&token)).await,
            Err(IdentityError::InvalidToken("wrong audience"))
        );

        let mut other = config();
        other.hs256_secret = Some(Secret::new("another-secret-another-secret-xx"));
        let token = issue_token(&other, "u", None, 60).unwrap();
        assert_eq!(
            verifier.identify(&bearer(&token)).await,
            Err(IdentityError::InvalidToken("bad signature"))
        );

        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let claims = Claims {
            sub: "u".into(),
            email: None,
            iss: "iss-a".into(),
            aud: "aud-a".into(),
            exp: now - 120,
            iat: now - 200,
            extra: serde_json::Map::new(),
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"unit-test-secret-unit-test-secret!!"),
        )
        .unwrap();
        assert_eq!(
            verifier.identify(&bearer(&token)).await,
            Err(IdentityError::InvalidToken("expired"))
        );
    }

    #[tokio::test]
    async fn malformed_and_missing_credentials_are_rejected() {
        let verifier = IdentityVerifier::new(&config()).unwrap();
        assert_eq!(
            verifier.identify(&bearer("not.a.jwt")).await,
            Err(IdentityError::InvalidToken("malformed"))
        );
        assert_eq!(verifier.identify(&bearer("")).await, Err(IdentityError::NotBearer));
        let none = lambda_http::http::Request::builder().uri("/").body(Body::Empty).unwrap();
        assert_eq!(verifier.identify(&none).await, Err(IdentityError::Missing));
        let basic = lambda_http::http::Request::builder()
            .uri("/")
            .header("authorization", "Basic dTpw")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(verifier.identify(&basic).await, Err(IdentityError::NotBearer));
    }

    #[tokio::test]
    async fn none_algorithm_is_rejected() {
        // {"alg":"none"} header, valid-looking claims, empty signature.
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1IiwiaXNzIjoiaXNzLWEiLCJhdWQiOiJhdWQtYSIsImV4cCI6OTk5OTk5OTk5OX0.";
        assert!(matches!(
            IdentityVerifier::new(&config()).unwrap().identify(&bearer(token)).await,
            Err(IdentityError::InvalidToken(_))
        ));
    }

    #[tokio::test]
    async fn bearer_path_is_off_without_a_secret() {
        let token = issue_token(&config(), "u", None, 60).unwrap();
        let verifier = IdentityVerifier::new(&JwtConfig {
            hs256_secret: None,
            issuer: None,
            audience: None,
            jwks: None,
            local: true,
            orgs: OrgClaims::default(),
        })
        .unwrap();
        assert_eq!(verifier.identify(&bearer(&token)).await, Err(IdentityError::BearerDisabled));
    }

    #[tokio::test]
    async fn authorizer_claims_of_both_api_shapes() {
        let verifier = IdentityVerifier::new(&config()).unwrap();
        let v2 = r#"{"version":"2.0","routeKey":"GET /entitlements","rawPath":"/entitlements","rawQueryString":"","headers":{},
            "requestContext":{"accountId":"1","apiId":"a","domainName":"x","domainPrefix":"x","http":{"method":"GET","path":"/entitlements","protocol":"HTTP/1.1","sourceIp":"1.1.1.1","userAgent":"t"},
            "requestId":"r","routeKey":"GET /entitlements","stage":"$default","time":"t","timeEpoch":0,
            "authorizer":{"jwt":{"claims":{"sub":"user_v2","email":"v2@example.com"},"scopes":null}}},"isBase64Encoded":false}"#;
        let req = lambda_http::request::from_str(v2).unwrap();
        assert_eq!(verifier.identify(&req).await.unwrap().user_id, "user_v2");

        let v1 = r#"{"resource":"/entitlements","path":"/entitlements","httpMethod":"GET","headers":{},"multiValueHeaders":{},
            "queryStringParameters":null,"multiValueQueryStringParameters":null,"pathParameters":null,"stageVariables":null,
            "requestContext":{"accountId":"1","resourceId":"r","stage":"prod","requestId":"r","identity":{"sourceIp":"1.1.1.1"},"resourcePath":"/entitlements","httpMethod":"GET","apiId":"a",
            "authorizer":{"claims":{"sub":"user_v1","email":"v1@example.com"}}},"body":null,"isBase64Encoded":false}"#;
        let req = lambda_http::request::from_str(v1).unwrap();
        assert_eq!(
            verifier.identify(&req).await.unwrap(),
            Identity {
                user_id: "user_v1".into(),
                email: Some("v1@example.com".into()),
                org: None,
            }
        );
    }
}
