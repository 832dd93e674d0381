//! `bench`: the numbers behind the benchmark table in `docs/testing.md`. Run through `dev/bench.sh`,
//! which builds the release binaries first. Not a test: it reports, it does not assert.
//!
//! ```text
//! bench [--events N] [--checks N] [--release-dir DIR] [--zips DIR]
//! ```
//!
//! `--release-dir` holds the release binaries of `entitlements`, `checkout` and `webhook`.

use std::time::{Duration, Instant};

use billing::adapters::secrets::ResolvedSecrets;
use billing::config::{Needs, Secret};
use billing::domain::version::Version;
use billing::testkit;
use clap::Parser;

mod process;
use process::{connections_bench, first_response_bench, release_bench};
use serde_json::{Value, json};

/// The numbers behind the benchmark table (release builds; run through `dev/bench.sh`).
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
struct Args {
    /// Webhook events to time.
    #[arg(long, default_value_t = 300)]
    events: usize,
    /// Entitlement checks, usage records and authorizer decisions to time.
    #[arg(long, default_value_t = 2000)]
    checks: usize,
    /// The directory holding the release binaries of `entitlements`, `checkout` and `webhook`.
    #[arg(long)]
    release_dir: Option<String>,
    /// The directory holding the arm64 release zips (`cargo lambda build --output-format zip`).
    #[arg(long)]
    zips: Option<String>,
}

fn report(name: &str, value: String, target: &str) {
    println!("| {name} | {value} | {target} |");
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    // The table owns stdout: the handlers run here must not print their metric lines in it.
    billing::edge::metrics::silence();
    let moto = testkit::moto_endpoint();
    let catalog = billing::domain::plans::Catalog::embedded().unwrap();
    let emulator = stripe_emulator::start(
        stripe_emulator::World::new(
            stripe_emulator::Settings {
                public_url: String::new(),
                ..Default::default()
            },
            &catalog,
        ),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let table = format!("bench-{}", std::process::id());
    let config = testkit::config(&table, moto, Some(&emulator.base_url()));
    let (client, requests) = testkit::counting_dynamodb_client(moto);
    let secrets = ResolvedSecrets {
        secret_key: Some(Secret::new(testkit::LOCAL_STRIPE_KEY)),
        webhook_secrets: vec![Secret::new(testkit::LOCAL_WEBHOOK_SECRET)],
    };
    let state = billing::AppState::build(
        config.clone(),
        Needs {
            stripe: true,
            webhook_secrets: true,
            redirects: true,
        },
        client,
        secrets,
    )
    .unwrap();
    state.store.create_table().await.unwrap();

    println!("| measure | result | target |");
    println!("|---|---|---|");
    webhook_bench(&state, &requests, args.events).await;
    publisher_bench(&state, &requests).await;
    entitlements_bench(&state, &requests, args.checks).await;
    usage_bench(&state, &requests, args.checks).await;
    member_bench(&state, &requests, args.checks).await;
    authorizer_bench(&state, args.checks).await;
    connections_bench(&config, &emulator).await;
    if let Some(dir) = &args.release_dir {
        release_bench(&format!("{dir}/entitlements"), &config).await;
        first_response_bench(dir, &config).await;
    }
    if let Some(dir) = &args.zips {
        for f in [
            "checkout",
            "portal",
            "webhook",
            "entitlements",
            "subscription",
            "usage",
            "usage-reporter",
            "reconcile",
            "authorizer",
            "events-publisher",
            "notifier",
            "seats",
        ] {
            // A size target is set for the entitlements function only.
            let target = if f == "entitlements" { "≤ 8 MB" } else { "—" };
            let path = format!("{dir}/{f}/bootstrap.zip");
            match std::fs::metadata(&path) {
                Ok(meta) => report(
                    &format!("arm64 release zip, {f}"),
                    format!("{:.1} MB", meta.len() as f64 / 1e6),
                    target,
                ),
                Err(err) => report(&format!("arm64 release zip, {f}"), format!("missing ({err})"), target),
            }
        }
    }
}

fn sign(payload: &str) -> Value {
    let header = billing::edge::signature::sign_header(&[testkit::LOCAL_WEBHOOK_SECRET], billing::now_epoch(), payload.as_bytes());
    billing::edge::local_events::api_gateway_event(payload, &header)
}

async fn deliver(state: &billing::AppState, event: &Value) -> u16 {
    let req = billing::edge::runtime::request_from_json(&event.to_string()).unwrap();
    webhook::handler::handle(state, req).await.unwrap().status().as_u16()
}

/// `customer.subscription.updated` events for one subscription, one second apart, fresh ids;
/// each changes the quantity, so each makes domain events (`subscription.updated` and an access
/// check in the outbox, in the same transaction).
fn updates(n: usize, from: usize, changing: bool) -> Vec<String> {
    let base: Value = serde_json::from_str(&testkit::event_text("stripe/customer.subscription.updated.json")).unwrap();
    let created = base["created"].as_i64().unwrap();
    (from..from + n)
        .map(|i| {
            let mut event = base.clone();
            event["id"] = format!("evt_bench_{}_{i}", std::process::id()).into();
            event["created"] = (created + 1 + i as i64).into();
            let quantity = if changing { 2 + (i % 2) as u64 } else { 2 };
            event["data"]["object"]["quantity"] = quantity.into();
            event["data"]["object"]["items"]["data"][0]["quantity"] = quantity.into();
            serde_json::to_string_pretty(&event).unwrap()
        })
        .collect()
}

async fn webhook_bench(state: &billing::AppState, requests: &testkit::RequestCounter, n: usize) {
    // The customer mapping exists (the common path).
    assert_eq!(
        deliver(state, &sign(&testkit::event_text("stripe/checkout.session.completed.json"))).await,
        200
    );
    let payloads = updates(n, 0, true);

    // Own CPU: exactly what the handler computes between receiving the body and the store:
    // verify, parse the envelope and the subscription, build the record and its item.
    let signed: Vec<(String, String)> = payloads
        .iter()
        .map(|p| {
            (
                p.clone(),
                billing::edge::signature::sign_header(&[testkit::LOCAL_WEBHOOK_SECRET], billing::now_epoch(), p.as_bytes()),
            )
        })
        .collect();
    let secrets = state.webhook_secrets.current();
    let rounds = 5;
    let start = Instant::now();
    for _ in 0..rounds {
        for (payload, header) in &signed {
            let now = billing::now_epoch();
            billing::edge::signature::verify(Some(header), payload.as_bytes(), &secrets, Duration::from_secs(300), now).unwrap();
            let event = billing::domain::event::parse(payload.as_bytes()).unwrap();
            let snapshot = billing::domain::objects::parse_subscription(&event.object).unwrap();
            let version = Version::of_payload(event.created);
            let record = snapshot.to_record("user_123", &state.catalog, version, event.created, None, now);
            let item: serde_dynamo::Item = serde_dynamo::to_item(&record).unwrap();
            std::hint::black_box(item);
        }
    }
    let per_event = start.elapsed() / (rounds * n) as u32;
    report(
        "webhook: own CPU per event (verify + parse + decide)",
        format!("{:.3} ms", per_event.as_secs_f64() * 1e3),
        "≤ 0.2 ms",
    );

    // Store round trips through the real handler.
    let before = requests.get();
    let start = Instant::now();
    for payload in &payloads {
        assert_eq!(deliver(state, &sign(payload)).await, 200);
    }
    let wall = start.elapsed() / n as u32;
    let trips = (requests.get() - before) as f64 / n as f64;
    let outbox = state.store.outbox(100_000).await.unwrap().len();
    // The same path where the state moves but nothing a domain event reports changes: no outbox.
    let quiet = updates(n, n + 1, false);
    let before = requests.get();
    for payload in &quiet {
        assert_eq!(deliver(state, &sign(payload)).await, 200);
    }
    let baseline = (requests.get() - before) as f64 / n as f64;
    let extra = state.store.outbox(100_000).await.unwrap().len() - outbox;
    assert!(extra <= 2, "at most the first quiet event changes the quantity back: {extra}");
    report(
        "webhook: DynamoDB round trips per event (common path, each event a state change with its domain events)",
        format!("{trips:.2}"),
        "≤ 2",
    );
    report(
        &format!(
            "webhook: DynamoDB round trips added by the domain events ({:.2} outbox items per event, in the same transaction)",
            outbox as f64 / n as f64
        ),
        format!("{:+.2} (vs {baseline:.2} without domain events)", trips - baseline),
        "0",
    );
    report(
        "webhook: wall time per event incl. moto (~4 ms/request, not a speed reference)",
        format!("{:.1} ms", wall.as_secs_f64() * 1e3),
        "—",
    );
}

/// The publisher's cost per domain event: what the webhook bench left in the outbox, put on a
/// bus on moto's EventBridge.
async fn publisher_bench(state: &billing::AppState, requests: &testkit::RequestCounter) {
    let client = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&testkit::local_sdk())
            .endpoint_url(testkit::moto_endpoint())
            .build(),
    );
    let bus = billing::adapters::bus::Bus::new(client, format!("bench-{}", std::process::id()), "billing");
    bus.create().await.unwrap();
    let pending = state.store.outbox(100_000).await.unwrap().len();
    let before = requests.get();
    let start = Instant::now();
    let mut published = 0;
    let mut puts = 0;
    loop {
        let run = state.publisher(&bus).run().await.unwrap();
        assert_eq!(run.refused, 0, "{run:?}");
        published += run.published;
        puts += run.put_requests;
        if run.left == 0 {
            break;
        }
    }
    let wall = start.elapsed();
    let handled = pending.max(1) as f64;
    report(
        &format!("publisher: DynamoDB requests per outbox item ({pending} items, {published} published)"),
        format!("{:.2}", (requests.get() - before) as f64 / handled),
        "—",
    );
    report(
        "publisher: PutEvents requests per published event",
        format!("{:.2}", puts as f64 / published.max(1) as f64),
        "≤ 1",
    );
    report(
        "publisher: wall time per outbox item incl. moto (not a speed reference)",
        format!("{:.1} ms", wall.as_secs_f64() * 1e3 / handled),
        "—",
    );
}

async fn entitlements_bench(state: &billing::AppState, requests: &testkit::RequestCounter, n: usize) {
    assert_eq!(
        deliver(
            state,
            &sign(&testkit::event_text("stripe/entitlements.active_entitlement_summary.updated.json"))
        )
        .await,
        200
    );
    let event = testkit::event_text("entitlements-feature.json");
    let items = state.store.user_items("user_123").await.unwrap();
    let policy = state.config.access;

    // Own CPU: parse the API Gateway event, identify, decide, render the answer.
    let start = Instant::now();
    for _ in 0..n {
        let req = lambda_http::request::from_str(&event).unwrap();
        let identity = state.identity.identify(&req).await.unwrap();
        let access = billing::domain::access::decide(&state.catalog, &items, billing::now_epoch(), &policy);
        let decision = access.check("api_access");
        std::hint::black_box(
            serde_json::to_string(&json!({"user": identity.user_id, "allowed": decision.allowed, "reason": decision.reason.as_str()}))
                .unwrap(),
        );
    }
    let per_check = start.elapsed() / n as u32;
    report(
        "entitlements: own CPU per check",
        format!("{:.3} ms", per_check.as_secs_f64() * 1e3),
        "≤ 0.2 ms",
    );

    let before = requests.get();
    let checks = 50;
    for _ in 0..checks {
        let response = entitlements::handler::handle(state, testkit::event("entitlements-feature.json"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    report(
        "entitlements: DynamoDB requests per check",
        format!("{:.2}", (requests.get() - before) as f64 / checks as f64),
        "1",
    );
}

/// A seated member of an organization: own CPU per decision (parse, identify with the
/// organization's claims, decide the member's union, render) and DynamoDB requests per check
/// (target 1: one PartiQL statement reads the member's partition and the organization's).
async fn member_bench(state: &billing::AppState, requests: &testkit::RequestCounter, n: usize) {
    use billing::adapters::store::Write;
    let org = billing::domain::billable::org("org_bench");
    let now = billing::now_epoch();
    let record: billing::domain::records::SubscriptionRecord = serde_json::from_value(json!({
        "pk": billing::domain::records::keys::user(&org), "sk": billing::domain::records::keys::subscription("sub_org_bench"),
        "subscription_id": "sub_org_bench", "customer_id": "cus_org_bench", "status": "active", "plan": "starter",
        "quantity": 3, "current_period_start": now - 86_400, "current_period_end": now + 29 * 86_400,
        "cancel_at_period_end": false, "version": 1, "updated_at": now
    }))
    .unwrap();
    state.store.commit(None, None, &[Write::Subscription(record)]).await.unwrap();
    let (seat, _) = state.seats().assign("org_bench", "admin_bench", "user_123").await.unwrap();
    assert!(seat.active);
    let mut event: Value = serde_json::from_str(&testkit::event_text("entitlements-feature.json")).unwrap();
    event["rawPath"] = "/entitlements/exports".into();
    event["requestContext"]["http"]["path"] = "/entitlements/exports".into();
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    claims["org_id"] = "org_bench".into();
    claims["org_role"] = "org:member".into();
    let event = event.to_string();
    let (personal, org_items) = state.store.member_items("user_123", "org_bench").await.unwrap();
    let policy = state.config.access;

    let start = Instant::now();
    for _ in 0..n {
        let req = lambda_http::request::from_str(&event).unwrap();
        let identity = state.identity.identify(&req).await.unwrap();
        let org_id = identity.org_id().unwrap();
        let access = billing::domain::seats::decide_member(&state.catalog, &personal, &org_items, org_id, billing::now_epoch(), &policy);
        let decision = access.check("exports");
        assert!(decision.allowed);
        std::hint::black_box(
            serde_json::to_string(&json!({"user": identity.user_id, "allowed": decision.allowed, "reason": decision.reason.as_str()}))
                .unwrap(),
        );
    }
    let per_check = start.elapsed() / n as u32;
    report(
        "entitlements, seated member: own CPU per check",
        format!("{:.3} ms", per_check.as_secs_f64() * 1e3),
        "≤ 0.2 ms",
    );
    let before = requests.get();
    let checks = 50;
    for _ in 0..checks {
        let req = lambda_http::request::from_str(&event).unwrap();
        let response = entitlements::handler::handle(state, req).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    report(
        "entitlements, seated member: DynamoDB requests per check",
        format!("{:.2}", (requests.get() - before) as f64 / checks as f64),
        "1",
    );
}

/// The authorizer: own CPU per decision (verify the bearer token, decide the route's feature
/// from the user's items, render the answer), for an HS256 token (local) and an RS256 token
/// verified against a key set served on loopback (production's path; the keys fetched once).
async fn authorizer_bench(state: &billing::AppState, n: usize) {
    use aws_lc_rs::signature::KeyPair;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let items = state.store.user_items("user_123").await.unwrap();
    let policy = state.config.access;
    let routes = billing::domain::routes::RouteFeatures::parse(r#"{"GET /reports": "exports"}"#).unwrap();
    let decide = |identity: billing::edge::identity::Identity| {
        let access = billing::domain::access::decide(&state.catalog, &items, billing::now_epoch(), &policy);
        let feature = routes.feature_for("GET /reports").unwrap();
        let decision = access.check(feature);
        std::hint::black_box(
            serde_json::to_string(
                &json!({"isAuthorized": decision.allowed, "context": {"user": identity.user_id, "reason": decision.reason.as_str()}}),
            )
            .unwrap(),
        );
    };

    let hs256 = format!("Bearer {}", testkit::token(&state.config, "user_123", None));
    let start = Instant::now();
    for _ in 0..n {
        decide(state.identity.verify_bearer(&hs256).await.unwrap());
    }
    report(
        "authorizer: own CPU per decision, HS256 token (verify + decide)",
        format!("{:.3} ms", (start.elapsed() / n as u32).as_secs_f64() * 1e3),
        "—",
    );

    // RS256 against a key set on loopback.
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let public = pair.public_key();
    let jwk = json!({"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig",
        "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
        "e": B64.encode(public.exponent().big_endian_without_leading_zero())});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let set = json!({"keys": [jwk]});
    tokio::spawn(async move {
        let app = axum::Router::new().route("/jwks", axum::routing::get(move || async move { axum::Json(set.clone()) }));
        axum::serve(listener, app).await.unwrap()
    });
    let jwt = billing::config::JwtConfig {
        hs256_secret: None,
        issuer: Some("https://issuer.example.com".into()),
        audience: Some("bench".into()),
        jwks: Some(billing::config::JwksSource::Url(url.parse().unwrap())),
        local: true,
        orgs: billing::config::OrgClaims::default(),
    };
    let verifier = billing::edge::identity::IdentityVerifier::new(&jwt).unwrap();
    verifier.load_keys().await.unwrap();
    let claims = json!({"sub": "user_123", "iss": "https://issuer.example.com", "aud": "bench", "exp": billing::now_epoch() + 3600});
    let input = format!(
        "{}.{}",
        B64.encode(json!({"alg": "RS256", "kid": "bench", "typ": "JWT"}).to_string()),
        B64.encode(claims.to_string())
    );
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    let rs256 = format!("Bearer {input}.{}", B64.encode(signature));
    let start = Instant::now();
    for _ in 0..n {
        decide(verifier.verify_bearer(&rs256).await.unwrap());
    }
    report(
        "authorizer: own CPU per decision, RS256 token (verify + decide)",
        format!("{:.3} ms", (start.elapsed() / n as u32).as_secs_f64() * 1e3),
        "—",
    );
}

/// A usage record, the trusted way (a direct invocation's payload): own CPU per record (parse
/// and validate the payload, the allowance from the process cache, render the answer) and
/// DynamoDB round trips per record in a warm process (target 1 on a quota-only counter; 2 on a metered one: the transaction and the read of the new count).
async fn usage_bench(state: &billing::AppState, requests: &testkit::RequestCounter, n: usize) {
    let text = testkit::event_text("usage-record-direct.json");
    let payload = |text: &str| {
        let mut payload: Value = serde_json::from_str(text).unwrap();
        // Without a key: a key makes each record a transaction, a read and a kept answer.
        payload.as_object_mut().unwrap().remove("idempotency_key");
        payload
    };
    // Warm: the user's allowance is read once and kept for USAGE_CACHE_SECONDS.
    let answer = usage::direct::invoke(state, payload(&text)).await;
    assert_eq!(answer["allowed"], true, "{answer}");
    let items = state.store.user_items("user_123").await.unwrap();
    let start = Instant::now();
    for _ in 0..n {
        let body = payload(&text);
        let feature = body["feature"].as_str().unwrap();
        assert!(billing::domain::plans::is_valid_key(feature));
        let access = billing::domain::access::decide(&state.catalog, &items, billing::now_epoch(), &state.config.access);
        let allowance = access.usage.get(feature).unwrap();
        std::hint::black_box(
            serde_json::to_string(&json!({"user": body["user_id"], "feature": feature, "limit": allowance.limit})).unwrap(),
        );
    }
    let per_record = start.elapsed() / n as u32;
    report(
        "usage: own CPU per record",
        format!("{:.3} ms", per_record.as_secs_f64() * 1e3),
        "—",
    );
    let before = requests.get();
    let records = 50;
    for _ in 0..records {
        let answer = usage::direct::invoke(state, payload(&text)).await;
        assert_eq!(answer["allowed"], true, "{answer}");
    }
    report(
        "usage: DynamoDB round trips per record (warm process, metered counter)",
        format!("{:.2}", (requests.get() - before) as f64 / records as f64),
        "2 (1 for quota-only counters)",
    );
}
