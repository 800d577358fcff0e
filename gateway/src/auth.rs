//! Node tokens: HS256 JWTs with claims `{username: <node>, exp}`, signed with the home's
//! secret. Verification pins the algorithm and checks signature, expiry and node name.
//!
//! Process tokens carry one more claim, `process`: they let a program outside the node act
//! as that process on the process socket, and open nothing else. A node token does not open
//! the process socket, and a process token is not a client's token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims a node token carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The node the token opens.
    pub username: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// In a process token: the process id it lets a program be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
}

/// Why a token was refused. The message is safe to show the client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was given.
    #[error("no auth token was given")]
    Missing,
    /// The token has expired.
    #[error("the auth token has expired")]
    Expired,
    /// The token is for another node.
    #[error("the auth token is for node {0:?}, not this node")]
    OtherNode(String),
    /// Bad signature, wrong algorithm, or not a JWT.
    #[error("the auth token is not valid for this node")]
    Invalid,
    /// A process token where a node token is needed.
    #[error("this is a process token: it opens only the process socket, not a channel or a page")]
    ProcessToken,
    /// A node token (or none) where a process token is needed.
    #[error("the process socket takes a process token (`switchboard token --process ID`), not a node token")]
    NotProcessToken,
    /// A process token for another process.
    #[error("the token is for process {token}, not {asked}")]
    OtherProcess {
        /// The process the token is for.
        token: String,
        /// The process the program asked to be.
        asked: String,
    },
}

/// Mints and verifies this node's tokens.
#[derive(Clone)]
pub struct Auth {
    node: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Auth {
    /// Tokens for `node`, signed with `secret`.
    pub fn new(node: &str, secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 5;
        Self {
            node: node.to_owned(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token for this node that lives `ttl`.
    pub fn mint(&self, ttl: Duration) -> String {
        self.mint_claims(&Claims {
            username: self.node.clone(),
            exp: now().saturating_add(ttl.as_secs()),
            process: None,
        })
    }

    /// A process token for `process` on this node that lives `ttl`.
    pub fn mint_process(&self, process: &process_lib::ProcessId, ttl: Duration) -> String {
        self.mint_claims(&Claims {
            username: self.node.clone(),
            exp: now().saturating_add(ttl.as_secs()),
            process: Some(process.to_string()),
        })
    }

    /// A token with exactly these claims (tests use it for expired and foreign tokens).
    pub fn mint_claims(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks a node token: HS256 only, valid signature, not expired, for this node, and
    /// not a process token.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify_any(token)?;
        if claims.process.is_some() {
            return Err(AuthError::ProcessToken);
        }
        Ok(claims)
    }

    /// Checks a process token and says which process it is for; with `asked`, it must be
    /// for that process.
    pub fn verify_process(
        &self,
        token: &str,
        asked: Option<&process_lib::ProcessId>,
    ) -> Result<process_lib::ProcessId, AuthError> {
        let claims = self.verify_any(token)?;
        let process: process_lib::ProcessId = claims
            .process
            .as_deref()
            .ok_or(AuthError::NotProcessToken)?
            .parse()
            .map_err(|_| AuthError::Invalid)?;
        match asked {
            Some(asked) if *asked != process => Err(AuthError::OtherProcess {
                token: process.to_string(),
                asked: asked.to_string(),
            }),
            _ => Ok(process),
        }
    }

    fn verify_any(&self, token: &str) -> Result<Claims, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        if data.claims.username != self.node {
            return Err(AuthError::OtherNode(data.claims.username));
        }
        Ok(data.claims)
    }
}

/// The name of the cookie that carries a node's token: `kinode-auth_<node>`.
pub fn cookie_name(node: &str) -> String {
    format!("kinode-auth_{node}")
}

/// The token in the request's `kinode-auth_<node>` cookie, if there is one.
pub fn token_from_cookies(headers: &http::HeaderMap, node: &str) -> Option<String> {
    let name = cookie_name(node);
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [9; 32];

    #[test]
    fn a_minted_token_verifies() {
        let auth = Auth::new("local.os", &SECRET);
        let claims = auth.verify(&auth.mint(Duration::from_secs(60))).unwrap();
        assert_eq!(claims.username, "local.os");
    }

    #[test]
    fn refusals_say_why() {
        let auth = Auth::new("local.os", &SECRET);
        let other_secret = Auth::new("local.os", &[1; 32]).mint(Duration::from_secs(60));
        assert_eq!(auth.verify(&other_secret), Err(AuthError::Invalid));
        let expired = auth.mint_claims(&Claims {
            username: "local.os".into(),
            exp: now() - 3600,
            process: None,
        });
        assert_eq!(auth.verify(&expired), Err(AuthError::Expired));
        let other_node = Auth::new("bob.os", &SECRET).mint(Duration::from_secs(60));
        assert_eq!(
            auth.verify(&other_node),
            Err(AuthError::OtherNode("bob.os".into()))
        );
        assert_eq!(auth.verify(""), Err(AuthError::Missing));
        assert_eq!(auth.verify("not.a.jwt"), Err(AuthError::Invalid));
    }

    #[test]
    fn a_process_token_opens_only_its_process_and_a_node_token_none() {
        let auth = Auth::new("local.os", &SECRET);
        let echo: process_lib::ProcessId = "echo:echo:ext".parse().unwrap();
        let other: process_lib::ProcessId = "chat:chat:ext".parse().unwrap();
        let token = auth.mint_process(&echo, Duration::from_secs(60));
        assert_eq!(auth.verify_process(&token, None), Ok(echo.clone()));
        assert_eq!(auth.verify_process(&token, Some(&echo)), Ok(echo.clone()));
        assert_eq!(
            auth.verify_process(&token, Some(&other)),
            Err(AuthError::OtherProcess {
                token: "echo:echo:ext".into(),
                asked: "chat:chat:ext".into()
            })
        );
        assert_eq!(auth.verify(&token), Err(AuthError::ProcessToken));
        let node_token = auth.mint(Duration::from_secs(60));
        assert_eq!(
            auth.verify_process(&node_token, Some(&echo)),
            Err(AuthError::NotProcessToken)
        );
        let elsewhere = Auth::new("bob.os", &SECRET).mint_process(&echo, Duration::from_secs(60));
        assert_eq!(
            auth.verify_process(&elsewhere, None),
            Err(AuthError::OtherNode("bob.os".into()))
        );
    }

    #[test]
    fn the_node_cookie_is_found_among_others() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "a=1; kinode-auth_bob.os=x; kinode-auth_local.os=tok"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            token_from_cookies(&headers, "local.os").as_deref(),
            Some("tok")
        );
        assert_eq!(token_from_cookies(&headers, "carol.os"), None);
    }

    #[test]
    fn alg_none_is_refused() {
        let auth = Auth::new("local.os", &SECRET);
        // {"alg":"none","typ":"JWT"} . {"username":"local.os","exp":9999999999} . (no signature)
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let body = "eyJ1c2VybmFtZSI6ImxvY2FsLm9zIiwiZXhwIjo5OTk5OTk5OTk5fQ";
        assert_eq!(
            auth.verify(&format!("{header}.{body}.")),
            Err(AuthError::Invalid)
        );
    }
}
