//! Process-level numbers: connections to Stripe per process, and the release binary's cold
//! start and memory under a fake Lambda runtime API.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use billing::testkit;
use serde_json::Value;

use crate::{report, sign};

/// Stripe connections a warm process opens for 100 checkouts: the project's pooled client
/// against async-stripe's own (which disables pooling).
pub(crate) async fn connections_bench(config: &billing::Config, emulator: &stripe_emulator::Emulator) {
    let state = testkit::state(config.clone(), checkout::NEEDS).unwrap();
    let calls = 100;
    let before = emulator.shared.connections();
    for i in 0..calls {
        // A new user per call: each checkout is a real Stripe call.
        let req = testkit::event_with("checkout-create.json", |e| {
            e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = format!("bench_pool_{}_{i}", std::process::id()).into();
        });
        let response = checkout::handler::handle(&state, req).await.unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.body());
    }
    report(
        "checkout: Stripe connections opened per 100 warm calls (pooled client)",
        format!("{}", emulator.shared.connections() - before),
        "1",
    );

    let client = stripe::ClientBuilder::new(testkit::LOCAL_STRIPE_KEY)
        .url(emulator.base_url())
        .build()
        .unwrap();
    let before = emulator.shared.connections();
    for _ in 0..calls {
        stripe_product::price::ListPrice::new().limit(1).send(&client).await.unwrap();
    }
    report(
        "  the same 100 calls through async-stripe's own hyper client (the old path)",
        format!("{}", emulator.shared.connections() - before),
        "—",
    );
}

/// A fake Lambda Runtime API: records when `next` is first called and serves `invocations`
/// API Gateway events, then holds `next` open.
pub(crate) struct Runtime {
    first_next: Mutex<Option<Instant>>,
    first_response: Mutex<Option<Instant>>,
    served: Mutex<usize>,
    responses: Mutex<Vec<Value>>,
    invocations: usize,
    event: String,
}

pub(crate) async fn fake_runtime(event: String, invocations: usize) -> (Arc<Runtime>, String) {
    use axum::extract::State;
    use axum::http::HeaderMap;
    use axum::routing::{get, post};
    let runtime = Arc::new(Runtime {
        first_next: Mutex::new(None),
        first_response: Mutex::new(None),
        served: Mutex::new(0),
        responses: Mutex::new(Vec::new()),
        invocations,
        event,
    });
    let app = axum::Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            get(|State(rt): State<Arc<Runtime>>| async move {
                rt.first_next.lock().unwrap().get_or_insert_with(Instant::now);
                let n = {
                    let mut served = rt.served.lock().unwrap();
                    *served += 1;
                    *served
                };
                if n > rt.invocations {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                let mut headers = HeaderMap::new();
                headers.insert("lambda-runtime-aws-request-id", format!("req-{n}").parse().unwrap());
                let deadline = (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 30_000)
                    .to_string();
                headers.insert("lambda-runtime-deadline-ms", deadline.parse().unwrap());
                headers.insert(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:entitlements".parse().unwrap(),
                );
                headers.insert(
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000".parse().unwrap(),
                );
                (headers, rt.event.clone())
            }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(|State(rt): State<Arc<Runtime>>, body: axum::body::Bytes| async move {
                rt.first_response.lock().unwrap().get_or_insert_with(Instant::now);
                rt.responses
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                axum::http::StatusCode::ACCEPTED
            }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(|body: axum::body::Bytes| async move {
                eprintln!("invocation error: {}", String::from_utf8_lossy(&body));
                axum::http::StatusCode::ACCEPTED
            }),
        )
        .with_state(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (runtime, addr)
}

pub(crate) fn env_for(config: &billing::Config, runtime_api: &str, function: &str) -> HashMap<String, String> {
    HashMap::from([
        ("AWS_LAMBDA_RUNTIME_API".into(), runtime_api.into()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), function.into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "bench".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), "/aws/lambda/entitlements".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "bench".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "bench".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("TABLE_NAME".into(), config.table_name.clone()),
        ("DYNAMODB_ENDPOINT".into(), config.dynamodb_endpoint.as_ref().unwrap().to_string()),
        ("RUST_LOG".into(), "error".into()),
    ])
}

pub(crate) fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub(crate) async fn release_bench(bin: &str, config: &billing::Config) {
    let event = testkit::event_text("entitlements-feature.json");
    let mut starts = Vec::new();
    let mut rss = 0;
    for round in 0..5 {
        let invocations = if round == 0 { 500 } else { 0 };
        let (runtime, addr) = fake_runtime(event.clone(), invocations).await;
        let spawned = Instant::now();
        let mut child = tokio::process::Command::new(bin)
            .env_clear()
            .envs(env_for(config, &addr, "entitlements"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("release binary");
        let ready = loop {
            if let Some(at) = *runtime.first_next.lock().unwrap() {
                break at;
            }
            assert!(
                spawned.elapsed() < Duration::from_secs(10),
                "the release binary never asked for an invocation"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        starts.push(ready - spawned);
        if invocations > 0 {
            while runtime.responses.lock().unwrap().len() < invocations {
                assert!(spawned.elapsed() < Duration::from_secs(120), "invocations did not complete");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let first = runtime.responses.lock().unwrap()[0].clone();
            assert_eq!(first["statusCode"], 200, "{first}");
            rss = vm_hwm_kb(child.id().unwrap()).unwrap_or(0);
        }
        let _ = child.kill().await;
    }
    starts.sort();
    report(
        "entitlements release binary: start → ready for first invoke (median of 5)",
        format!("{:.1} ms", starts[2].as_secs_f64() * 1e3),
        "≤ 20 ms",
    );
    report(
        "entitlements release binary: max RSS after 500 invocations",
        format!("{:.1} MB", rss as f64 / 1024.0),
        "≤ 30 MB",
    );
}

/// A fresh process of the checkout and webhook release binaries, against moto and the emulator:
/// spawn → the first response posted to the Runtime API (init, including the warm-up of the
/// DynamoDB and Stripe connections, then one request). Median of 5.
pub(crate) async fn first_response_bench(dir: &str, config: &billing::Config) {
    let stripe_env = |mut env: HashMap<String, String>| {
        env.extend([
            ("STRIPE_API_BASE".to_owned(), config.stripe_api_base.as_ref().unwrap().to_string()),
            ("STRIPE_SECRET_KEY".to_owned(), testkit::LOCAL_STRIPE_KEY.to_owned()),
            ("STRIPE_WEBHOOK_SECRETS".to_owned(), testkit::LOCAL_WEBHOOK_SECRET.to_owned()),
            ("ALLOWED_REDIRECT_ORIGINS".to_owned(), "http://localhost:3000".to_owned()),
            ("DEFAULT_RETURN_URL".to_owned(), "http://localhost:3000/billing".to_owned()),
        ]);
        env
    };
    for function in ["checkout", "webhook"] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let event = match function {
                "checkout" => {
                    let mut event: Value = serde_json::from_str(&testkit::event_text("checkout-create.json")).unwrap();
                    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = format!("bench_first_{}", times.len()).into();
                    event.to_string()
                }
                _ => sign(&testkit::event_text("stripe/customer.subscription.updated.json")).to_string(),
            };
            let (runtime, addr) = fake_runtime(event, 1).await;
            let spawned = Instant::now();
            let mut child = tokio::process::Command::new(format!("{dir}/{function}"))
                .env_clear()
                .envs(stripe_env(env_for(config, &addr, function)))
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("release binary");
            let answered = loop {
                if let Some(at) = *runtime.first_response.lock().unwrap() {
                    break at;
                }
                assert!(spawned.elapsed() < Duration::from_secs(20), "{function} never answered");
                tokio::time::sleep(Duration::from_micros(200)).await;
            };
            let first = runtime.responses.lock().unwrap()[0].clone();
            assert!(first["statusCode"].as_u64().is_some_and(|s| s < 300), "{function}: {first}");
            times.push(answered - spawned);
            let _ = child.kill().await;
        }
        times.sort();
        report(
            &format!("{function} release binary: fresh process start → first response (local stack, median of 5)"),
            format!("{:.1} ms", times[2].as_secs_f64() * 1e3),
            "—",
        );
    }
}
