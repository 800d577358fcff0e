//! The `Origin` check. A browser names the page that opens a WebSocket (or posts a form) in
//! `Origin`; the node's login cookie may be used only by its own pages — the origin built from
//! the request's `Host` and the connection's scheme — and by the origins configuration allows.
//! Clients that send no `Origin` are not browsers: they must bring a token, not a cookie.

use warp::http::{header, HeaderMap};

use super::problem::Problem;

/// What the request's `Origin` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The node's own origin, or an allowed one: the cookie may be used.
    Allowed,
    /// No `Origin` header: a script or CLI, which must bring a token.
    Absent,
    /// Another origin (the value as sent): refuse.
    Foreign(String),
}

impl Verdict {
    /// Whether the login cookie may authenticate this request.
    pub fn cookie_usable(&self) -> bool {
        matches!(self, Self::Allowed)
    }
}

/// Lower-cases an origin and drops a trailing `/`, so allow-list entries compare as written.
pub fn normalize(origin: &str) -> String {
    crate::config::normalize_origin(origin)
}

/// Judges the request's `Origin` against its own `Host` (with `https` when `tls`) and `allowed`.
pub fn check(headers: &HeaderMap, tls: bool, allowed: &[String]) -> Verdict {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Verdict::Absent;
    };
    let Ok(origin) = origin.to_str() else {
        return Verdict::Foreign(String::from_utf8_lossy(origin.as_bytes()).into_owned());
    };
    let given = normalize(origin);
    let scheme = if tls { "https" } else { "http" };
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| normalize(&format!("{scheme}://{host}")));
    if own.as_deref() == Some(given.as_str()) || allowed.iter().any(|a| normalize(a) == given) {
        Verdict::Allowed
    } else {
        Verdict::Foreign(origin.to_owned())
    }
}

/// The login cookie's token, when this request may use it: refused (403) from another
/// origin; `None` when the request has no `Origin` (the client must bring a token).
pub fn usable_cookie(
    headers: &HeaderMap,
    tls: bool,
    allowed: &[String],
    node: &str,
) -> Result<Option<String>, Problem> {
    match check(headers, tls, allowed) {
        Verdict::Foreign(origin) => Err(Problem::ForeignOrigin(origin)),
        Verdict::Absent => Ok(None),
        Verdict::Allowed => Ok(crate::auth::token_from_cookies(headers, node)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_host_allowed_and_others_not() {
        let none: Vec<String> = vec![];
        let h = headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(check(&h, false, &none), Verdict::Allowed);
        // The scheme counts: an http page may not use a TLS node's cookie.
        assert_eq!(
            check(&h, true, &none),
            Verdict::Foreign("http://127.0.0.1:8080".into())
        );
        let h = headers(Some("http://127.0.0.1:3000"), "127.0.0.1:8080");
        assert!(matches!(check(&h, false, &none), Verdict::Foreign(_)));
        let h = headers(Some("null"), "127.0.0.1:8080");
        assert!(matches!(check(&h, false, &none), Verdict::Foreign(_)));
        let h = headers(None, "127.0.0.1:8080");
        assert_eq!(check(&h, false, &none), Verdict::Absent);
    }

    #[test]
    fn the_allow_list_counts() {
        let allowed = vec!["HTTPS://App.Example/".to_owned()];
        let h = headers(Some("https://app.example"), "127.0.0.1:8080");
        assert_eq!(check(&h, false, &allowed), Verdict::Allowed);
        let h = headers(Some("https://app.example.evil"), "127.0.0.1:8080");
        assert!(matches!(check(&h, false, &allowed), Verdict::Foreign(_)));
    }
}
