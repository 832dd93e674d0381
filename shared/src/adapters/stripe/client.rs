//! The HTTP client under the Stripe port: one per process, keep-alive and pooled.
//!
//! async-stripe's own hyper client disables pooling (`pool_max_idle_per_host(0)`), so every
//! call would pay a TCP and TLS handshake. Its request builders accept any
//! [`stripe_client_core::StripeClient`]; this one keeps connections open across calls and
//! invocations (rustls with aws-lc-rs, webpki roots, HTTP/1.1 and HTTP/2 by ALPN, a connect
//! timeout and a per-attempt timeout). It makes ONE attempt per call: retries and idempotency
//! keys are the port's business (`super::with_attempts`).
//!
//! The base URL comes from configuration (`STRIPE_API_BASE`), so the local emulator or real
//! Stripe is chosen by configuration alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, DATE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use stripe_client_core::{CustomizedStripeRequest, RequestBuilder, StripeClient, StripeClientErr, StripeMethod};

use crate::config::Secret;

/// Per-attempt timeout: three attempts (see `super::ATTEMPTS`) fit the 25 s function timeout.
pub const STRIPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connect (TCP) timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an idle connection stays in the pool.
pub const POOL_IDLE: Duration = Duration::from_secs(90);

/// Stripe's error object (`{"error": {...}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ApiErrorBody {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ApiErrorBody,
}

/// One failed attempt.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Stripe answered with an error status (the body, when it was Stripe's error JSON).
    #[error("stripe answered {status} ({:?}, code {:?})", .error.kind, .error.code)]
    Api { status: u16, error: Box<ApiErrorBody> },
    /// No answer: connection refused or reset, TLS, DNS.
    #[error("stripe could not be reached")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stripe did not answer within {0:?}")]
    Timeout(Duration),
    /// An answer that is not the JSON expected.
    #[error("stripe's answer could not be read: {0}")]
    Decode(String),
    /// The request could not be built (a bad header value, an invalid URL).
    #[error("the stripe request could not be built: {0}")]
    Request(String),
}

impl CallError {
    /// Whether another attempt may succeed: 409 (a request with the same idempotency key is
    /// still running), 429, 5xx, no answer, a timeout.
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Api { status, .. } => *status == 409 || *status == 429 || *status >= 500,
            CallError::Transport(_) | CallError::Timeout(_) => true,
            CallError::Decode(_) | CallError::Request(_) => false,
        }
    }
}

impl StripeClientErr for CallError {
    fn deserialize_err(msg: impl std::fmt::Display) -> Self {
        CallError::Decode(msg.to_string())
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Bytes,
    /// Stripe replayed the answer it stored for the idempotency key (`Idempotent-Replayed`):
    /// what it says is the state at the first request, not now.
    pub replayed: bool,
}

/// A successful answer read as JSON.
#[derive(Debug, Clone)]
pub struct Json {
    pub value: serde_json::Value,
    pub replayed: bool,
}

/// The process's Stripe HTTP client. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct HttpClient {
    client: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Ends with `/`; requests go to `<base>v1<path>`.
    base: String,
    authorization: HeaderValue,
    user_agent: HeaderValue,
    stripe_version: HeaderValue,
    timeout: Duration,
    /// When the clock-skew warning was last logged (Unix seconds).
    skew_warned: Arc<AtomicI64>,
    /// `Stripe-Account`: requests on behalf of a connected account.
    account: Option<HeaderValue>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").field("base", &self.base).finish_non_exhaustive()
    }
}

/// Where the real Stripe API lives.
pub const STRIPE_API: &str = "https://api.stripe.com/";

impl HttpClient {
    /// A client for `base` (`None`: real Stripe) authenticating with `secret_key`.
    pub fn new(base: Option<&str>, secret_key: &Secret) -> Result<Self, CallError> {
        let mut base = base.unwrap_or(STRIPE_API).to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", secret_key.expose())).map_err(|_| CallError::Request("secret key".into()))?;
        authorization.set_sensitive(true);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| CallError::Request(format!("tls: {e}")))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = HyperClient::builder(TokioExecutor::new()).pool_idle_timeout(POOL_IDLE).build(https);
        Ok(Self {
            client,
            base,
            authorization,
            user_agent: HeaderValue::from_static(concat!("Stripe/v1 stripe-lambda/", env!("CARGO_PKG_VERSION"))),
            stripe_version: HeaderValue::from_str(stripe_shared::version::VERSION.as_str())
                .map_err(|_| CallError::Request("stripe version".into()))?,
            timeout: STRIPE_TIMEOUT,
            skew_warned: Arc::new(AtomicI64::new(0)),
            account: None,
        })
    }

    /// The same client (and pool) acting on behalf of a connected account (`Stripe-Account`).
    pub fn with_account(&self, account: &str) -> Result<Self, CallError> {
        let account = HeaderValue::from_str(account).map_err(|_| CallError::Request("account id".into()))?;
        Ok(Self {
            account: Some(account),
            ..self.clone()
        })
    }

    /// The API base this client calls.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// One attempt of `request`, with `idempotency_key` when given. Error statuses are
    /// [`CallError::Api`].
    pub async fn send(
        &self,
        request: &RequestBuilder,
        idempotency_key: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Bytes, CallError> {
        self.send_full(request, idempotency_key, timeout).await.map(|answer| answer.body)
    }

    /// [`HttpClient::send`], telling whether Stripe replayed a stored answer for the key.
    pub async fn send_full(
        &self,
        request: &RequestBuilder,
        idempotency_key: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Answer, CallError> {
        let mut uri = format!("{}v1{}", self.base, request.path);
        if let Some(query) = &request.query {
            uri.push('?');
            uri.push_str(query);
        }
        let method = match request.method {
            StripeMethod::Get => hyper::Method::GET,
            StripeMethod::Post => hyper::Method::POST,
            StripeMethod::Delete => hyper::Method::DELETE,
        };
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(USER_AGENT, self.user_agent.clone())
            .header(HeaderName::from_static("stripe-version"), self.stripe_version.clone());
        if let Some(key) = idempotency_key {
            builder = builder.header(HeaderName::from_static("idempotency-key"), key);
        }
        if let Some(account) = &self.account {
            builder = builder.header(HeaderName::from_static("stripe-account"), account.clone());
        }
        if request.body.is_some() {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        }
        let body = Full::new(request.body.clone().map(Bytes::from).unwrap_or_default());
        let request = builder.body(body).map_err(|e| CallError::Request(e.to_string()))?;
        let timeout = timeout.unwrap_or(self.timeout);
        let attempt = async {
            let response = self.client.request(request).await.map_err(|e| CallError::Transport(Box::new(e)))?;
            let status = response.status();
            self.check_clock(response.headers());
            let replayed = response
                .headers()
                .get("idempotent-replayed")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| CallError::Transport(Box::new(e)))?
                .to_bytes();
            Ok::<_, CallError>((status, bytes, replayed))
        };
        let (status, bytes, replayed) = tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| CallError::Timeout(timeout))??;
        if status.is_success() {
            return Ok(Answer { body: bytes, replayed });
        }
        let error = Box::new(serde_json::from_slice::<ErrorEnvelope>(&bytes).map(|e| e.error).unwrap_or_default());
        Err(CallError::Api {
            status: status.as_u16(),
            error,
        })
    }

    /// Compares our clock with Stripe's (the `Date` of an answer). The sync engine's ordering rule
    /// tolerates our clock running up to `CLOCK_SKEW_MARGIN` seconds ahead; past that (or
    /// clearly behind) a warning is logged, at most once a minute.
    fn check_clock(&self, headers: &HeaderMap) {
        let Some(theirs) = headers
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
        else {
            return;
        };
        let ours = SystemTime::now();
        // Stripe's Date is truncated to the second: in sync, ours - theirs is within [0, 1) plus
        // the latency of the answer.
        let ahead = match ours.duration_since(theirs) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        let margin = crate::domain::version::CLOCK_SKEW_MARGIN as f64;
        if (-1.0..=margin).contains(&ahead) {
            return;
        }
        let now = crate::domain::clock::now_epoch();
        let last = self.skew_warned.load(Ordering::Relaxed);
        if now - last >= 60
            && self
                .skew_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                ahead_secs = ahead,
                margin_secs = margin,
                "our clock differs from Stripe's beyond the ordering rule's margin"
            );
        }
    }

    /// [`HttpClient::send`], the answer read as JSON.
    pub async fn send_json(&self, request: &RequestBuilder, idempotency_key: Option<&str>) -> Result<Json, CallError> {
        let answer = self.send_full(request, idempotency_key, None).await?;
        let value = serde_json::from_slice(&answer.body).map_err(|e| CallError::Decode(e.to_string()))?;
        Ok(Json {
            value,
            replayed: answer.replayed,
        })
    }
}

/// async-stripe's typed request builders can be sent through this client:
/// `ListPrice::new().send(&client)`.
impl StripeClient for HttpClient {
    type Err = CallError;

    async fn execute(&self, request: CustomizedStripeRequest) -> Result<Bytes, CallError> {
        let (request, config) = request.into_pieces();
        let key = config.request_strategy.as_ref().and_then(|s| s.get_key());
        self.send(&request, key.as_ref().map(|k| k.as_str()), config.timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_429_5xx_and_transport() {
        let api = |status| CallError::Api {
            status,
            error: Box::default(),
        };
        assert!(api(429).is_transient() && api(500).is_transient() && api(503).is_transient());
        assert!(!api(400).is_transient() && !api(402).is_transient() && !api(404).is_transient());
        assert!(api(409).is_transient(), "an idempotent request still in flight");
        assert!(CallError::Timeout(STRIPE_TIMEOUT).is_transient());
        assert!(CallError::Transport("reset".into()).is_transient());
        assert!(!CallError::Decode("x".into()).is_transient());
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let client = HttpClient::new(Some("http://127.0.0.1:9"), &Secret::new("sk_test_hidden_value")).unwrap();
        assert_eq!(client.base(), "http://127.0.0.1:9/");
        assert!(!format!("{client:?}").contains("hidden"));
    }
}
