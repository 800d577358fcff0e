//! The settings a node runs with, in layers: the defaults, then `<home>/config.toml`, then
//! `SWITCHBOARD_<KEY>` environment variables, then flags; a later layer wins. A list (allowed
//! origins, peers) gathers its items from every layer instead. Each setting remembers the
//! layers it came from, for `switchboard config`. Every mistake is collected, not only the
//! first, each naming the key and where it was given.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use super::settings::{self, Setting};
use super::{file, Config};

/// The variable that names the home (it cannot be in the file the home holds).
pub const HOME_ENV: &str = "SWITCHBOARD_HOME";
/// The variable that picks the log format (read before any file is).
pub const LOG_FORMAT_ENV: &str = "SWITCHBOARD_LOG_FORMAT";

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// The built-in default.
    Default,
    /// `<home>/config.toml`.
    File,
    /// A `SWITCHBOARD_*` environment variable.
    Env,
    /// A command-line flag.
    Flag,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Default => "default",
            Self::File => "file",
            Self::Env => "env",
            Self::Flag => "flag",
        })
    }
}

/// The flags given for settings: each setting with its values, in the order given.
pub type Flags = Vec<(&'static Setting, Vec<String>)>;

/// Settings resolved from every layer.
#[derive(Debug, Clone)]
pub struct Layered {
    /// The settings.
    pub config: Config,
    /// Where the home came from.
    pub home_from: Layer,
    /// The file that was read.
    pub file: PathBuf,
    /// Whether it exists.
    pub file_present: bool,
    from: HashMap<&'static str, Vec<Layer>>,
}

impl Layered {
    /// The layers `setting`'s value came from: `[Default]` when none set it.
    pub fn layers(&self, setting: &Setting) -> Vec<Layer> {
        self.from
            .get(setting.key)
            .cloned()
            .unwrap_or_else(|| vec![Layer::Default])
    }

    fn mark(&mut self, setting: &'static Setting, layer: Layer) {
        let layers = self.from.entry(setting.key).or_default();
        if setting.list.is_none() {
            layers.clear();
        }
        if !layers.contains(&layer) {
            layers.push(layer);
        }
    }
}

/// Every reason the settings cannot be used, one sentence each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct Problems(pub Vec<String>);

/// Resolves the settings for `home` (which came from `home_from`), reading its file, the
/// `SWITCHBOARD_*` variables among `env`, and `flags`.
pub fn load(
    home: PathBuf,
    home_from: Layer,
    env: &[(String, String)],
    flags: &Flags,
) -> Result<Layered, Problems> {
    let path = file::path(&home);
    let mut problems = Vec::new();
    let mut layered = Layered {
        config: Config::new(home),
        home_from,
        file: path.clone(),
        file_present: false,
        from: HashMap::new(),
    };
    match file::read(&path) {
        Ok(Some(text)) => {
            layered.file_present = true;
            let (entries, errors) = file::entries(&path, &text);
            problems.extend(errors.iter().map(ToString::to_string));
            for entry in entries {
                let Some(setting) = settings::by_key(&entry.key) else {
                    continue;
                };
                match setting.set_toml(&mut layered.config, entry.value) {
                    Ok(()) => layered.mark(setting, Layer::File),
                    Err(message) => problems.push(format!(
                        "{} line {}: `{}`: {message}",
                        path.display(),
                        entry.line,
                        entry.key
                    )),
                }
            }
        }
        Ok(None) => {}
        Err(error) => problems.push(error.to_string()),
    }
    for (name, value) in env {
        let Some(key) = name.strip_prefix("SWITCHBOARD_") else {
            continue;
        };
        if name == HOME_ENV || name == LOG_FORMAT_ENV {
            continue;
        }
        let Some(setting) = settings::by_key(&key.to_ascii_lowercase()) else {
            problems.push(format!(
                "unknown environment variable {name} (see `switchboard config` for the settings)"
            ));
            continue;
        };
        let items: Vec<&str> = match setting.list {
            Some(separator) => value
                .split(separator)
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .collect(),
            None => vec![value.as_str()],
        };
        let mut ok = true;
        for item in items {
            if let Err(message) = setting.set(&mut layered.config, item) {
                problems.push(format!("environment variable {name}={item:?}: {message}"));
                ok = false;
            }
        }
        if ok {
            layered.mark(setting, Layer::Env);
        }
    }
    for (setting, values) in flags {
        for value in values {
            if let Err(message) = setting.set(&mut layered.config, value) {
                problems.push(format!("--{} {value:?}: {message}", setting.flag));
            }
        }
        layered.mark(setting, Layer::Flag);
    }
    problems.extend(layered.config.problems());
    if problems.is_empty() {
        Ok(layered)
    } else {
        Err(Problems(problems))
    }
}

/// The `SWITCHBOARD_*` variables of this process (a value that is not UTF-8 is kept as its
/// lossy form, and then refused as a value).
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            name.starts_with("SWITCHBOARD_")
                .then(|| (name, value.to_string_lossy().into_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file::FILE_NAME), text).unwrap();
        dir
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let home =
            home_with("max_connections = 10\nmailbox_capacity = 20\nclose_timeout_ms = 30\n");
        let flags: Flags = vec![(
            settings::by_key("max_connections").unwrap(),
            vec!["11".into()],
        )];
        let layered = load(
            home.path().into(),
            Layer::Flag,
            &env(&[
                ("SWITCHBOARD_MAX_CONNECTIONS", "12"),
                ("SWITCHBOARD_MAILBOX_CAPACITY", "21"),
            ]),
            &flags,
        )
        .unwrap();
        let c = &layered.config;
        assert_eq!(c.max_connections, 11);
        assert_eq!(c.mailbox_capacity, 21);
        assert_eq!(c.close_timeout, std::time::Duration::from_millis(30));
        assert_eq!(c.register_timeout, Config::new("x").register_timeout);
        let from = |key| layered.layers(settings::by_key(key).unwrap());
        assert_eq!(from("max_connections"), vec![Layer::Flag]);
        assert_eq!(from("mailbox_capacity"), vec![Layer::Env]);
        assert_eq!(from("close_timeout_ms"), vec![Layer::File]);
        assert_eq!(from("register_timeout_ms"), vec![Layer::Default]);
    }

    #[test]
    fn lists_gather_from_every_layer() {
        let home = home_with("allow_origins = [\"https://a.example\"]\n");
        let flags: Flags = vec![(
            settings::by_key("allow_origins").unwrap(),
            vec!["https://c.example/".into()],
        )];
        let layered = load(
            home.path().into(),
            Layer::Default,
            &env(&[(
                "SWITCHBOARD_ALLOW_ORIGINS",
                "https://b.example, https://a.example",
            )]),
            &flags,
        )
        .unwrap();
        assert_eq!(
            layered.config.allowed_origins,
            vec![
                "https://a.example",
                "https://b.example",
                "https://c.example"
            ]
        );
        assert_eq!(
            layered.layers(settings::by_key("allow_origins").unwrap()),
            vec![Layer::File, Layer::Env, Layer::Flag]
        );
    }

    #[test]
    fn every_mistake_is_named_with_its_key_and_place() {
        let home = home_with("node = \"a.os\"\nmax_connections = \"many\"\nzoom = 1\n");
        let problems = load(
            home.path().into(),
            Layer::Default,
            &env(&[
                ("SWITCHBOARD_BIND", "nowhere"),
                ("SWITCHBOARD_COLOUR", "red"),
            ]),
            &Vec::new(),
        )
        .unwrap_err()
        .0;
        let file = home.path().join("config.toml");
        let file = file.display();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert_eq!(problems[0], format!("{file} line 3: unknown key `zoom`"));
        assert!(
            problems[1].starts_with(&format!(
                "{file} line 2: `max_connections`: invalid type: string \"many\""
            )),
            "{problems:?}"
        );
        assert!(problems
            .iter()
            .any(|p| p.starts_with("environment variable SWITCHBOARD_BIND=\"nowhere\": ")));
        assert!(problems
            .iter()
            .any(|p| p.starts_with("unknown environment variable SWITCHBOARD_COLOUR")));
    }
}
