//! Local endpoints for the integration tests.
//!
//! One moto server (DynamoDB wire protocol) per test binary, on a free loopback port, started
//! from the project's venv (`dev/bootstrap.sh` installs it; `./dev/test.sh` runs that first).
//! Set `MOTO_ENDPOINT` to reuse a running one instead (e.g. the local stack's). A watchdog
//! stops the server when the test process exits.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use billing::store::Store;

fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn venv_bin(tool: &str) -> PathBuf {
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free loopback port")
}

fn wait_for(addr: SocketAddr, what: &str, timeout: Duration) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(start.elapsed() < timeout, "{what} did not listen on {addr} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `program args…` in the background, stopped when this process exits.
pub fn spawn_with_watchdog(program: &PathBuf, args: &[String], log_name: &str) {
    let log_dir = std::env::temp_dir().join("stripe-lambda-tests");
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let log = std::fs::File::create(log_dir.join(format!("{log_name}-{}.log", std::process::id()))).expect("log file");
    let script = r#"prog="$1"; shift; "$prog" "$@" & child=$!; trap 'kill $child 2>/dev/null' EXIT; while kill -0 "$PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done"#;
    // The watchdog outlives this handle on purpose: it ends with the test process.
    let child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(program)
        .args(args)
        .env("PARENT", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn watchdog");
    std::mem::forget(child);
}

/// The DynamoDB endpoint for this test process.
pub fn moto_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
            return endpoint;
        }
        let port = free_port();
        spawn_with_watchdog(
            &venv_bin("moto_server"),
            &["-H".into(), "127.0.0.1".into(), "-p".into(), port.to_string()],
            "moto",
        );
        wait_for(SocketAddr::from(([127, 0, 0, 1], port)), "moto server", Duration::from_secs(30));
        format!("http://127.0.0.1:{port}")
    })
}

/// A fresh, uniquely named table on the shared moto server.
pub async fn fresh_store(prefix: &str) -> Store {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let store = Store::new(billing::testkit::dynamodb_client(moto_endpoint()), name);
    assert!(store.create_table().await.expect("create table"), "table is new");
    store
}

/// One test's world: a Stripe emulator (in process, on a free port), a fresh table on the shared
/// moto server, and application state wired to both (the state every function builds in `main`).
pub struct Stack {
    pub emulator: stripe_emulator::Emulator,
    pub state: billing::AppState,
}

impl Stack {
    pub async fn new(prefix: &str, webhook_urls: Vec<String>) -> Self {
        let emulator = crate::emulator::start_emulator(webhook_urls).await;
        let store = fresh_store(prefix).await;
        let config = billing::testkit::config(store.table(), moto_endpoint(), Some(&emulator.base_url()));
        let all = billing::Needs {
            stripe: true,
            webhook_secrets: true,
            redirects: true,
        };
        let state = billing::testkit::state(config, all).expect("state");
        Stack { emulator, state }
    }

    pub fn stripe(&self) -> &stripe::Client {
        self.state.stripe.as_ref().expect("stripe client")
    }

    /// Stripe API requests the emulator has received so far.
    pub async fn stripe_requests(&self) -> u64 {
        self.emulator.shared.world.lock().await.api_requests
    }

    /// Every item in the table (moto never expires TTL items; nothing here uses TTL yet).
    pub async fn item_count(&self) -> usize {
        let out = self
            .state
            .store
            .client()
            .scan()
            .table_name(self.state.store.table())
            .send()
            .await
            .expect("scan");
        out.items.unwrap_or_default().len()
    }
}

/// The parsed JSON body of a handler response.
pub fn body(response: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref()).unwrap_or(serde_json::Value::Null)
}
