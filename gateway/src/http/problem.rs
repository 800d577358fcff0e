//! Every HTTP error the node answers with, in one place: each variant has its status code, and
//! becomes the JSON body `{"error":"<sentence>"}` (plus `Retry-After` when it helps).

use std::time::Duration;

use warp::http::{header, HeaderValue, StatusCode};
use warp::Reply;

/// An HTTP request the node will not serve, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The body is not what the endpoint takes.
    #[error("{0}")]
    BadRequest(String),
    /// The password is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// A token is needed and the one given (if any) does not do.
    #[error("{0}")]
    Unauthorized(String),
    /// A WebSocket or cookie-authenticated request from an origin this node does not allow.
    #[error("requests from origin {0} are not allowed here: only this node's own origin and the origins it is configured to allow (--allow-origin) may use its login cookie")]
    ForeignOrigin(String),
    /// No password is set.
    #[error("no password is set for this node: set one with `switchboard passwd`")]
    NoPassword,
    /// Nothing is bound at the path.
    #[error("nothing is served at {0}")]
    NotBound(String),
    /// The body is over the limit.
    #[error("the request body is over this node's limit of {0} bytes")]
    TooLarge(usize),
    /// Too many login attempts from this address.
    #[error("too many login attempts from this address; try again in {} s", .0.as_secs().max(1))]
    TooManyAttempts(Duration),
    /// The node is too busy to check a password now.
    #[error("the node is busy checking other logins; try again shortly")]
    Busy,
    /// The bound process answered with something that is not an `HttpResponse`.
    #[error("process {0} answered with something that is not an HttpResponse")]
    BadGateway(String),
    /// The request's headers did not all arrive within the header deadline.
    #[error("the request's headers did not all arrive within {} s", .0.as_secs_f32())]
    RequestTimeout(Duration),
    /// The bound process cannot take the request (gone or its mailbox is full).
    #[error("process {0} cannot take the request now")]
    Unavailable(String),
    /// The bound process did not answer in time.
    #[error("process {process} did not answer within {} s", .1.as_secs_f32(), process = .0)]
    GatewayTimeout(String, Duration),
    /// Something on the node failed (reading the password file, …).
    #[error("{0}")]
    Internal(String),
}

impl Problem {
    /// The status code that goes with the problem.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::WrongPassword | Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::ForeignOrigin(_) => StatusCode::FORBIDDEN,
            Self::NoPassword | Self::Busy | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotBound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout(..) => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl Reply for Problem {
    fn into_response(self) -> warp::reply::Response {
        let body = warp::reply::json(&serde_json::json!({ "error": self.to_string() }));
        let mut response = warp::reply::with_status(body, self.status()).into_response();
        if let Self::TooManyAttempts(wait) = &self {
            let secs = wait.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_sentences() {
        let wait = Problem::TooManyAttempts(Duration::from_millis(11_500));
        assert_eq!(wait.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(wait.to_string().contains("try again in 11 s"));
        let response = wait.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "11");
        assert_eq!(Problem::WrongPassword.status(), StatusCode::UNAUTHORIZED);
        let slow = Problem::RequestTimeout(Duration::from_millis(2500));
        assert_eq!(slow.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            slow.to_string(),
            "the request's headers did not all arrive within 2.5 s"
        );
        assert_eq!(
            Problem::ForeignOrigin("http://evil.test".into()).status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            Problem::GatewayTimeout("a:b:c".into(), Duration::from_secs(30)).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }
}
