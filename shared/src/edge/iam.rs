//! The IAM caller of a route API Gateway authorizes with `AWS_IAM` (SigV4): the support routes
//! of the `admin` function.
//!
//! API Gateway verifies the signature and puts the caller in the request context
//! (`requestContext.authorizer.iam`, payload 2.0). A request without it did not come through
//! IAM authorization (a JWT route, a Lambda authorizer, a direct invocation with a hand-made
//! event missing it) and is refused: a user's token can never reach a support route, whatever
//! it carries.

use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::edge::problem::{ApiError, Problem};

/// The longest ARN accepted.
const MAX_ARN_LEN: usize = 2048;

/// Why a request is not an IAM caller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IamError {
    #[error("this route accepts IAM-signed (SigV4) requests only")]
    NotIam,
}

impl ApiError for IamError {
    fn problem(&self) -> Problem {
        Problem::new(
            StatusCode::FORBIDDEN,
            "/errors/iam-required",
            "IAM authorization required",
            self.to_string(),
        )
    }
}

/// The verified caller's ARN (`requestContext.authorizer.iam.userArn`).
pub fn caller_arn(req: &Request) -> Result<String, IamError> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return Err(IamError::NotIam);
    };
    let authorizer = ctx.authorizer.as_ref().ok_or(IamError::NotIam)?;
    // Exactly one authorizer kind: IAM, and no JWT or Lambda authorizer beside it.
    if authorizer.jwt.is_some() || !authorizer.fields.is_empty() {
        return Err(IamError::NotIam);
    }
    let iam = authorizer.iam.as_ref().ok_or(IamError::NotIam)?;
    // A Cognito identity pool's end users sign with IAM credentials too: never support staff.
    if iam.cognito_identity.is_some() {
        return Err(IamError::NotIam);
    }
    let arn = iam.user_arn.as_deref().ok_or(IamError::NotIam)?;
    let valid = arn.starts_with("arn:") && arn.len() <= MAX_ARN_LEN && !arn.chars().any(char::is_control);
    if !valid {
        return Err(IamError::NotIam);
    }
    Ok(arn.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(authorizer: serde_json::Value) -> Request {
        let event = json!({
            "version": "2.0", "routeKey": "GET /admin/users/{user_id}", "rawPath": "/admin/users/u1", "rawQueryString": "",
            "headers": {"host": "api.example.com"},
            "requestContext": {"accountId": "1", "apiId": "a", "domainName": "api.example.com", "domainPrefix": "api",
                "http": {"method": "GET", "path": "/admin/users/u1", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "x"},
                "requestId": "r", "routeKey": "GET /admin/users/{user_id}", "stage": "$default", "time": "t", "timeEpoch": 0,
                "authorizer": authorizer},
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn only_an_iam_authorized_request_has_a_caller() {
        let iam = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
            "userArn": "arn:aws:iam::123456789012:user/support-ada", "userId": "AIDA"}});
        assert_eq!(caller_arn(&request(iam)).unwrap(), "arn:aws:iam::123456789012:user/support-ada");
        let jwt = json!({"jwt": {"claims": {"sub": "u1"}, "scopes": null}});
        assert_eq!(caller_arn(&request(jwt)), Err(IamError::NotIam));
        let both = json!({"jwt": {"claims": {"sub": "u1"}, "scopes": null}, "iam": {"userArn": "arn:aws:iam::1:user/x"}});
        assert_eq!(caller_arn(&request(both)), Err(IamError::NotIam));
        let lambda = json!({"lambda": {"userArn": "arn:aws:iam::1:user/x"}});
        assert_eq!(caller_arn(&request(lambda)), Err(IamError::NotIam));
        assert_eq!(caller_arn(&request(json!({"iam": {"userArn": "me"}}))), Err(IamError::NotIam));
        assert_eq!(caller_arn(&request(json!(null))), Err(IamError::NotIam));
    }
}
