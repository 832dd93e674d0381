//! Lambda entry point: wiring only. The handler lives in `handler.rs`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    billing::init_tracing();
    let state = billing::AppState::from_env(admin::NEEDS)
        .await
        .unwrap_or_else(|e| billing::app::exit_on_startup_error(e));
    billing::edge::runtime::run(|req| admin::handler::handle(&state, req)).await
}
