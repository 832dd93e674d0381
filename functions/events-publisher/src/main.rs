//! Lambda entry point: wiring only. The handler lives in `handler.rs`.

use billing::adapters::bus::Bus;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billing::init_tracing();
    let state = billing::AppState::from_env(events_publisher::NEEDS)
        .await
        .unwrap_or_else(|e| billing::app::exit_on_startup_error(e));
    let sdk = billing::adapters::aws::sdk_config().await;
    let bus = Bus::from_config(&sdk, &state.config.events);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        events_publisher::handler::handle(&state, &bus, event)
    }))
    .await
}
