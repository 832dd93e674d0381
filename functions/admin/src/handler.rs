//! Routes of the admin function: support staff's view of one customer and the few things they
//! may do for them. API Gateway authorizes every route with `AWS_IAM` (SigV4), and this
//! function refuses any request whose context does not carry the IAM caller
//! (`403 /errors/iam-required`), before it reads anything.
//!
//! | route | answer |
//! |---|---|
//! | `GET /admin/users/{user_id}` | links, subscriptions, purchases, access with a reason per feature, usage, grants, seats, last 50 audit rows |
//! | `GET /admin/orgs/{org_id}` | the same for an organization (its held seat slots as `seats`) |
//! | `POST /admin/users/{user_id}/grants` | `{"feature", "until", "reason"}` → `201` the grant |
//! | `DELETE /admin/users/{user_id}/grants/{feature}` | `204` (also when there was none) |
//! | `POST /admin/users/{user_id}/resync` | `200` reconcile's summary for the user's customer |
//!
//! Every grant, removal and resync is audited with the caller's ARN.

use std::convert::Infallible;

use billing::AppState;
use billing::edge::http::{self, json, method_not_allowed, not_found};
use billing::edge::iam::{IamError, caller_arn};
use billing::edge::problem::{ApiError, Problem, respond};
use billing::services::support::{Caller, SupportError};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let caller = match caller_arn(&req) {
        Ok(arn) => Caller { arn },
        Err(err) => {
            tracing::warn!("support route called without IAM authorization; refused");
            return Ok(respond::<IamError>(Err(err)));
        }
    };
    let response = match state.path(&req).as_slice() {
        ["admin", "users", user] if req.method() == Method::GET => respond(lookup_user(state, &req, user).await),
        ["admin", "orgs", org] if req.method() == Method::GET => respond(lookup_org(state, &req, org).await),
        ["admin", "users" | "orgs", _] => method_not_allowed(&req, &[Method::GET]),
        ["admin", "users", user, "grants"] if req.method() == Method::POST => respond(grant(state, &req, &caller, user).await),
        ["admin", "users", _, "grants"] => method_not_allowed(&req, &[Method::POST]),
        ["admin", "users", user, "grants", feature] if req.method() == Method::DELETE => {
            respond(revoke(state, &req, &caller, user, feature).await)
        }
        ["admin", "users", _, "grants", _] => method_not_allowed(&req, &[Method::DELETE]),
        ["admin", "users", user, "resync"] if req.method() == Method::POST => respond(resync(state, &req, &caller, user).await),
        ["admin", "users", _, "resync"] => method_not_allowed(&req, &[Method::POST]),
        _ => not_found(&req),
    };
    Ok(response)
}

/// Everything that can go wrong on a support route.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("invalid request: {}", .0.detail)]
    Invalid(Problem),
    #[error(transparent)]
    Support(#[from] SupportError),
}

impl From<Problem> for AdminError {
    fn from(problem: Problem) -> Self {
        AdminError::Invalid(problem)
    }
}

impl ApiError for AdminError {
    fn problem(&self) -> Problem {
        match self {
            AdminError::Invalid(problem) => problem.clone(),
            AdminError::Support(err) => match err {
                SupportError::InvalidUser => Problem::bad_request("/errors/invalid-user-id", err.to_string()).with_field("user_id"),
                SupportError::Refused(refusal) => {
                    Problem::bad_request("/errors/invalid-grant", refusal.to_string()).with_field(refusal.field())
                }
                SupportError::NotLinked => Problem::new(StatusCode::CONFLICT, "/errors/no-customer", "No customer", err.to_string()),
                SupportError::Store(store) => store.into(),
                SupportError::Stripe(stripe) => stripe.into(),
                SupportError::Reconcile(billing::services::reconcile::ReconcileError::Store(store)) => store.into(),
                SupportError::Reconcile(billing::services::reconcile::ReconcileError::NotFound(_)) => {
                    Problem::new(StatusCode::CONFLICT, "/errors/no-customer", "No customer", err.to_string())
                }
            },
        }
    }
}

fn private(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

/// A path parameter percent-decoded once (API Gateway hands the path on decoded, `cargo lambda`
/// encoded; see the seats function).
fn param(req: &Request, name: &str, segment: &str) -> Result<String, AdminError> {
    let raw = req.path_parameters_ref().and_then(|p| p.first(name)).unwrap_or(segment);
    http::percent_decode(raw).ok_or_else(|| {
        Problem::bad_request("/errors/invalid-user-id", format!("`{name}` is not a valid path segment"))
            .with_field(name)
            .into()
    })
}

/// A user id that names a person (never an organization's billable id).
fn user_param(req: &Request, segment: &str) -> Result<String, AdminError> {
    let user = param(req, "user_id", segment)?;
    if !billing::domain::billable::is_valid_user_id(&user) || user.len() > 256 || user.chars().any(char::is_control) {
        return Err(SupportError::InvalidUser.into());
    }
    Ok(user)
}

/// `GET /admin/users/{user_id}`.
async fn lookup_user(state: &AppState, req: &Request, segment: &str) -> Result<Response<Body>, AdminError> {
    let user = user_param(req, segment)?;
    let lookup = state.support().lookup(&user).await?;
    Ok(private(json(StatusCode::OK, &lookup)))
}

/// `GET /admin/orgs/{org_id}`.
async fn lookup_org(state: &AppState, req: &Request, segment: &str) -> Result<Response<Body>, AdminError> {
    let org = param(req, "org_id", segment)?;
    if !billing::domain::billable::is_valid_org_id(&org) {
        return Err(
            Problem::bad_request("/errors/invalid-org-id", "`org_id` is not a valid organization id")
                .with_field("org_id")
                .into(),
        );
    }
    let lookup = state.support().lookup(&billing::domain::billable::org(&org)).await?;
    Ok(private(json(StatusCode::OK, &lookup)))
}

/// `POST /admin/users/{user_id}/grants` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    feature: String,
    until: i64,
    reason: String,
}

/// `POST /admin/users/{user_id}/grants`: `201` the grant.
async fn grant(state: &AppState, req: &Request, caller: &Caller, segment: &str) -> Result<Response<Body>, AdminError> {
    let user = user_param(req, segment)?;
    let body: GrantBody = http::json_body(req, http::MAX_JSON_BODY)?;
    let grant = state
        .support()
        .grant(caller, &user, &body.feature, body.until, &body.reason)
        .await?;
    Ok(private(json(StatusCode::CREATED, &grant)))
}

/// `DELETE /admin/users/{user_id}/grants/{feature}`: `204`.
async fn revoke(state: &AppState, req: &Request, caller: &Caller, segment: &str, feature: &str) -> Result<Response<Body>, AdminError> {
    let user = user_param(req, segment)?;
    let feature = param(req, "feature", feature)?;
    state.support().revoke(caller, &user, &feature).await?;
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(private(response))
}

/// `POST /admin/users/{user_id}/resync`: reconcile's summary.
async fn resync(state: &AppState, req: &Request, caller: &Caller, segment: &str) -> Result<Response<Body>, AdminError> {
    let user = user_param(req, segment)?;
    let reconciler = state.reconciler().map_err(SupportError::from)?;
    let summary = state.support().resync(caller, &user, &reconciler).await?;
    Ok(private(json(StatusCode::OK, &summary)))
}
