//! Routes of the checkout function.
//!
//! | route | auth |
//! |---|---|
//! | `GET /plans` | public |

use std::convert::Infallible;

use billing::AppState;
use billing::http::{json, method_not_allowed, not_found, path_segments};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let response = match path_segments(&req).as_slice() {
        ["plans"] if req.method() == Method::GET => plans(state),
        ["plans"] => method_not_allowed(&req, &[Method::GET]),
        _ => not_found(&req),
    };
    Ok(response)
}

/// `GET /plans`: the public view of the catalog (no Stripe identifiers).
fn plans(state: &AppState) -> Response<Body> {
    let mut response = json(StatusCode::OK, &state.catalog.public_view());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

#[cfg(test)]
mod tests {
    use billing::testkit;

    use super::*;

    fn state() -> AppState {
        testkit::state(testkit::config("billing-test", "http://127.0.0.1:9", None), crate::NEEDS).unwrap()
    }

    fn body(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn plans_are_public_and_match_the_catalog() {
        let state = state();
        for event in ["plans-get.json", "plans-get-anonymous.json"] {
            let response = handle(&state, testkit::event(event)).await.unwrap();
            assert_eq!(response.status(), 200, "{event}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            let body = body(&response);
            let ids: Vec<&str> = body["plans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap())
                .collect();
            let expected: Vec<&str> = state.catalog.plans().iter().map(|p| p.id.as_str()).collect();
            assert_eq!(ids, expected);
            let pro = &body["plans"][2];
            assert_eq!(pro["prices"]["year"]["amount"], 29000);
            assert_eq!(pro["features"][0], "api_access");
            let text = serde_json::to_string(&body).unwrap();
            assert!(!text.contains("lookup_key") && !text.contains("sk_test"), "{text}");
        }
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_are_problems() {
        let state = state();
        let response = handle(&state, testkit::event("unknown-route.json")).await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()[header::CONTENT_TYPE], billing::problem::PROBLEM_JSON);
        assert_eq!(body(&response)["type"], "/errors/not-found");

        let response = handle(&state, testkit::event("plans-delete.json")).await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET");
        assert_eq!(body(&response)["status"], 405);
    }
}
