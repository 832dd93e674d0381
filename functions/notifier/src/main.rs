//! Lambda entry point: wiring only. The handler lives in `handler.rs`.

use billing::adapters::mail::Mailer;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billing::init_tracing();
    let state = billing::AppState::from_env(notifier::NEEDS)
        .await
        .unwrap_or_else(|e| billing::app::exit_on_startup_error(e));
    let Some(sender) = state.config.events.email_sender.clone() else {
        eprintln!("startup error: configuration: EMAIL_SENDER is not set");
        std::process::exit(1);
    };
    let sdk = billing::adapters::aws::sdk_config().await;
    let mailer = Mailer::from_config(&sdk, &state.config.events, &sender);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        notifier::handler::handle(&state, &mailer, event)
    }))
    .await
}
