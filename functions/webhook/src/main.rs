//! Lambda entry point: wiring only. The handler lives in `handler.rs`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    billing::init_tracing();
    let state = billing::AppState::from_env(webhook::NEEDS)
        .await
        .unwrap_or_else(|e| billing::app::exit_on_startup_error(e));
    billing::edge::runtime::run_with_fallible_direct(
        |req| webhook::handler::handle(&state, req),
        |payload| webhook::bridge::invoke(&state, payload),
    )
    .await
}
