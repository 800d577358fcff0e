//! Password login for browsers: `GET /login` (the page), `POST /login` (JSON
//! `{"password":…}` or a form; answers the token as JSON and sets the
//! `kinode-auth_<node>` cookie), and `POST /logout` (clears it).
//!
//! A wrong password is a 401. Attempts are counted per client address (crate `governor`) when
//! they are let in, before their password is checked, so attempts sent all at once count as
//! much as attempts sent one after another: past the burst, the address gets 429 with
//! `Retry-After` and its attempts are not even checked. A right password clears its address's
//! count. The Argon2 check runs on a blocking thread behind a small semaphore, so logins can
//! never occupy the async runtime.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use governor::clock::{Clock, DefaultClock};
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::Semaphore;
use warp::http::{header, HeaderMap, HeaderValue};
use warp::{Filter, Rejection, Reply};

use super::origin::{self, Verdict};
use super::problem::Problem;
use super::ConnInfo;
use crate::config::Config;
use crate::runtime::Runtime;

/// Password checks that may run at once.
const HASHING_PERMITS: usize = 2;
/// How long a login waits for a hashing permit before answering 503.
const HASHING_WAIT: Duration = Duration::from_secs(5);
/// Largest login body.
const MAX_BODY: u64 = 4 * 1024;
/// Addresses tracked before stale entries are swept.
const SWEEP_AT: usize = 1024;

/// Per-node login state: attempt counting and the hashing gate.
#[derive(Debug)]
pub struct LoginGuard {
    attempts: RateLimiter<IpAddr, Attempts, DefaultClock>,
    /// The limiter's own state, kept to clear an address that logs in.
    counts: Attempts,
    hashing: Arc<Semaphore>,
}

impl LoginGuard {
    /// The guard for a node's settings.
    pub fn new(config: &Config) -> Self {
        let per_minute =
            NonZeroU32::new(config.login_attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.login_burst).unwrap_or(NonZeroU32::MIN);
        let counts = Attempts::default();
        Self {
            attempts: RateLimiter::new(
                Quota::per_minute(per_minute).allow_burst(burst),
                counts.clone(),
                DefaultClock::default(),
            ),
            counts,
            hashing: Arc::new(Semaphore::new(HASHING_PERMITS)),
        }
    }

    /// Takes one of the address's attempts, or says how long it must wait for the next.
    fn admit(&self, ip: IpAddr) -> Result<(), Problem> {
        // Addresses that have regained every attempt need no state: keep the map small.
        if self.attempts.len() >= SWEEP_AT {
            self.attempts.retain_recent();
        }
        self.attempts.check_key(&ip).map_err(|not_until| {
            Problem::TooManyAttempts(not_until.wait_time_from(self.attempts.clock().now()))
        })
    }

    /// Forgets the address's attempts: whoever logged in from it knows the password.
    fn logged_in(&self, ip: IpAddr) {
        self.counts.0.remove(&ip);
    }
}

/// The attempts per address, shared between the limiter and the guard: governor's own map,
/// behind an `Arc` so that an address can be cleared (the limiter has no way to forget a key).
#[derive(Clone, Debug, Default)]
struct Attempts(Arc<DashMapStateStore<IpAddr>>);

impl StateStore for Attempts {
    type Key = IpAddr;

    fn measure_and_replace<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<IpAddr> for Attempts {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&*self.0)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&*self.0)
    }
}

/// `Set-Cookie` value that stores `token` for `ttl`: one header, every attribute in it.
pub fn login_cookie(node: &str, token: &str, ttl: Duration, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!(
        "{}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        crate::auth::cookie_name(node),
        ttl.as_secs()
    )
}

/// `Set-Cookie` value that removes the login cookie.
pub fn logout_cookie(node: &str, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}",
        crate::auth::cookie_name(node)
    )
}

#[derive(serde::Deserialize)]
struct LoginForm {
    password: String,
}

/// The password from a JSON or form body.
pub fn password_from(headers: &HeaderMap, body: &[u8]) -> Result<String, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let form: LoginForm = if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body)
            .map_err(|e| Problem::BadRequest(format!("the form must have a password field: {e}")))?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            Problem::BadRequest(format!(
                "the body must be {{\"password\":\"…\"}} (JSON) or a form with a password field: {e}"
            ))
        })?
    };
    Ok(form.password)
}

fn with_cookie(reply: impl Reply, cookie: &str) -> warp::reply::Response {
    let mut response = reply.into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Handles `POST /login`.
async fn login(
    rt: Arc<Runtime>,
    conn: Option<ConnInfo>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<warp::reply::Response, Problem> {
    let tls = conn.is_some_and(|c| c.tls);
    if let Verdict::Foreign(origin) = origin::check(&headers, tls, &rt.config.allowed_origins) {
        return Err(Problem::ForeignOrigin(origin));
    }
    let ip = conn.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.peer.ip());
    let guard = &rt.login;
    let password = password_from(&headers, &body)?;
    guard.admit(ip)?;
    let permit = tokio::time::timeout(HASHING_WAIT, guard.hashing.clone().acquire_owned())
        .await
        .map_err(|_| Problem::Busy)?
        .map_err(|_| Problem::Busy)?;
    // Read on each login, so `switchboard passwd` takes effect without a restart.
    let home = rt.config.home.clone();
    let matches = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let hash = crate::password::load(&home)
            .map_err(|e| Problem::Internal(e.to_string()))?
            .ok_or(Problem::NoPassword)?;
        Ok::<_, Problem>(crate::password::verify(&hash, &password))
    })
    .await
    .map_err(|_| Problem::Internal("the password check failed".into()))??;
    if !matches {
        tracing::info!(%ip, "login with a wrong password");
        return Err(Problem::WrongPassword);
    }
    guard.logged_in(ip);
    let ttl = rt.config.token_ttl;
    let token = rt.auth.mint(ttl);
    tracing::info!(%ip, "login");
    let body = warp::reply::json(&serde_json::json!({
        "token": token,
        "node": rt.node,
        "expires_in": ttl.as_secs(),
    }));
    Ok(with_cookie(body, &login_cookie(&rt.node, &token, ttl, tls)))
}

/// Handles `POST /logout`.
fn logout(
    rt: &Runtime,
    conn: Option<ConnInfo>,
    headers: &HeaderMap,
) -> Result<warp::reply::Response, Problem> {
    let tls = conn.is_some_and(|c| c.tls);
    if let Verdict::Foreign(origin) = origin::check(headers, tls, &rt.config.allowed_origins) {
        return Err(Problem::ForeignOrigin(origin));
    }
    let body = warp::reply::json(&serde_json::json!({ "logged_out": true }));
    Ok(with_cookie(body, &logout_cookie(&rt.node, tls)))
}

/// The label a login attempt is counted under in the metrics.
fn outcome(result: &Result<warp::reply::Response, Problem>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(Problem::WrongPassword) => "wrong_password",
        Err(Problem::TooManyAttempts(_)) => "too_many_attempts",
        Err(Problem::ForeignOrigin(_)) => "foreign_origin",
        Err(Problem::BadRequest(_)) => "bad_request",
        Err(Problem::NoPassword) => "no_password",
        Err(Problem::Busy) => "busy",
        Err(_) => "error",
    }
}

fn reply(result: Result<warp::reply::Response, Problem>) -> warp::reply::Response {
    result.unwrap_or_else(Reply::into_response)
}

/// `GET /login`, `POST /login`, `POST /logout`.
pub fn routes(
    rt: Arc<Runtime>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let with_rt = warp::any().map(move || rt.clone());
    let page = warp::path!("login")
        .and(warp::get())
        .and(with_rt.clone())
        .map(|rt: Arc<Runtime>| {
            warp::reply::html(super::login_page::render(&rt.node)).into_response()
        });
    let post = warp::path!("login")
        .and(warp::post())
        .and(with_rt.clone())
        .and(warp::ext::optional::<ConnInfo>())
        .and(warp::header::headers_cloned())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .then(|rt: Arc<Runtime>, conn, headers, body| async move {
            let result = login(rt.clone(), conn, headers, body).await;
            rt.telemetry.logins.add(outcome(&result));
            reply(result)
        });
    let out = warp::path!("logout")
        .and(warp::post())
        .and(with_rt)
        .and(warp::ext::optional::<ConnInfo>())
        .and(warp::header::headers_cloned())
        .map(|rt: Arc<Runtime>, conn, headers: HeaderMap| reply(logout(&rt, conn, &headers)));
    page.or(post).unify().or(out).unify()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_every_attribute_in_one_value() {
        assert_eq!(
            login_cookie("local.os", "abc", Duration::from_secs(60), false),
            "kinode-auth_local.os=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"
        );
        assert!(
            login_cookie("local.os", "abc", Duration::from_secs(60), true).ends_with("; Secure")
        );
        assert_eq!(
            logout_cookie("local.os", false),
            "kinode-auth_local.os=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        );
    }

    #[test]
    fn passwords_come_from_json_or_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            password_from(&headers, br#"{"password":"pw"}"#).unwrap(),
            "pw"
        );
        assert!(matches!(
            password_from(&headers, b"{}"),
            Err(Problem::BadRequest(_))
        ));
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert_eq!(
            password_from(&headers, b"password=a%20b&next=%2F").unwrap(),
            "a b"
        );
    }

    #[test]
    fn attempts_past_the_burst_are_refused_for_that_address_only() {
        let mut config = Config::new("/nonexistent");
        config.login_burst = 2;
        config.login_attempts_per_minute = 1;
        let guard = LoginGuard::new(&config);
        let bad: IpAddr = "127.0.0.2".parse().unwrap();
        let good: IpAddr = "127.0.0.3".parse().unwrap();
        // Admitted attempts count before any of them is checked.
        guard.admit(bad).unwrap();
        guard.admit(bad).unwrap();
        match guard.admit(bad) {
            Err(Problem::TooManyAttempts(wait)) => assert!(wait <= Duration::from_secs(60)),
            other => panic!("{other:?}"),
        }
        guard.admit(good).unwrap();
    }

    #[test]
    fn logging_in_clears_the_address() {
        let mut config = Config::new("/nonexistent");
        config.login_burst = 2;
        config.login_attempts_per_minute = 1;
        let guard = LoginGuard::new(&config);
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        guard.admit(ip).unwrap();
        guard.admit(ip).unwrap();
        guard.logged_in(ip);
        guard.admit(ip).unwrap();
        guard.admit(ip).unwrap();
        assert!(guard.admit(ip).is_err());
    }
}
