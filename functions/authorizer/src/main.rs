//! Lambda entry point: wiring only. The handler lives in `handler.rs`.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billing::init_tracing();
    let state = billing::AppState::from_env(authorizer::NEEDS)
        .await
        .unwrap_or_else(|e| billing::app::exit_on_startup_error(e));
    // Without the issuer's keys every decision would be a denial: fail the init instead.
    if let Err(err) = state.require_keys().await {
        billing::app::exit_on_startup_error(err);
    }
    lambda_runtime::run(service_fn(|event: LambdaEvent<authorizer::handler::AuthorizerRequest>| {
        authorizer::handler::handle(&state, event)
    }))
    .await
}
