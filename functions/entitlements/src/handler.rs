//! Routes of the entitlements function. It serves no route yet: every request is answered with a
//! problem+json 404 until its issue lands.

use std::convert::Infallible;

use billing::AppState;
use billing::http::not_found;
use lambda_http::{Body, Request, Response};

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(_state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    Ok(not_found(&req))
}

#[cfg(test)]
mod tests {
    use billing::testkit;

    use super::*;

    #[tokio::test]
    async fn unknown_routes_are_problem_404s() {
        let state = testkit::state(testkit::config("billing-test", "http://127.0.0.1:9", None), crate::NEEDS).unwrap();
        let response = handle(&state, testkit::event("unknown-route.json")).await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], billing::problem::PROBLEM_JSON);
    }
}
