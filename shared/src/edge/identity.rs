//! Who is calling. A user is the JWT `sub` claim.
//!
//! 1. In AWS, API Gateway's JWT authorizer has verified the token: the claims are read from
//!    `requestContext.authorizer.jwt.claims` (HTTP API) or `requestContext.authorizer.claims`
//!    (REST API with a Cognito authorizer).
//! 2. Without an authorizer context (local `cargo lambda watch`, Function URLs) the function
//!    verifies `Authorization: Bearer <jwt>` itself: HS256 with the configured secret, issuer
//!    and audience checked, `exp` required.
//! 3. Otherwise: [`IdentityError`], which every function renders as 401 problem+json.
//!
//! There is no header that names a user and no mode that trusts an unverified id.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::http::header::AUTHORIZATION;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};

use crate::config::JwtConfig;
use crate::edge::problem::Problem;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub email: Option<String>,
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
}

impl IdentityError {
    pub fn problem(&self) -> Problem {
        Problem::unauthorized(self.to_string())
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
}

/// Verifies identities; built once per process from [`JwtConfig`].
pub struct IdentityVerifier {
    key: Option<DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for IdentityVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityVerifier")
            .field("bearer_enabled", &self.key.is_some())
            .finish()
    }
}

impl IdentityVerifier {
    pub fn new(config: &JwtConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
        }
        if let Some(audience) = &config.audience {
            validation.set_audience(&[audience]);
        }
        let key = config
            .hs256_secret
            .as_ref()
            .map(|s| DecodingKey::from_secret(s.expose().as_bytes()));
        Self { key, validation }
    }

    /// The caller of `req`, from the authorizer context or a verified bearer token.
    pub fn identify(&self, req: &Request) -> Result<Identity, IdentityError> {
        if let Some(claims) = authorizer_claims(req) {
            return identity_from_claims(claims.sub, claims.email);
        }
        let header = req.headers().get(AUTHORIZATION).ok_or(IdentityError::Missing)?;
        let value = header.to_str().map_err(|_| IdentityError::NotBearer)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(IdentityError::NotBearer)?;
        let key = self.key.as_ref().ok_or(IdentityError::BearerDisabled)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| IdentityError::InvalidToken(describe(e.kind())))?;
        identity_from_claims(Some(data.claims.sub), data.claims.email)
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
}

fn authorizer_claims(req: &Request) -> Option<ContextClaims> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => {
            let jwt = ctx.authorizer.as_ref()?.jwt.as_ref()?;
            Some(ContextClaims {
                sub: jwt.claims.get("sub").cloned(),
                email: jwt.claims.get("email").cloned(),
            })
        }
        RequestContext::ApiGatewayV1(ctx) => {
            let claims = ctx.authorizer.fields.get("claims")?.as_object()?;
            let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            Some(ContextClaims {
                sub: text("sub"),
                email: text("email"),
            })
        }
        _ => None,
    }
}

fn identity_from_claims(sub: Option<String>, email: Option<String>) -> Result<Identity, IdentityError> {
    let sub = sub.ok_or(IdentityError::NoSubject)?;
    if sub.is_empty() || sub.len() > MAX_USER_ID_LEN || sub.chars().any(char::is_control) {
        return Err(IdentityError::NoSubject);
    }
    let email = email.filter(|e| e.contains('@') && e.len() <= 320);
    Ok(Identity { user_id: sub, email })
}

/// Mints an HS256 token the local stack accepts (`devtool token`, tests). Requires the
/// configured secret, issuer and audience.
pub fn issue_token(config: &JwtConfig, user_id: &str, email: Option<&str>, ttl_secs: u64) -> Result<String, jsonwebtoken::errors::Error> {
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
        }
    }

    fn bearer(token: &str) -> Request {
        lambda_http::http::Request::builder()
            .uri("/entitlements")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::Empty)
            .unwrap()
    }

    #[test]
    fn valid_bearer_token_identifies_user() {
        let token = issue_token(&config(), "user_1", Some("a@example.com"), 60).unwrap();
        let id = IdentityVerifier::new(&config()).identify(&bearer(&token)).unwrap();
        assert_eq!(
            id,
            Identity {
                user_id: "user_1".into(),
                email: Some("a@example.com".into())
            }
        );
    }

    #[test]
    fn wrong_issuer_audience_secret_and_expiry_are_rejected() {
        let verifier = IdentityVerifier::new(&config());
        let mut other = config();
        other.issuer = Some("iss-b".into());
        let token = issue_token(&other, "u", None, 60).unwrap();
        assert_eq!(verifier.identify(&bearer(&token)), Err(IdentityError::InvalidToken("wrong issuer")));

        let mut other = config();
        other.audience = Some("aud-b".into());
        let token = issue_token(&other, "u", None, 60).unwrap();
        assert_eq!(
            verifier.identify(&bearer(&token)),
            Err(IdentityError::InvalidToken("wrong audience"))
        );

        let mut other = config();
        other.hs256_secret = Some(Secret::new("another-secret-another-secret-xx"));
        let token = issue_token(&other, "u", None, 60).unwrap();
        assert_eq!(
            verifier.identify(&bearer(&token)),
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
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"unit-test-secret-unit-test-secret!!"),
        )
        .unwrap();
        assert_eq!(verifier.identify(&bearer(&token)), Err(IdentityError::InvalidToken("expired")));
    }

    #[test]
    fn malformed_and_missing_credentials_are_rejected() {
        let verifier = IdentityVerifier::new(&config());
        assert_eq!(
            verifier.identify(&bearer("not.a.jwt")),
            Err(IdentityError::InvalidToken("malformed"))
        );
        assert_eq!(verifier.identify(&bearer("")), Err(IdentityError::NotBearer));
        let none = lambda_http::http::Request::builder().uri("/").body(Body::Empty).unwrap();
        assert_eq!(verifier.identify(&none), Err(IdentityError::Missing));
        let basic = lambda_http::http::Request::builder()
            .uri("/")
            .header("authorization", "Basic dTpw")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(verifier.identify(&basic), Err(IdentityError::NotBearer));
    }

    #[test]
    fn none_algorithm_is_rejected() {
        // {"alg":"none"} header, valid-looking claims, empty signature.
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1IiwiaXNzIjoiaXNzLWEiLCJhdWQiOiJhdWQtYSIsImV4cCI6OTk5OTk5OTk5OX0.";
        assert!(matches!(
            IdentityVerifier::new(&config()).identify(&bearer(token)),
            Err(IdentityError::InvalidToken(_))
        ));
    }

    #[test]
    fn bearer_path_is_off_without_a_secret() {
        let token = issue_token(&config(), "u", None, 60).unwrap();
        let verifier = IdentityVerifier::new(&JwtConfig {
            hs256_secret: None,
            issuer: None,
            audience: None,
        });
        assert_eq!(verifier.identify(&bearer(&token)), Err(IdentityError::BearerDisabled));
    }

    #[test]
    fn authorizer_claims_of_both_api_shapes() {
        let verifier = IdentityVerifier::new(&config());
        let v2 = r#"{"version":"2.0","routeKey":"GET /entitlements","rawPath":"/entitlements","rawQueryString":"","headers":{},
            "requestContext":{"accountId":"1","apiId":"a","domainName":"x","domainPrefix":"x","http":{"method":"GET","path":"/entitlements","protocol":"HTTP/1.1","sourceIp":"1.1.1.1","userAgent":"t"},
            "requestId":"r","routeKey":"GET /entitlements","stage":"$default","time":"t","timeEpoch":0,
            "authorizer":{"jwt":{"claims":{"sub":"user_v2","email":"v2@example.com"},"scopes":null}}},"isBase64Encoded":false}"#;
        let req = lambda_http::request::from_str(v2).unwrap();
        assert_eq!(verifier.identify(&req).unwrap().user_id, "user_v2");

        let v1 = r#"{"resource":"/entitlements","path":"/entitlements","httpMethod":"GET","headers":{},"multiValueHeaders":{},
            "queryStringParameters":null,"multiValueQueryStringParameters":null,"pathParameters":null,"stageVariables":null,
            "requestContext":{"accountId":"1","resourceId":"r","stage":"prod","requestId":"r","identity":{"sourceIp":"1.1.1.1"},"resourcePath":"/entitlements","httpMethod":"GET","apiId":"a",
            "authorizer":{"claims":{"sub":"user_v1","email":"v1@example.com"}}},"body":null,"isBase64Encoded":false}"#;
        let req = lambda_http::request::from_str(v1).unwrap();
        assert_eq!(
            verifier.identify(&req).unwrap(),
            Identity {
                user_id: "user_v1".into(),
                email: Some("v1@example.com".into())
            }
        );
    }
}
