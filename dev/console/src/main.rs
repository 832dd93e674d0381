//! `console`: the local console at <http://127.0.0.1:9001/>, started by `./dev/run.sh`.
//!
//! A small page (`static/`: HTML, one ES module, one stylesheet; no build step, nothing from a
//! CDN) over four kinds of route:
//! - `/api/…`: the HTTP API, passed through to `cargo lambda watch` as it is (the page sends the
//!   user's bearer token, as a team's frontend would);
//! - `POST /console/token`: a bearer token for any user id, minted like `./dev/token.sh`;
//! - `POST /console/usage`: usage recorded through the trusted path (a direct invocation of the
//!   `usage` function, as the team's own backend would), for the caller the token names;
//! - `GET`/`POST /console/clock`: the emulator's clock, and moving it;
//! - `GET /console/events`: the domain events arriving on the local bus (a rule and an SQS queue
//!   on it, as a team's consumer attaches one; removed on exit).
//!
//! Reads the local stack's environment (`dev/local.env`) for the JWT settings, the bus and the
//! emulator (`STRIPE_API_BASE`). Local only: it listens on loopback and mints tokens for anyone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use billing::config::{Config, Needs};
use clap::Parser;

mod actions;
mod caller;
mod clock;
mod feed;
mod guard;
mod kept;
mod pages;
mod problem;
mod proxy;
mod state;

use state::Console;

/// The local console: the whole product in a browser, against the local stack.
#[derive(Debug, Parser)]
#[command(name = "console", version)]
struct Cli {
    /// Where to listen (loopback only).
    #[arg(long, default_value = "127.0.0.1:9001")]
    addr: SocketAddr,
    /// The HTTP API: `cargo lambda watch`.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    api: String,
    /// The page's files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/static"))]
    static_dir: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let cli = Cli::parse();
    if !cli.addr.ip().is_loopback() {
        eprintln!(
            "console: {} is not a loopback address; the console mints tokens for anyone",
            cli.addr
        );
        return ExitCode::FAILURE;
    }
    let config = match Config::from_env(Needs::default()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("console: {err}");
            return ExitCode::FAILURE;
        }
    };
    let verifier = match billing::edge::identity::IdentityVerifier::new(&config.jwt) {
        Ok(verifier) => verifier,
        Err(err) => {
            eprintln!("console: {err}");
            return ExitCode::FAILURE;
        }
    };
    let stripe = std::env::var("STRIPE_API_BASE").unwrap_or_else(|_| "http://127.0.0.1:12111/".into());
    let http = match reqwest::Client::builder().timeout(std::time::Duration::from_secs(900)).build() {
        Ok(http) => http,
        Err(err) => {
            eprintln!("console: {err}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(cli.addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("console: cannot listen on {}: {err}", cli.addr);
            return ExitCode::FAILURE;
        }
    };
    let console = Arc::new(Console {
        feed: kept::Feed::default(),
        config,
        verifier,
        http,
        api: cli.api.trim_end_matches('/').to_owned(),
        stripe: stripe.trim_end_matches('/').to_owned(),
        static_dir: cli.static_dir,
    });
    let (stop_feed, feed_stopped) = tokio::sync::oneshot::channel();
    let feed_task = tokio::spawn(feed::run(console.clone(), feed_stopped));
    tracing::info!(addr = %cli.addr, api = %console.api, stripe = %console.stripe, "console listening");
    let app = axum::Router::new()
        .merge(pages::router())
        .merge(actions::router())
        .merge(proxy::router())
        .layer(axum::middleware::from_fn(guard::same_origin))
        .with_state(console);
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown()).await;
    let _ = stop_feed.send(());
    let _ = feed_task.await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("console: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C or SIGTERM (what `./dev/run.sh` sends when it stops).
async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
