//! Helpers for tests of the functions (feature `testkit`): the local configuration, clients
//! pointed at loopback endpoints, and the `events/*.json` files that `cargo lambda invoke`
//! uses too.

pub mod consumer;

use std::collections::HashMap;
use std::path::PathBuf;

use lambda_http::Request;

use crate::app::{AppState, StartupError};
use crate::config::{Config, Needs};

/// Local-only values (the same as `dev/local.env`); never valid anywhere else.
pub const LOCAL_JWT_SECRET: &str = crate::config::PUBLISHED_LOCAL_JWT_SECRET;
pub const LOCAL_JWT_ISSUER: &str = "stripe-lambda-local";
pub const LOCAL_JWT_AUDIENCE: &str = "stripe-lambda";
pub const LOCAL_STRIPE_KEY: &str = "sk_test_local_emulator_key";
pub const LOCAL_WEBHOOK_SECRET: &str = "whsec_local_emulator_secret";

/// The repository's `events/` folder.
pub fn events_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../events"))
}

/// Reads `events/<name>` as text.
pub fn event_text(name: &str) -> String {
    let path = events_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses `events/<name>` the way the Lambda runtime does ([`crate::edge::runtime`]: a request
/// the guard refuses is marked; pass the handler through [`crate::edge::runtime::guarded`] to
/// see the answer Lambda gives).
pub fn event(name: &str) -> Request {
    crate::edge::runtime::request_from_json(&event_text(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// Parses `events/<name>` after `edit` changed its JSON (another body, user or path).
pub fn event_with(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Request {
    let mut value: serde_json::Value = serde_json::from_str(&event_text(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"));
    edit(&mut value);
    crate::edge::runtime::request_from_value(value).unwrap_or_else(|e| panic!("events/{name} (edited): {e}"))
}

/// Configuration for tests: the local defaults with the given table and endpoints.
pub fn config(table: &str, dynamodb_endpoint: &str, stripe_api_base: Option<&str>) -> Config {
    let mut env: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", table.to_owned()),
        ("DYNAMODB_ENDPOINT", dynamodb_endpoint.to_owned()),
        ("STRIPE_SECRET_KEY", LOCAL_STRIPE_KEY.to_owned()),
        ("STRIPE_WEBHOOK_SECRETS", LOCAL_WEBHOOK_SECRET.to_owned()),
        ("ALLOWED_REDIRECT_ORIGINS", "http://localhost:3000".to_owned()),
        ("DEFAULT_RETURN_URL", "http://localhost:3000/billing".to_owned()),
        ("JWT_HS256_SECRET", LOCAL_JWT_SECRET.to_owned()),
        ("JWT_ISSUER", LOCAL_JWT_ISSUER.to_owned()),
        ("JWT_AUDIENCE", LOCAL_JWT_AUDIENCE.to_owned()),
    ]);
    if let Some(base) = stripe_api_base {
        env.insert("STRIPE_API_BASE", base.to_owned());
    }
    let all = Needs {
        stripe: true,
        webhook_secrets: true,
        redirects: true,
    };
    Config::from_lookup(|k| env.get(k).cloned(), all).expect("test config is valid")
}

/// A DynamoDB client for a local endpoint with static test credentials.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "testkit"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// AWS configuration for a local endpoint (moto) with static test credentials: what the bus,
/// SES and SQS clients of a test are built from (pass the endpoint to their `from_config`).
pub fn local_sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "testkit"),
        ))
        .build()
}

/// Full application state against local endpoints.
pub fn state(config: Config, needs: Needs) -> Result<AppState, StartupError> {
    let endpoint = config
        .dynamodb_endpoint
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "http://127.0.0.1:9".into());
    let secrets = crate::adapters::secrets::inline(&config).unwrap_or_default();
    AppState::build(config, needs, dynamodb_client(&endpoint), secrets)
}

/// A bearer token the local configuration accepts.
pub fn token(config: &Config, user_id: &str, email: Option<&str>) -> String {
    crate::edge::identity::issue_token(&config.jwt, user_id, email, 3600).expect("local jwt config")
}

/// [`token`] acting for organization `org_id` with `role` (the default claim names).
pub fn org_token(config: &Config, user_id: &str, org_id: &str, role: &str) -> String {
    let claims = serde_json::json!({"org_id": org_id, "org_role": role, "org_name": format!("{org_id} Inc")});
    let claims = claims.as_object().cloned().unwrap_or_default();
    crate::edge::identity::issue_token_with(&config.jwt, user_id, Some(&format!("{user_id}@example.com")), claims, 3600)
        .expect("local jwt config")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free loopback port")
}

fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A tool installed by `dev/bootstrap.sh` into the venv (`STRIPE_LAMBDA_VENV`, else `.venv/`).
pub fn venv_bin(tool: &str) -> PathBuf {
    let venv = std::env::var_os("STRIPE_LAMBDA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"));
    let path = venv.join("bin").join(tool);
    assert!(
        path.exists(),
        "{} not found: run ./dev/test.sh, which installs the test tools (dev/bootstrap.sh)",
        path.display()
    );
    path
}

/// Starts `program args…` in the background under a watchdog that stops it when this process
/// exits. Output goes to a log file in the temp dir.
pub fn spawn_with_watchdog(program: &std::path::Path, args: &[String], log_name: &str) {
    let log_dir = std::env::temp_dir().join("stripe-lambda-tests");
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let log = std::fs::File::create(log_dir.join(format!("{log_name}-{}.log", std::process::id()))).expect("log file");
    let script = r#"prog="$1"; shift; "$prog" "$@" & child=$!; trap 'kill $child 2>/dev/null' EXIT; while kill -0 "$PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done"#;
    let child = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(program)
        .args(args)
        .env("PARENT", std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn watchdog");
    // The watchdog outlives this handle on purpose: it ends with this process.
    std::mem::forget(child);
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: std::net::SocketAddr, what: &str, timeout: std::time::Duration) {
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)).is_err() {
        assert!(start.elapsed() < timeout, "{what} did not listen on {addr} within {timeout:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// One moto server (DynamoDB wire protocol) per process, on a free loopback port; or the one at
/// `MOTO_ENDPOINT` when set.
pub fn moto_endpoint() -> &'static str {
    static ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
            return endpoint;
        }
        let port = free_port();
        // dev/moto-server.py: moto's server applying one request at a time, as DynamoDB applies
        // the writes to one item (moto's own server does not).
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../dev/moto-server.py");
        spawn_with_watchdog(
            &venv_bin("python"),
            &[script.into(), "-H".into(), "127.0.0.1".into(), "-p".into(), port.to_string()],
            "moto",
        );
        wait_for_port(
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            "moto server",
            std::time::Duration::from_secs(30),
        );
        format!("http://127.0.0.1:{port}")
    })
}

/// Counts the HTTP requests a DynamoDB client sends (every attempt).
#[derive(Debug, Default)]
pub struct RequestCounter(std::sync::atomic::AtomicUsize);

impl RequestCounter {
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct Counting(std::sync::Arc<RequestCounter>);

impl aws_sdk_dynamodb::config::Intercept for Counting {
    fn name(&self) -> &'static str {
        "request-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// [`dynamodb_client`] that counts every request it sends.
pub fn counting_dynamodb_client(endpoint: &str) -> (aws_sdk_dynamodb::Client, std::sync::Arc<RequestCounter>) {
    let counter = std::sync::Arc::new(RequestCounter::default());
    let conf = dynamodb_client(endpoint)
        .config()
        .to_builder()
        .interceptor(Counting(counter.clone()))
        .build();
    (aws_sdk_dynamodb::Client::from_conf(conf), counter)
}
