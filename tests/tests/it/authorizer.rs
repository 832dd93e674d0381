//! Bearer tokens verified against the issuer's keys (RS256 and ES256, keys the tests
//! generate, served by a local JWKS endpoint and OpenID discovery), and the authorizer
//! function's decisions against moto.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use billing::adapters::jwks::JwksFetcher;
use billing::adapters::store::Write;
use billing::config::{JwksSource, JwtConfig};
use billing::domain::records::{SubscriptionRecord, keys};
use billing::domain::version::Version;
use billing::edge::identity::{IdentityError, IdentityVerifier, KeySet};
use billing::testkit;
use serde_json::{Value, json};

use crate::helpers::fresh_store;

const ISSUER_AUDIENCE: &str = "my-api";

/// A signing key the tests hold, and its public JWK.
enum Signer {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
}

struct TestKey {
    kid: String,
    signer: Signer,
}

impl TestKey {
    fn rsa(kid: &str) -> Self {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        Self {
            kid: kid.into(),
            signer: Signer::Rsa(pair),
        }
    }

    fn ec(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        Self {
            kid: kid.into(),
            signer: Signer::Ec(pair),
        }
    }

    fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
        }
    }

    fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(pair) => {
                let public = pair.public_key();
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                       "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
                       "e": B64.encode(public.exponent().big_endian_without_leading_zero())})
            }
            Signer::Ec(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "kid": self.kid, "crv": "P-256", "use": "sig",
                       "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])})
            }
        }
    }

    /// A compact JWS of `claims` with `header` (its `kid` added), signed by this key.
    fn sign_with_header(&self, mut header: Value, claims: &Value) -> String {
        header["kid"] = self.kid.clone().into();
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let signature = match &self.signer {
            Signer::Rsa(pair) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut out)
                    .unwrap();
                out
            }
            Signer::Ec(pair) => pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap().as_ref().to_vec(),
        };
        format!("{input}.{}", B64.encode(signature))
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(json!({"alg": self.alg(), "typ": "JWT"}), claims)
    }
}

fn now() -> i64 {
    billing::now_epoch()
}

/// A local issuer: `/.well-known/openid-configuration` and `/jwks`, counting key fetches.
struct Issuer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start(keys: &[&TestKey]) -> Self {
        let set = Arc::new(Mutex::new(keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (served, counted, base) = (set.clone(), fetches.clone(), url.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || {
                    let base = base.clone();
                    async move { axum::Json(json!({"issuer": base, "jwks_uri": format!("{base}/jwks")})) }
                }),
            )
            .route(
                "/jwks",
                axum::routing::get(move || {
                    let (served, counted) = (served.clone(), counted.clone());
                    async move {
                        counted.fetch_add(1, Ordering::SeqCst);
                        axum::Json(json!({"keys": *served.lock().unwrap()}))
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, keys: set, fetches }
    }

    fn claims(&self, sub: &str) -> Value {
        json!({"sub": sub, "iss": self.url, "aud": ISSUER_AUDIENCE, "exp": now() + 600, "iat": now(), "email": format!("{sub}@example.com")})
    }

    fn config(&self) -> JwtConfig {
        JwtConfig {
            hs256_secret: None,
            issuer: Some(self.url.clone()),
            audience: Some(ISSUER_AUDIENCE.into()),
            jwks: Some(JwksSource::Discovery(url::Url::parse(&self.url).unwrap())),
            local: true,
            orgs: Default::default(),
        }
    }

    /// A verifier as a function builds it, keys loaded (as the authorizer does at init).
    async fn verifier(&self, refresh: Duration) -> IdentityVerifier {
        let config = self.config();
        let keys = KeySet::new(JwksFetcher::new(config.jwks.clone().unwrap(), config.issuer.clone(), true).unwrap())
            .with_refresh_interval(refresh);
        let verifier = IdentityVerifier::with_keys(&config, Some(keys));
        let readable = self.keys.lock().unwrap().iter().filter(|k| k["kty"] != "OKP").count();
        assert_eq!(verifier.load_keys().await.unwrap(), Some(readable));
        verifier
    }
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_the_issuers_keys() {
    let (rsa, ec) = (TestKey::rsa("rsa-1"), TestKey::ec("ec-1"));
    let issuer = Issuer::start(&[&rsa, &ec]).await;
    let verifier = issuer.verifier(Duration::from_secs(60)).await;
    for key in [&rsa, &ec] {
        let identity = verifier.verify_token(&key.sign(&issuer.claims("user_jwks"))).await.unwrap();
        assert_eq!(identity.user_id, "user_jwks", "{}", key.alg());
        assert_eq!(identity.email.as_deref(), Some("user_jwks@example.com"));
    }
    // An audience list that holds ours is fine too.
    let mut claims = issuer.claims("u");
    claims["aud"] = json!(["other", ISSUER_AUDIENCE]);
    assert!(verifier.verify_token(&rsa.sign(&claims)).await.is_ok());
}

#[tokio::test]
async fn bad_tokens_are_refused_for_the_right_reason() {
    let (rsa, ec) = (TestKey::rsa("rsa-1"), TestKey::ec("ec-1"));
    let issuer = Issuer::start(&[&rsa, &ec]).await;
    let verifier = issuer.verifier(Duration::from_secs(60)).await;
    let refused = |reason: &'static str| Err(IdentityError::InvalidToken(reason));
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut claims = issuer.claims("u");
        edit(&mut claims);
        claims
    };

    let expired = with(&|c| c["exp"] = json!(now() - 120));
    assert_eq!(verifier.verify_token(&rsa.sign(&expired)).await, refused("expired"));
    let within_leeway = with(&|c| c["exp"] = json!(now() - 10));
    assert!(verifier.verify_token(&rsa.sign(&within_leeway)).await.is_ok(), "30 s of leeway");
    let not_yet = with(&|c| c["nbf"] = json!(now() + 600));
    assert_eq!(verifier.verify_token(&ec.sign(&not_yet)).await, refused("not yet valid"));
    let other_issuer = with(&|c| c["iss"] = json!("https://evil.example.com"));
    assert_eq!(verifier.verify_token(&rsa.sign(&other_issuer)).await, refused("wrong issuer"));
    let other_audience = with(&|c| c["aud"] = json!("someone-else"));
    assert_eq!(verifier.verify_token(&rsa.sign(&other_audience)).await, refused("wrong audience"));
    let no_exp = with(&|c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    assert_eq!(
        verifier.verify_token(&rsa.sign(&no_exp)).await,
        refused("a required claim is missing")
    );

    // `alg: none`, with the kid of a real key and no signature.
    let header = B64.encode(json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).to_string());
    let none = format!("{header}.{}.", B64.encode(issuer.claims("u").to_string()));
    assert!(matches!(verifier.verify_token(&none).await, Err(IdentityError::InvalidToken(_))));

    // HS256 "signed" with the RSA public key (the classic key-confusion attack).
    let public_jwk = rsa.jwk();
    let secret = public_jwk["n"].as_str().unwrap().as_bytes().to_vec();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let confused = jsonwebtoken::encode(&header, &issuer.claims("u"), &jsonwebtoken::EncodingKey::from_secret(&secret)).unwrap();
    assert_eq!(verifier.verify_token(&confused).await, refused("algorithm not accepted"));

    // A token claiming ES256 under the RSA key's kid: the key's algorithm rules.
    let header = B64.encode(json!({"alg": "ES256", "kid": "rsa-1"}).to_string());
    let forged = format!("{header}.{}.{}", B64.encode(issuer.claims("u").to_string()), B64.encode([0u8; 64]));
    assert_eq!(
        verifier.verify_token(&forged).await,
        refused("unknown signing key"),
        "no ES256 key has that kid"
    );

    // A signature by a key the issuer never published.
    let stranger = TestKey::rsa("rsa-1");
    assert_eq!(
        verifier.verify_token(&stranger.sign(&issuer.claims("u"))).await,
        refused("bad signature")
    );
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_and_unknown_kids_fetch_at_most_once_a_minute() {
    let old = TestKey::rsa("old");
    let issuer = Issuer::start(&[&old]).await;
    // The default interval: right after init, an unknown kid does not fetch again.
    let strict = issuer.verifier(Duration::from_secs(60)).await;
    let new = TestKey::ec("new");
    *issuer.keys.lock().unwrap() = vec![new.jwk(), old.jwk()];
    let fetched = issuer.fetches.load(Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(
            strict.verify_token(&new.sign(&issuer.claims("u"))).await,
            Err(IdentityError::InvalidToken("unknown signing key"))
        );
    }
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), fetched, "no fetch within the minute");

    // Once the interval has passed, the unknown kid fetches the set once and verifies.
    let relaxed = issuer.verifier(Duration::from_millis(50)).await;
    *issuer.keys.lock().unwrap() = vec![old.jwk()];
    relaxed.load_keys().await.unwrap();
    *issuer.keys.lock().unwrap() = vec![new.jwk(), old.jwk()];
    tokio::time::sleep(Duration::from_millis(80)).await;
    let before = issuer.fetches.load(Ordering::SeqCst);
    assert_eq!(
        relaxed.verify_token(&new.sign(&issuer.claims("rotated"))).await.unwrap().user_id,
        "rotated"
    );
    assert!(
        relaxed.verify_token(&old.sign(&issuer.claims("u"))).await.is_ok(),
        "the old key still verifies"
    );
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), before + 1, "one fetch for the new kid");
}

#[tokio::test]
async fn a_key_endpoint_down_at_start_is_a_startup_error_and_never_an_allow() {
    let port = testkit::free_port();
    let store = fresh_store("authz-down").await;
    let mut config = testkit::config(store.table(), crate::helpers::moto_endpoint(), None);
    config.jwt = JwtConfig {
        hs256_secret: None,
        issuer: Some("https://issuer.example.com".into()),
        audience: Some(ISSUER_AUDIENCE.into()),
        jwks: Some(JwksSource::Url(url::Url::parse(&format!("http://127.0.0.1:{port}/jwks")).unwrap())),
        local: true,
        orgs: Default::default(),
    };
    let state = testkit::state(config, authorizer::NEEDS).unwrap();
    let err = state.require_keys().await.unwrap_err();
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}/jwks")), "{err}");
    // A process that went on anyway denies.
    let key = TestKey::rsa("k");
    let claims = json!({"sub": "u", "iss": "https://issuer.example.com", "aud": ISSUER_AUDIENCE, "exp": now() + 60});
    let mut request = gated_request("GET /reports");
    request
        .headers
        .insert("authorization".into(), format!("Bearer {}", key.sign(&claims)));
    let answer = authorizer::handler::decide(&state, &request).await;
    assert!(!answer.is_authorized);
    assert_eq!(answer.context.reason, "invalid_token");
}

fn gated_request(route: &str) -> authorizer::handler::AuthorizerRequest {
    let mut request: authorizer::handler::AuthorizerRequest = serde_json::from_str(&testkit::event_text("authorizer-gated.json")).unwrap();
    request.route_key = Some(route.into());
    request
}

/// A stored subscription of `user` to `plan` in `status`.
fn record(user: &str, plan: &str, status: &str, past_due_since: Option<i64>) -> SubscriptionRecord {
    SubscriptionRecord {
        pk: keys::user(user),
        sk: keys::subscription(&format!("sub_{user}")),
        subscription_id: format!("sub_{user}"),
        customer_id: format!("cus_{user}"),
        status: status.into(),
        plan: Some(plan.into()),
        price_id: Some(format!("price_{plan}")),
        interval: Some(billing::domain::plans::Interval::Month),
        quantity: 1,
        current_period_end: Some(now() + 20 * 86_400),
        cancel_at_period_end: false,
        current_period_start: Some(now() - 10 * 86_400),
        cancel_at: None,
        trial_end: (status == "trialing").then_some(now() + 5 * 86_400),
        past_due_since,
        pause: None,
        paused_since: None,
        uncollected_period: None,
        version: Version::of_payload(now()),
        updated_at: now(),
    }
}

#[tokio::test]
async fn the_authorizer_decides_by_the_entitlement_rules_with_one_read() {
    let key = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let (proxy, store) = (crate::entitlements::counting_proxy().await, fresh_store("authz").await);
    let mut config = testkit::config(store.table(), &proxy.url, None);
    config.jwt = issuer.config();
    config.authorizer_routes =
        billing::domain::routes::RouteFeatures::parse(r#"{"GET /reports": "exports", "GET /api/*": "api_access"}"#).unwrap();
    let state = testkit::state(config, authorizer::NEEDS).unwrap();
    state.require_keys().await.unwrap();
    for record in [
        record("trialing_user", "starter", "trialing", None),
        record("grace_user", "starter", "past_due", Some(now() - 86_400)),
        record("late_user", "starter", "past_due", Some(now() - 30 * 86_400)),
        record("canceled_user", "starter", "canceled", None),
    ] {
        state.store.commit(None, None, &[Write::Subscription(record)]).await.unwrap();
    }
    let decide = async |user: &str, route: &str| {
        let mut request = gated_request(route);
        request
            .headers
            .insert("authorization".into(), format!("Bearer {}", key.sign(&issuer.claims(user))));
        let before = proxy.count.load(Ordering::SeqCst);
        let answer = authorizer::handler::decide(&state, &request).await;
        (answer, proxy.count.load(Ordering::SeqCst) - before)
    };
    for (user, route, allowed, reason, status, reads) in [
        ("free_user", "GET /reports", false, "no_subscription", "none", 1),
        ("trialing_user", "GET /reports", true, "trialing", "trialing", 1),
        ("grace_user", "GET /reports", true, "grace_past_due", "grace_past_due", 1),
        ("late_user", "GET /reports", false, "past_due_grace_expired", "past_due", 1),
        ("canceled_user", "GET /reports", false, "canceled", "canceled", 1),
        ("trialing_user", "GET /api/things", false, "not_in_plan", "trialing", 1),
        ("canceled_user", "GET /profile", true, "authenticated", "", 0),
    ] {
        let (answer, count) = decide(user, route).await;
        assert_eq!(
            (
                answer.is_authorized,
                answer.context.reason.as_str(),
                answer.context.status.as_str(),
                count
            ),
            (allowed, reason, status, reads),
            "{user} {route}: {answer:?}"
        );
        assert_eq!(answer.context.user, user);
    }
    let (answer, _) = decide("trialing_user", "GET /reports").await;
    assert_eq!(
        (answer.context.plan.as_str(), answer.context.feature.as_str()),
        ("starter", "exports")
    );
}

#[tokio::test]
async fn odd_key_sets_and_kid_less_tokens() {
    let (rsa, ec) = (TestKey::rsa("rsa-1"), TestKey::ec("ec-1"));
    let issuer = Issuer::start(&[&rsa, &ec]).await;
    // A key this service cannot read (an X25519 encryption key) does not hide the others.
    issuer
        .keys
        .lock()
        .unwrap()
        .push(json!({"kty": "OKP", "crv": "X25519", "use": "enc", "kid": "x", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}));
    let verifier = issuer.verifier(Duration::from_secs(60)).await;
    assert!(verifier.verify_token(&ec.sign(&issuer.claims("u"))).await.is_ok());

    // Without a kid, a set of several keys names none, and nothing is fetched for it.
    let fetched = issuer.fetches.load(Ordering::SeqCst);
    let header = B64.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
    let claims = B64.encode(issuer.claims("u").to_string());
    let input = format!("{header}.{claims}");
    let Signer::Rsa(pair) = &rsa.signer else { unreachable!() };
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature)
        .unwrap();
    let kidless = format!("{input}.{}", B64.encode(signature));
    assert_eq!(
        verifier.verify_token(&kidless).await,
        Err(IdentityError::InvalidToken("unknown signing key"))
    );
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), fetched);

    // A discovery document naming another issuer is refused.
    let mut config = issuer.config();
    config.issuer = Some("https://other-issuer.example.com".into());
    let err = IdentityVerifier::new(&config).unwrap().load_keys().await.unwrap_err();
    assert!(err.to_string().contains("other-issuer.example.com"), "{err}");
    // As is plain http outside a local run.
    let mut config = issuer.config();
    config.local = false;
    assert!(IdentityVerifier::new(&config).unwrap().load_keys().await.is_err());
}
