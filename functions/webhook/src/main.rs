//! Lambda entry point: wiring only. The handler lives in `handler.rs`.
//!
//! Unlike the other functions, the raw event passes [`billing::http::guard_base64`] before
//! lambda_http turns it into a request, so an undecodable base64 body is a 400, not a panic.

use lambda_http::tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    billing::init_tracing();
    let state = billing::AppState::from_env(webhook::NEEDS)
        .await
        .unwrap_or_else(|e| billing::state::exit_on_startup_error(e));
    let adapter = lambda_http::Adapter::from(lambda_http::service_fn(|req| webhook::handler::handle(&state, req)));
    let service = adapter.map_request(|mut event: lambda_http::LambdaEvent<lambda_http::request::LambdaRequest>| {
        billing::http::guard_base64(&mut event.payload);
        event
    });
    lambda_http::lambda_runtime::run(service).await
}
