//! The issuer's signing keys: a JSON Web Key Set fetched over HTTPS, from `JWT_JWKS_URL` or from
//! the `jwks_uri` of the issuer's OpenID configuration (`<JWT_ISSUER>/.well-known/openid-configuration`).
//! Plain HTTP is accepted on loopback only, in local runs (and tests). A discovery document must
//! name the configured issuer. One key that cannot be read is skipped, not the whole set.
//!
//! Each usable key is returned with the one algorithm it verifies, taken from the key itself
//! (its `alg`, else its type and curve): RS256 for RSA keys, ES256 for P-256 keys. Keys for
//! encryption (`use: enc`), of other types or algorithms, or that do not parse are skipped.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use url::Url;

/// Per-request timeout of a key fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The whole fetch (discovery and key set), well inside a Lambda init and the authorizer's
/// timeout.
pub const FETCH_DEADLINE: Duration = Duration::from_secs(5);
/// Largest key set or discovery document read.
const MAX_BODY: usize = 256 * 1024;

pub use crate::config::JwksSource;

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("{url}: {problem}")]
    Fetch { url: String, problem: String },
    #[error("{url}: not a JSON Web Key Set: {problem}")]
    Unreadable { url: String, problem: String },
    #[error("{url}: no RS256 or ES256 signing key in the set")]
    NoKeys { url: String },
}

/// One verification key: its id (`kid`, when the set gives one), the key and its algorithm.
#[derive(Clone)]
pub struct VerificationKey {
    pub kid: Option<String>,
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Fetches key sets; one per process (its connection pool is kept).
#[derive(Clone)]
pub struct JwksFetcher {
    client: HyperClient<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    source: JwksSource,
    /// The issuer the discovery document must name (`JWT_ISSUER`).
    issuer: Option<String>,
    /// Plain http to loopback addresses (local runs and tests only).
    loopback_http: bool,
}

impl std::fmt::Debug for JwksFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksFetcher").field("source", &self.source).finish()
    }
}

impl JwksFetcher {
    /// A fetcher for `source`; `issuer` is what a discovery document must name, and
    /// `loopback_http` allows plain http to loopback addresses (local runs only).
    pub fn new(source: JwksSource, issuer: Option<String>, loopback_http: bool) -> Result<Self, JwksError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(2)));
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| JwksError::Fetch {
                url: String::new(),
                problem: format!("tls: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: HyperClient::builder(TokioExecutor::new()).build(https),
            source,
            issuer,
            loopback_http,
        })
    }

    pub fn source(&self) -> &JwksSource {
        &self.source
    }

    /// The current signing keys (within [`FETCH_DEADLINE`]).
    pub async fn fetch(&self) -> Result<Vec<VerificationKey>, JwksError> {
        tokio::time::timeout(FETCH_DEADLINE, self.fetch_now())
            .await
            .map_err(|_| JwksError::Fetch {
                url: format!("{:?}", self.source),
                problem: format!("keys not fetched within {FETCH_DEADLINE:?}"),
            })?
    }

    async fn fetch_now(&self) -> Result<Vec<VerificationKey>, JwksError> {
        let url = match &self.source {
            JwksSource::Url(url) => url.clone(),
            JwksSource::Discovery(issuer) => self.discover(issuer).await?,
        };
        let body = self.get(&url).await?;
        // Each key on its own: one key of a kind this service does not read (an encryption key,
        // another curve) must not hide the others.
        #[derive(serde::Deserialize)]
        struct RawSet {
            keys: Vec<serde_json::Value>,
        }
        let set: RawSet = serde_json::from_slice(&body).map_err(|e| JwksError::Unreadable {
            url: url.to_string(),
            problem: e.to_string(),
        })?;
        let keys: Vec<VerificationKey> = set
            .keys
            .into_iter()
            .filter_map(|raw| serde_json::from_value::<Jwk>(raw).ok())
            .filter_map(|jwk| verification_key(&jwk))
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoKeys { url: url.to_string() });
        }
        Ok(keys)
    }

    /// The `jwks_uri` of `issuer`'s OpenID configuration.
    async fn discover(&self, issuer: &Url) -> Result<Url, JwksError> {
        let config_url = format!("{}/.well-known/openid-configuration", issuer.as_str().trim_end_matches('/'));
        let config_url = Url::parse(&config_url).map_err(|e| JwksError::Fetch {
            url: config_url.clone(),
            problem: e.to_string(),
        })?;
        let body = self.get(&config_url).await?;
        let unreadable = |problem: String| JwksError::Unreadable {
            url: config_url.to_string(),
            problem,
        };
        let document: serde_json::Value = serde_json::from_slice(&body).map_err(|e| unreadable(e.to_string()))?;
        // The document must be the configured issuer's (OpenID Connect Discovery 1.0, 4.3).
        let named = document
            .get("issuer")
            .and_then(serde_json::Value::as_str)
            .map(|i| i.trim_end_matches('/'));
        let expected = self.issuer.as_deref().unwrap_or(issuer.as_str()).trim_end_matches('/');
        if named != Some(expected) {
            return Err(unreadable(format!("its issuer is {named:?}, not {expected:?}")));
        }
        let jwks_uri = document
            .get("jwks_uri")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| unreadable("no jwks_uri".into()))?;
        let jwks_uri = Url::parse(jwks_uri).map_err(|e| unreadable(format!("jwks_uri: {e}")))?;
        check_scheme(&jwks_uri, self.loopback_http)?;
        Ok(jwks_uri)
    }

    async fn get(&self, url: &Url) -> Result<Bytes, JwksError> {
        check_scheme(url, self.loopback_http)?;
        let failed = |problem: String| JwksError::Fetch {
            url: url.to_string(),
            problem,
        };
        let uri: hyper::Uri = url
            .as_str()
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| failed(e.to_string()))?;
        let request = hyper::Request::get(uri)
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::USER_AGENT, concat!("stripe-lambda/", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())
            .map_err(|e| failed(e.to_string()))?;
        let response = tokio::time::timeout(FETCH_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| failed(format!("no answer within {FETCH_TIMEOUT:?}")))?
            .map_err(|e| failed(crate::adapters::cause_chain(&e)))?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        let body = tokio::time::timeout(FETCH_TIMEOUT, Limited::new(response.into_body(), MAX_BODY).collect())
            .await
            .map_err(|_| failed(format!("body not read within {FETCH_TIMEOUT:?}")))?
            .map_err(|e| failed(format!("body: {e}")))?;
        Ok(body.to_bytes())
    }
}

/// HTTPS, or HTTP to a loopback address when `loopback_http` (local runs and tests).
fn check_scheme(url: &Url, loopback_http: bool) -> Result<(), JwksError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback_http && crate::config::is_loopback(url) => Ok(()),
        _ => Err(JwksError::Fetch {
            url: url.to_string(),
            problem: "keys are fetched over https only (http on loopback)".into(),
        }),
    }
}

/// The key and the one algorithm it verifies; `None` for keys this service does not use.
pub fn verification_key(jwk: &Jwk) -> Option<VerificationKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256)) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerificationKey {
        kid: jwk.common.key_id.clone(),
        key,
        algorithm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(value: serde_json::Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    const N: &str = "u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0_IzW7yWR7QkrmBL7jTKEn5u-qKhbwKfBstIs-bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW_VDL5AaWTg0nLVkjRo9z-40RQzuVaE8AkAFmxZzow3x-VJYKdjykkJ0iT9wCS0DRTXu269V264Vf_3jvredZiKRkgwlL9xNAwxXFg0x_XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC-9aGVd-Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmw";

    #[test]
    fn a_key_verifies_one_algorithm_taken_from_the_key() {
        let rsa = jwk(serde_json::json!({"kty": "RSA", "kid": "r1", "use": "sig", "n": N, "e": "AQAB"}));
        let key = verification_key(&rsa).unwrap();
        assert_eq!((key.kid.as_deref(), key.algorithm), (Some("r1"), Algorithm::RS256));
        let ec = jwk(serde_json::json!({"kty": "EC", "kid": "e1", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}));
        assert_eq!(verification_key(&ec).unwrap().algorithm, Algorithm::ES256);
    }

    #[test]
    fn keys_for_encryption_or_other_algorithms_are_skipped() {
        let enc = jwk(serde_json::json!({"kty": "RSA", "use": "enc", "n": N, "e": "AQAB"}));
        assert!(verification_key(&enc).is_none());
        let rs512 = jwk(serde_json::json!({"kty": "RSA", "alg": "RS512", "n": N, "e": "AQAB"}));
        assert!(verification_key(&rs512).is_none());
        let secret = jwk(serde_json::json!({"kty": "oct", "alg": "HS256", "k": "c2VjcmV0"}));
        assert!(verification_key(&secret).is_none(), "a symmetric key in a key set is never used");
    }

    #[test]
    fn keys_come_over_https_or_loopback_http_only() {
        assert!(check_scheme(&Url::parse("https://issuer.example.com/jwks").unwrap(), false).is_ok());
        assert!(check_scheme(&Url::parse("http://127.0.0.1:9999/jwks").unwrap(), true).is_ok());
        assert!(
            check_scheme(
                &Url::parse("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next").unwrap(),
                false
            )
            .is_err(),
            "not in a deployed function: loopback there is the Lambda Runtime API"
        );
        assert!(check_scheme(&Url::parse("http://issuer.example.com/jwks").unwrap(), true).is_err());
        assert!(check_scheme(&Url::parse("file:///etc/passwd").unwrap(), true).is_err());
    }
}
