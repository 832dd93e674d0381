//! `stripe-emulator`: serves the emulator until Ctrl-C.
//!
//! Environment (all optional):
//! - `STRIPE_EMULATOR_ADDR` (default `127.0.0.1:12111`)
//! - `STRIPE_EMULATOR_PUBLIC_URL` (default `http://<addr>`): base of the hosted pages
//! - `STRIPE_EMULATOR_WEBHOOK_URLS`: comma-separated endpoints to deliver events to
//! - `STRIPE_WEBHOOK_SECRETS`: comma-separated `whsec_…` secrets to sign with
//! - `STRIPE_EMULATOR_API_KEY`: the only accepted key (default: any `sk_test_…`)
//! - `STRIPE_EMULATOR_CLOCK_FILE`: a file to keep the clock's offset in (seconds ahead of the
//!   system clock), read by the local stack's functions (`LOCAL_CLOCK_FILE`)
//! - `PLANS_PATH`: plans catalog to seed products, prices, features, billing meters and metered
//!   prices from

use std::net::SocketAddr;
use std::process::ExitCode;

use billing::domain::plans::Catalog;
use stripe_emulator::{Settings, World};

fn list(var: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let addr: SocketAddr = match std::env::var("STRIPE_EMULATOR_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:12111".into())
        .parse()
    {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("stripe-emulator: STRIPE_EMULATOR_ADDR is invalid: {err}");
            return ExitCode::FAILURE;
        }
    };
    let catalog = match Catalog::load(std::env::var_os("PLANS_PATH").map(std::path::PathBuf::from).as_deref()) {
        Ok(catalog) => catalog,
        Err(err) => {
            eprintln!("stripe-emulator: {err}");
            return ExitCode::FAILURE;
        }
    };
    let settings = Settings {
        api_key: std::env::var("STRIPE_EMULATOR_API_KEY").ok().filter(|k| !k.is_empty()),
        public_url: std::env::var("STRIPE_EMULATOR_PUBLIC_URL").unwrap_or_else(|_| format!("http://{addr}")),
        webhook_urls: list("STRIPE_EMULATOR_WEBHOOK_URLS"),
        webhook_secrets: list("STRIPE_WEBHOOK_SECRETS"),
        clock_file: std::env::var_os("STRIPE_EMULATOR_CLOCK_FILE")
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from),
        ..Settings::default()
    };
    let urls = settings.webhook_urls.join(", ");
    let emulator = match stripe_emulator::start(World::new(settings, &catalog), addr).await {
        Ok(emulator) => emulator,
        Err(err) => {
            eprintln!("stripe-emulator: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %emulator.addr, webhooks = %urls, "stripe emulator listening");
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
