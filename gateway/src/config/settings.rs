//! Every setting of [`Config`] by name: its key in `config.toml`, its environment variable
//! (`SWITCHBOARD_` and the key in capitals), its flag, what it means, and how a value is read
//! from text (a flag, a variable) or from TOML and shown again. The file, the environment,
//! the flags, `switchboard config` and the README's table all follow this one list.
//!
//! Durations are whole numbers whose unit ends the key: `close_timeout_ms = 5000`,
//! `token_ttl_secs = 3600`. Lists take a TOML array in the file, a repeated flag, and one
//! variable with the items separated (`,` for origins, `;` for peers, whose own parts use `,`).

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{ClusterConfig, Config, PeerConfig, TlsFiles};

/// One setting.
#[derive(Debug)]
pub struct Setting {
    /// Its key in `config.toml`.
    pub key: &'static str,
    /// Its flag, without the leading `--`.
    pub flag: &'static str,
    /// What the flag's value is called in `--help`.
    pub value_name: &'static str,
    /// What it means.
    pub about: &'static str,
    /// For a list: the separator of its items in an environment variable.
    pub list: Option<char>,
    show: fn(&Config) -> Option<toml::Value>,
    set: fn(&mut Config, &str) -> Result<(), String>,
    from_toml: fn(&mut Config, toml::Value) -> Result<(), String>,
}

impl Setting {
    /// Its environment variable.
    pub fn env(&self) -> String {
        format!("SWITCHBOARD_{}", self.key.to_ascii_uppercase())
    }

    /// Its value in `config`, as TOML; `None` when it is not set.
    pub fn show(&self, config: &Config) -> Option<toml::Value> {
        (self.show)(config)
    }

    /// Sets it from text (a flag's or a variable's value); a list gains the one item.
    pub fn set(&self, config: &mut Config, text: &str) -> Result<(), String> {
        (self.set)(config, text)
    }

    /// Sets it from its value in `config.toml`; a list gains the array's items.
    pub fn set_toml(&self, config: &mut Config, value: toml::Value) -> Result<(), String> {
        (self.from_toml)(config, value)
    }
}

/// The setting whose file key is `key`.
pub fn by_key(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// How a kind of value is read and shown.
trait Kind {
    type Value;
    fn parse(text: &str) -> Result<Self::Value, String>;
    fn from_toml(value: toml::Value) -> Result<Self::Value, String>;
    fn show(value: &Self::Value) -> Option<toml::Value>;
}

/// A value read with `FromStr` from text and with serde from TOML.
struct Plain<T>(std::marker::PhantomData<T>);

impl<T> Kind for Plain<T>
where
    T: FromStr + DeserializeOwned + Serialize,
    T::Err: Display,
{
    type Value = T;
    fn parse(text: &str) -> Result<T, String> {
        text.trim().parse().map_err(|e: T::Err| e.to_string())
    }
    fn from_toml(value: toml::Value) -> Result<T, String> {
        from_toml(value)
    }
    fn show(value: &T) -> Option<toml::Value> {
        to_toml(value)
    }
}

/// `value` as a `T`, or serde's sentence about why not.
fn from_toml<T: DeserializeOwned>(value: toml::Value) -> Result<T, String> {
    value
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_owned())
}

/// `value` as TOML.
fn to_toml<T: Serialize>(value: &T) -> Option<toml::Value> {
    toml::Value::try_from(value).ok()
}

/// A duration given in whole milliseconds.
struct Millis;

impl Kind for Millis {
    type Value = Duration;
    fn parse(text: &str) -> Result<Duration, String> {
        Plain::<u64>::parse(text).map(Duration::from_millis)
    }
    fn from_toml(value: toml::Value) -> Result<Duration, String> {
        Plain::<u64>::from_toml(value).map(Duration::from_millis)
    }
    fn show(value: &Duration) -> Option<toml::Value> {
        Some(toml::Value::Integer(
            i64::try_from(value.as_millis()).unwrap_or(i64::MAX),
        ))
    }
}

/// A duration given in whole seconds.
struct Secs;

impl Kind for Secs {
    type Value = Duration;
    fn parse(text: &str) -> Result<Duration, String> {
        Plain::<u64>::parse(text).map(Duration::from_secs)
    }
    fn from_toml(value: toml::Value) -> Result<Duration, String> {
        Plain::<u64>::from_toml(value).map(Duration::from_secs)
    }
    fn show(value: &Duration) -> Option<toml::Value> {
        Some(toml::Value::Integer(
            i64::try_from(value.as_secs()).unwrap_or(i64::MAX),
        ))
    }
}

/// A value that may be absent (absent by default).
struct Maybe<K>(std::marker::PhantomData<K>);

impl<K: Kind> Kind for Maybe<K> {
    type Value = Option<K::Value>;
    fn parse(text: &str) -> Result<Self::Value, String> {
        K::parse(text).map(Some)
    }
    fn from_toml(value: toml::Value) -> Result<Self::Value, String> {
        K::from_toml(value).map(Some)
    }
    fn show(value: &Self::Value) -> Option<toml::Value> {
        value.as_ref().and_then(K::show)
    }
}

/// A setting held in one field of `Config`, read and shown as kind `K`.
macro_rules! setting {
    ($key:literal, $flag:literal, $value_name:literal, $kind:ty, |$c:ident| $field:expr, $about:literal) => {
        Setting {
            key: $key,
            flag: $flag,
            value_name: $value_name,
            about: $about,
            list: None,
            show: |$c| <$kind as Kind>::show(&$field),
            set: |$c, text| {
                $field = <$kind as Kind>::parse(text)?;
                Ok(())
            },
            from_toml: |$c, value| {
                $field = <$kind as Kind>::from_toml(value)?;
                Ok(())
            },
        }
    };
}

/// Every setting, in the order `switchboard config` prints them.
pub static SETTINGS: &[Setting] = &[
    setting!("bind", "bind", "ADDR", Plain<SocketAddr>, |c| c.bind,
        "Where the WebSocket/HTTP listener binds; port 0 picks a free port"),
    setting!("node", "node", "NAME", Plain<String>, |c| c.node,
        "This node's name ([a-z0-9-.]+); a name given by flag is remembered in the home"),
    setting!("register_timeout_ms", "register-timeout-ms", "MS", Millis, |c| c.register_timeout,
        "How long a client has to send its register frame"),
    setting!("max_message_size", "max-message-size", "BYTES", Plain<usize>, |c| c.max_message_size,
        "Largest message a client may send"),
    setting!("writer_queue_bytes", "writer-queue-bytes", "BYTES", Plain<usize>, |c| c.writer_queue_bytes,
        "Bytes that may wait for one client before it counts as a slow consumer"),
    setting!("read_buffer_size", "read-buffer-size", "BYTES", Plain<usize>, |c| c.read_buffer_size,
        "Each socket's own read buffer"),
    setting!("max_connections", "max-connections", "N", Plain<usize>, |c| c.max_connections,
        "Most WebSocket connections the node holds at once"),
    setting!("max_connections_per_address", "max-connections-per-address", "N", Plain<u32>,
        |c| c.max_connections_per_address,
        "Most WebSocket connections one client address holds at once; 0 for no limit"),
    setting!("connections_per_second_per_address", "connections-per-second-per-address", "N",
        Plain<u32>, |c| c.connections_per_second_per_address,
        "New WebSocket connections one client address may open per second, in bursts of as many; 0 for no limit"),
    setting!("mailbox_capacity", "mailbox-capacity", "N", Plain<usize>, |c| c.mailbox_capacity,
        "Messages that may wait in one process's mailbox"),
    setting!("process_mailbox_bytes", "process-mailbox-bytes", "BYTES", Plain<usize>,
        |c| c.process_mailbox_bytes,
        "Bytes (bodies and blobs) that may wait for a process outside the node to read them"),
    setting!("close_timeout_ms", "close-timeout-ms", "MS", Millis, |c| c.close_timeout,
        "How long a closing socket may take to flush and hear the client's close"),
    setting!("header_timeout_ms", "header-timeout-ms", "MS", Millis, |c| c.header_read_timeout,
        "How long a client may take to send a request's headers before it is answered 408"),
    setting!("drain_batch_size", "drain-batch-size", "N", Plain<usize>, |c| c.drain.batch_size,
        "Channels closed together when the node drains"),
    setting!("drain_batch_interval_ms", "drain-batch-interval-ms", "MS", Millis,
        |c| c.drain.batch_interval,
        "The pause between two batches of a drain"),
    setting!("drain_timeout_ms", "drain-timeout-ms", "MS", Millis, |c| c.drain.timeout,
        "The longest a drain takes; what is still open then is closed at once"),
    setting!("token_ttl_secs", "token-ttl", "SECONDS", Secs, |c| c.token_ttl,
        "Lifetime of login tokens; a value given by flag is remembered in the home"),
    Setting {
        key: "allow_origins",
        flag: "allow-origin",
        value_name: "ORIGIN",
        about: "Origins (https://app.example) whose pages may open WebSockets with the login cookie, besides the node's own; repeat the flag for more; flags are remembered in the home",
        list: Some(','),
        show: |c| Some(toml::Value::Array(
            c.allowed_origins.iter().cloned().map(toml::Value::String).collect(),
        )),
        set: |c, text| {
            add_origin(c, text);
            Ok(())
        },
        from_toml: |c, value| {
            for origin in from_toml::<Vec<String>>(value)? {
                add_origin(c, &origin);
            }
            Ok(())
        },
    },
    setting!("login_burst", "login-burst", "N", Plain<u32>, |c| c.login_burst,
        "Login attempts one client address may make in a burst before being slowed down"),
    setting!("login_attempts_per_minute", "login-attempts-per-minute", "N", Plain<u32>,
        |c| c.login_attempts_per_minute,
        "Login attempts one client address regains per minute once its burst is spent"),
    setting!("http_response_timeout_ms", "http-response-timeout-ms", "MS", Millis,
        |c| c.http_response_timeout,
        "How long a process has to answer an HTTP request on a path it bound (then 504)"),
    Setting {
        key: "tls_cert",
        flag: "tls-cert",
        value_name: "FILE",
        about: "PEM certificate chain: serve https and wss (needs tls_key)",
        list: None,
        show: |c| c.tls.as_ref().and_then(|t| Plain::<PathBuf>::show(&t.cert)),
        set: |c, text| {
            tls_files(c).cert = Plain::<PathBuf>::parse(text)?;
            Ok(())
        },
        from_toml: |c, value| {
            tls_files(c).cert = Plain::<PathBuf>::from_toml(value)?;
            Ok(())
        },
    },
    Setting {
        key: "tls_key",
        flag: "tls-key",
        value_name: "FILE",
        about: "PEM private key for tls_cert",
        list: None,
        show: |c| c.tls.as_ref().and_then(|t| Plain::<PathBuf>::show(&t.key)),
        set: |c, text| {
            tls_files(c).key = Plain::<PathBuf>::parse(text)?;
            Ok(())
        },
        from_toml: |c, value| {
            tls_files(c).key = Plain::<PathBuf>::from_toml(value)?;
            Ok(())
        },
    },
    setting!("net_bind", "net-bind", "ADDR", Maybe<Plain<SocketAddr>>, |c| c.net.bind,
        "Where to listen for peer nodes; off when not set"),
    Setting {
        key: "peer",
        flag: "peer",
        value_name: "name=NODE,key=HEX[,address=HOST:PORT][,trust]",
        about: "A peer node; in the file a [[peer]] table (name, public_key, address, trust_pushes); a peer given later replaces one of the same name",
        list: Some(';'),
        show: |c| to_toml(&c.net.peers),
        set: |c, text| {
            add_peer(c, text.parse().map_err(|e: super::PeerParseError| e.to_string())?);
            Ok(())
        },
        from_toml: |c, value| {
            for peer in from_toml::<Vec<PeerConfig>>(value)? {
                add_peer(c, peer);
            }
            Ok(())
        },
    },
    setting!("net_max_message_size", "net-max-message-size", "BYTES", Plain<usize>,
        |c| c.net.max_message_size,
        "Largest message on a link to a peer"),
    setting!("net_keepalive_ms", "net-keepalive-ms", "MS", Millis, |c| c.net.keepalive,
        "A quiet link sends a keepalive this often"),
    setting!("net_idle_timeout_ms", "net-idle-timeout-ms", "MS", Millis, |c| c.net.idle_timeout,
        "A link that hears nothing for this long is dropped"),
    setting!("net_handshake_timeout_ms", "net-handshake-timeout-ms", "MS", Millis,
        |c| c.net.handshake_timeout,
        "How long a link has to complete its handshake"),
    setting!("net_queue_capacity", "net-queue-capacity", "N", Plain<usize>, |c| c.net.queue_capacity,
        "Messages that may wait on one link"),
    setting!("net_queue_bytes", "net-queue-bytes", "BYTES", Plain<usize>, |c| c.net.queue_bytes,
        "Payload bytes that may wait on one link"),
    setting!("net_redial_min_ms", "net-redial-min-ms", "MS", Millis, |c| c.net.redial_min,
        "The first wait before dialing a peer again"),
    setting!("net_redial_max_ms", "net-redial-max-ms", "MS", Millis, |c| c.net.redial_max,
        "The longest wait between dials"),
    Setting {
        key: "cluster_nats_url",
        flag: "cluster",
        value_name: "NATS_URL",
        about: "Join the node's cluster on this NATS server (nats://HOST:PORT, JetStream on); off when not set",
        list: None,
        show: |c| c.cluster.as_ref().and_then(|k| Plain::<String>::show(&k.nats_url)),
        set: |c, text| {
            cluster(c).nats_url = Plain::<String>::parse(text)?;
            Ok(())
        },
        from_toml: |c, value| {
            cluster(c).nats_url = Plain::<String>::from_toml(value)?;
            Ok(())
        },
    },
    setting!("token_secret_file", "token-secret-file", "PATH", Maybe<Plain<PathBuf>>,
        |c| c.token_secret_file,
        "Sign and check tokens with the secret in this file (64 hex digits), shared by every instance of the node; else the home's own"),
    setting!("metrics_bind", "metrics-bind", "ADDR", Maybe<Plain<SocketAddr>>, |c| c.metrics_bind,
        "Where the internal port (/metrics, /health, /ready, /status) listens; off when not set; keep it off the public network"),
];

/// The TLS files, begun with empty paths when none were set yet; [`Config::problems`]
/// reports a pair with one path missing.
fn tls_files(config: &mut Config) -> &mut TlsFiles {
    config.tls.get_or_insert_with(|| TlsFiles {
        cert: PathBuf::new(),
        key: PathBuf::new(),
    })
}

/// The cluster's settings, begun with the defaults when none were set yet.
fn cluster(config: &mut Config) -> &mut ClusterConfig {
    config
        .cluster
        .get_or_insert_with(|| ClusterConfig::new(String::new()))
}

/// Adds an origin once, written as the allow-list compares it.
fn add_origin(config: &mut Config, origin: &str) {
    let origin = super::normalize_origin(origin);
    if !origin.is_empty() && !config.allowed_origins.contains(&origin) {
        config.allowed_origins.push(origin);
    }
}

/// Adds a peer, in place of one of the same name.
fn add_peer(config: &mut Config, peer: PeerConfig) {
    config.net.peers.retain(|p| p.name != peer.name);
    config.net.peers.push(peer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_flags_and_variables_are_unique_and_follow_one_rule() {
        let mut keys = std::collections::HashSet::new();
        let mut flags = std::collections::HashSet::new();
        for s in SETTINGS {
            assert!(keys.insert(s.key), "{} twice", s.key);
            assert!(flags.insert(s.flag), "--{} twice", s.flag);
            assert!(s.key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(s.env().starts_with("SWITCHBOARD_"));
        }
    }

    #[test]
    fn every_setting_round_trips_through_text_and_toml() {
        let defaults = Config::new("/h");
        for s in SETTINGS {
            let Some(shown) = s.show(&defaults) else {
                continue;
            };
            let mut config = Config::new("/h");
            s.set_toml(&mut config, shown.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", s.key));
            assert_eq!(s.show(&config), Some(shown), "{}", s.key);
        }
        let mut config = Config::new("/h");
        by_key("drain_batch_interval_ms")
            .unwrap()
            .set(&mut config, "40")
            .unwrap();
        assert_eq!(config.drain.batch_interval, Duration::from_millis(40));
        let error = by_key("max_connections")
            .unwrap()
            .set(&mut config, "many")
            .unwrap_err();
        assert!(error.contains("invalid digit"), "{error}");
    }
}
