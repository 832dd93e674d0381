//! Lambda entry point: wiring only. The handler lives in `handler.rs`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    billing::init_tracing();
    let state = billing::AppState::from_env(webhook::NEEDS)
        .await
        .unwrap_or_else(|e| billing::state::exit_on_startup_error(e));
    billing::http::run(|req| webhook::handler::handle(&state, req)).await
}
