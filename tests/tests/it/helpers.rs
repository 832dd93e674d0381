//! Local endpoints for the integration tests.
//!
//! One moto server (DynamoDB wire protocol) per test binary, on a free loopback port, started
//! from the project's venv (`dev/bootstrap.sh` installs it; `./dev/test.sh` runs that first) by
//! `billing::testkit::moto_endpoint`. Set `MOTO_ENDPOINT` to reuse a running one instead. A
//! watchdog stops the server when the test process exits.

use std::sync::atomic::{AtomicUsize, Ordering};

use billing::adapters::store::Store;
pub use billing::testkit::{free_port, moto_endpoint};

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
        Self::with_config(prefix, webhook_urls, |_| {}).await
    }

    /// [`Stack::new`] with the configuration edited first (every process reads it once).
    pub async fn with_config(prefix: &str, webhook_urls: Vec<String>, edit: impl FnOnce(&mut billing::Config)) -> Self {
        let emulator = crate::emulator::start_emulator(webhook_urls).await;
        Self::around(emulator, prefix, edit).await
    }

    /// The application state of a fresh table on the shared moto server, wired to `emulator`.
    async fn around(emulator: stripe_emulator::Emulator, prefix: &str, edit: impl FnOnce(&mut billing::Config)) -> Self {
        let store = fresh_store(prefix).await;
        let mut config = billing::testkit::config(store.table(), moto_endpoint(), Some(&emulator.base_url()));
        edit(&mut config);
        let all = billing::Needs {
            stripe: true,
            webhook_secrets: true,
            redirects: true,
        };
        let state = billing::testkit::state(config, all).expect("state");
        Stack { emulator, state }
    }

    /// The process's pooled Stripe client: async-stripe's typed requests go through it.
    pub fn stripe(&self) -> &billing::adapters::stripe::HttpClient {
        self.state.stripe().expect("stripe client").http()
    }

    /// Stripe API requests the emulator has received so far.
    pub async fn stripe_requests(&self) -> u64 {
        self.emulator.shared.api_requests()
    }

    /// Every item in the table (moto never expires TTL items; nothing here uses TTL yet).
    pub async fn item_count(&self) -> usize {
        self.items().await.len()
    }

    async fn items(&self) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let out = self
            .state
            .store
            .client()
            .scan()
            .table_name(self.state.store.table())
            .send()
            .await
            .expect("scan");
        out.items.unwrap_or_default()
    }
}

impl Stack {
    /// [`Stack::item_count`] without the per-user counters of Stripe-calling requests
    /// (`RATE#…`): what a request that called Stripe for nothing changed.
    pub async fn state_item_count(&self) -> usize {
        self.items()
            .await
            .iter()
            .filter(|item| {
                !item["pk"]
                    .as_s()
                    .is_ok_and(|pk| pk.starts_with(billing::domain::records::keys::RATE_PREFIX))
            })
            .count()
    }

    /// A paid subscription of `user_123` from `checkout` (a `POST /checkout` body), paid with
    /// the card that always succeeds and synced eagerly as the return page does. Its id.
    pub async fn subscribed_to(&self, checkout: serde_json::Value) -> String {
        let (status, created) = crate::checkout::create(self, crate::checkout::post_checkout(checkout)).await;
        assert_eq!(status, 201, "{created}");
        let session = created["id"].as_str().unwrap().to_owned();
        crate::checkout::pay(self, &session, "4242424242424242").await;
        let response = checkout::handler::handle(&self.state, crate::checkout::get_checkout(&session))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", body(&response));
        self.emulator.shared.world.lock().await.sessions[&session]
            .subscription
            .clone()
            .unwrap()
    }

    /// One run of the usage reporter, its summary.
    pub async fn run_reporter(&self) -> serde_json::Value {
        let event = lambda_runtime::LambdaEvent::new(serde_json::json!({}), lambda_runtime::Context::default());
        serde_json::to_value(usage_reporter::handler::handle(&self.state, event).await.unwrap()).unwrap()
    }
}

/// The parsed JSON body of a handler response.
pub fn body(response: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref()).unwrap_or(serde_json::Value::Null)
}

/// A clock the test holds still or moves (`Stack::state.with_clock`): keys valid for a time
/// window, fetch stamps and refresh intervals read it.
#[derive(Debug)]
pub struct TestClock(std::sync::atomic::AtomicI64);

impl TestClock {
    pub fn at(now: i64) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self(std::sync::atomic::AtomicI64::new(now)))
    }

    pub fn set(&self, now: i64) {
        self.0.store(now, std::sync::atomic::Ordering::SeqCst);
    }
}

impl billing::domain::clock::Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Stack {
    /// Holds this stack's clock at the current second: requests made one after the other then
    /// fall in the same idempotency-key window, whenever the test runs.
    pub fn hold_clock(&mut self) {
        let state = std::mem::replace(&mut self.state, placeholder_state());
        self.state = state.with_clock(TestClock::at(billing::now_epoch()));
    }
}

fn placeholder_state() -> billing::AppState {
    billing::testkit::state(
        billing::testkit::config("placeholder", "http://127.0.0.1:9", None),
        billing::Needs::default(),
    )
    .expect("state")
}

impl Stack {
    /// A stack whose functions and emulator share one clock (the emulator writes its offset to
    /// a file the state's clock reads, as `LOCAL_CLOCK_FILE` does in a local run), seeded from
    /// `catalog` (the embedded one when `None`), with the configuration edited first.
    pub async fn shared_clock(prefix: &str, catalog: Option<&str>, edit: impl FnOnce(&mut billing::Config)) -> Self {
        let catalog = match catalog {
            Some(json) => billing::domain::plans::Catalog::from_json("test", json).expect("test catalog"),
            None => billing::domain::plans::Catalog::embedded().unwrap(),
        };
        let clock_file = std::env::temp_dir().join(format!("{prefix}-{}-clock", std::process::id()));
        let settings = stripe_emulator::Settings {
            public_url: String::new(),
            webhook_secrets: vec![billing::testkit::LOCAL_WEBHOOK_SECRET.to_owned()],
            delivery_backoff_ms: 50,
            clock_file: Some(clock_file.clone()),
            ..stripe_emulator::Settings::default()
        };
        let emulator = stripe_emulator::start(stripe_emulator::World::new(settings, &catalog), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut stack = Self::around(emulator, prefix, edit).await;
        let state = std::mem::replace(&mut stack.state, placeholder_state());
        let mut state = state.with_clock(std::sync::Arc::new(billing::adapters::local_clock::FileOffsetClock::new(
            clock_file,
        )));
        state.catalog = catalog;
        stack.state = state;
        stack
    }
}
