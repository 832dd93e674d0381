//! Lambda entry point: wiring only. The handler lives in `handler.rs`.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billing::init_tracing();
    let state = billing::AppState::from_env(reconcile::NEEDS)
        .await
        .unwrap_or_else(|e| billing::app::exit_on_startup_error(e));
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        reconcile::handler::handle(&state, event)
    }))
    .await
}
