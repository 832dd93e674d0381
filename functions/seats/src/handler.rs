//! Routes of the seats function: an organization's seats, for a token that acts for one.
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /org/seats` | organization member | `{quantity, assigned: [{user_id, assigned_at, slot, active}], available}` |
//! | `PUT /org/seats/{user_id}` | organization admin | `200 {user_id, assigned_at, slot, active}`: assigned (or already held) |
//! | `DELETE /org/seats/{user_id}` | organization admin | `204`: freed (or held by nobody) |
//!
//! A token without the organization claim is a `400 /errors/no-organization`; a member
//! without an admin role changing seats is a `403 /errors/org-admin-required`; every seat
//! taken is a `409 /errors/no-seat-available`.

use std::convert::Infallible;

use billing::AppState;
use billing::edge::http::{json, method_not_allowed, not_found};
use billing::edge::identity::{Identity, IdentityError};
use billing::edge::problem::{ApiError, Problem, respond};
use billing::services::seats::SeatsError;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};

#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, Infallible> {
    let response = match state.path(&req).as_slice() {
        ["org", "seats"] if req.method() == Method::GET => respond(list(state, &req).await),
        ["org", "seats"] => method_not_allowed(&req, &[Method::GET]),
        ["org", "seats", member] if req.method() == Method::PUT => respond(assign(state, &req, member).await),
        ["org", "seats", member] if req.method() == Method::DELETE => respond(release(state, &req, member).await),
        ["org", "seats", _] => method_not_allowed(&req, &[Method::PUT, Method::DELETE]),
        _ => not_found(&req),
    };
    Ok(response)
}

#[derive(Debug, thiserror::Error)]
pub enum SeatsRouteError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The token acts for no organization.
    #[error("seats belong to an organization: the token carries no organization claim")]
    NoOrganization,
    #[error(transparent)]
    Seats(#[from] SeatsError),
}

impl ApiError for SeatsRouteError {
    fn problem(&self) -> Problem {
        match self {
            SeatsRouteError::Identity(err) => err.problem(),
            SeatsRouteError::NoOrganization => Problem::bad_request("/errors/no-organization", self.to_string()),
            SeatsRouteError::Seats(err) => match err {
                SeatsError::InvalidMember => Problem::bad_request("/errors/invalid-user-id", err.to_string()).with_field("user_id"),
                SeatsError::NoSeatAvailable { .. } => Problem::new(
                    StatusCode::CONFLICT,
                    "/errors/no-seat-available",
                    "No seat available",
                    err.to_string(),
                ),
                SeatsError::Contended => Problem::new(
                    StatusCode::CONFLICT,
                    "/errors/seats-contended",
                    "Seats changed concurrently",
                    err.to_string(),
                ),
                SeatsError::Store(store) => store.into(),
            },
        }
    }
}

/// The organization the caller acts for.
fn organization(identity: &Identity) -> Result<&str, SeatsRouteError> {
    identity.org_id().ok_or(SeatsRouteError::NoOrganization)
}

fn private(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

/// `GET /org/seats`: any member may read.
async fn list(state: &AppState, req: &Request) -> Result<Response<Body>, SeatsRouteError> {
    let identity = state.identity.identify(req).await?;
    let org = organization(&identity)?;
    let seats = state.seats().list(org).await?;
    Ok(private(json(StatusCode::OK, &seats)))
}

/// `PUT /org/seats/{user_id}`: admins only; idempotent.
async fn assign(state: &AppState, req: &Request, member: &str) -> Result<Response<Body>, SeatsRouteError> {
    let identity = state.identity.identify(req).await?;
    let org = organization(&identity)?;
    identity.manager()?;
    let member = decoded(req, member)?;
    let (seat, _created) = state.seats().assign(org, &identity.user_id, &member).await?;
    Ok(private(json(StatusCode::OK, &seat)))
}

/// `DELETE /org/seats/{user_id}`: admins only; idempotent.
async fn release(state: &AppState, req: &Request, member: &str) -> Result<Response<Body>, SeatsRouteError> {
    let identity = state.identity.identify(req).await?;
    let org = organization(&identity)?;
    identity.manager()?;
    let member = decoded(req, member)?;
    state.seats().release(org, &identity.user_id, &member).await?;
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(private(response))
}

/// The member's id, percent-decoded once. API Gateway hands the path on decoded, `cargo lambda
/// watch` encoded (Auth0's `auth0|123` arrives as `auth0%7C123`): decoding once serves both for
/// every id without a `%`, which no identity provider's `sub` format has (a `%` followed by
/// anything but two hex digits is refused).
fn decoded(req: &Request, segment: &str) -> Result<String, SeatsRouteError> {
    use lambda_http::RequestExt;
    let raw = req.path_parameters_ref().and_then(|p| p.first("user_id")).unwrap_or(segment);
    billing::edge::http::percent_decode(raw).ok_or(SeatsRouteError::Seats(SeatsError::InvalidMember))
}
