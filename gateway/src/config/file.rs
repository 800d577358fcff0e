//! `<home>/config.toml`: read as a list of `key = value` entries, each with its line, so a
//! key that is unknown or a value of the wrong type can be named with the file and the line;
//! and written back one key at a time (crate `toml_edit`), keeping the rest of the file, its
//! comments and its order, for the settings a flag asks the home to remember.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::settings;

/// The file's name in a home.
pub const FILE_NAME: &str = "config.toml";

/// The keys a `[[peer]]` table may hold.
const PEER_KEYS: [&str; 4] = ["name", "public_key", "address", "trust_pushes"];

/// One `key = value` of the file. A `[[peer]]` table is an entry of its own (key `peer`,
/// its value an array of that one table), so a mistake in it is named at its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The line it is on, from 1.
    pub line: usize,
    /// Its value.
    pub value: toml::Value,
}

/// What is wrong with the file, where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// The line, when the mistake has one.
    pub line: Option<usize>,
    /// What is wrong, naming the key when there is one.
    pub message: String,
}

/// Where `home`'s file is.
pub fn path(home: &Path) -> PathBuf {
    home.join(FILE_NAME)
}

/// The file's text; `None` when there is no file.
pub fn read(path: &Path) -> Result<Option<String>, FileError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FileError {
            path: path.to_owned(),
            line: None,
            message: format!("cannot read it: {e}"),
        }),
    }
}

/// The line of byte `offset` in `text`, from 1.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

type SpannedTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// The file's entries, in file order, and every mistake found: a syntax error (then no
/// entries), a key no setting has, a `[[peer]]` key no peer has.
pub fn entries(path: &Path, text: &str) -> (Vec<Entry>, Vec<FileError>) {
    let error = |offset: Option<usize>, message: String| FileError {
        path: path.to_owned(),
        line: offset.map(|o| line_of(text, o)),
        message,
    };
    let table: SpannedTable = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => {
            let offset = e.span().map(|s| s.start);
            // Some syntax errors carry their sentence only in the full form, with the line.
            let message = match e.message().trim() {
                "" => e.to_string().trim().to_owned(),
                message => message.to_owned(),
            };
            return (Vec::new(), vec![error(offset, message)]);
        }
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (key, value) in table {
        let offset = key.span().start;
        if key.get_ref() == "peer" {
            peers(text, value, &error, &mut entries, &mut errors);
            continue;
        }
        // `[[process]]` tables are the supervised programs, read by `config::commands`.
        if key.get_ref() == "process" {
            continue;
        }
        if settings::by_key(key.get_ref()).is_none() {
            errors.push(error(
                Some(offset),
                format!("unknown key `{}`", key.get_ref()),
            ));
            continue;
        }
        entries.push(Entry {
            key: key.into_inner(),
            line: line_of(text, offset),
            value: value.into_inner(),
        });
    }
    entries.sort_by_key(|e| e.line);
    errors.sort_by_key(|e| e.line);
    (entries, errors)
}

/// The `[[peer]]` tables, each an entry at its own line, with their unknown keys refused.
fn peers(
    text: &str,
    value: Spanned<toml::Value>,
    error: &dyn Fn(Option<usize>, String) -> FileError,
    entries: &mut Vec<Entry>,
    errors: &mut Vec<FileError>,
) {
    #[derive(serde::Deserialize)]
    struct Peers {
        peer: Vec<Spanned<SpannedTable>>,
    }
    let line = line_of(text, value.span().start);
    let Ok(Peers { peer }) = toml::from_str::<Peers>(text) else {
        // Not an array of tables: the setting says so, at the key's line.
        entries.push(Entry {
            key: "peer".to_owned(),
            line,
            value: value.into_inner(),
        });
        return;
    };
    for table in peer {
        let line = line_of(text, table.span().start);
        let mut plain = toml::Table::new();
        for (key, value) in table.into_inner() {
            if PEER_KEYS.contains(&key.get_ref().as_str()) {
                plain.insert(key.into_inner(), value.into_inner());
            } else {
                errors.push(error(
                    Some(key.span().start),
                    format!(
                        "unknown key `{}` in a [[peer]] table (it takes {})",
                        key.get_ref(),
                        PEER_KEYS.join(", ")
                    ),
                ));
            }
        }
        entries.push(Entry {
            key: "peer".to_owned(),
            line,
            value: toml::Value::Array(vec![toml::Value::Table(plain)]),
        });
    }
}

/// Sets `key` to `value` in the file at `path` (creating it), leaving every other line as
/// it was.
pub fn remember(path: &Path, key: &str, value: toml_edit::Value) -> Result<(), FileError> {
    let failed = |message: String| FileError {
        path: path.to_owned(),
        line: None,
        message,
    };
    let text = read(path)?.unwrap_or_default();
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| failed(e.message().to_owned()))?;
    document[key] = toml_edit::value(value);
    fs::write(path, document.to_string()).map_err(|e| failed(format!("cannot write it: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Entry>, Vec<String>) {
        let (entries, errors) = entries(Path::new("/h/config.toml"), text);
        (entries, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_key_with_no_value_is_said_in_a_sentence() {
        // Found by fuzzing: toml gives this mistake no short message of its own.
        let (kept, mistakes) = entries(Path::new("/h/config.toml"), "nono=");
        assert!(kept.is_empty());
        assert_eq!(mistakes.len(), 1);
        assert!(!mistakes[0].message.trim().is_empty(), "{:?}", mistakes[0]);
    }

    #[test]
    fn entries_carry_their_lines_and_unknown_keys_are_named_where_they_are() {
        let text = "# a comment\nnode = \"alice.os\"\n\ncolour = \"red\"\nmax_connections = 5\n\n[[peer]]\nname = \"bob.os\"\nshade = 1\n";
        let (entries, errors) = parse(text);
        let keys: Vec<(&str, usize)> = entries.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(keys, vec![("node", 2), ("max_connections", 5), ("peer", 7)]);
        assert_eq!(
            errors,
            vec![
                "/h/config.toml line 4: unknown key `colour`".to_owned(),
                "/h/config.toml line 9: unknown key `shade` in a [[peer]] table (it takes name, public_key, address, trust_pushes)".to_owned(),
            ]
        );
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let (entries, errors) = parse("node = \"a\"\nbind = \n");
        assert!(entries.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("/h/config.toml line 2: "),
            "{errors:?}"
        );
    }

    #[test]
    fn remembering_a_key_keeps_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(
            &path,
            "# mine\nbind = \"127.0.0.1:9\"\n\n[[peer]]\nname = \"bob.os\"\n",
        )
        .unwrap();
        remember(&path, "node", "alice.os".into()).unwrap();
        remember(&path, "bind", "127.0.0.1:10".into()).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# mine\nbind = \"127.0.0.1:10\"\n"),
            "{text}"
        );
        assert!(text.contains("node = \"alice.os\""), "{text}");
        assert!(text.contains("[[peer]]\nname = \"bob.os\""), "{text}");
        let (entries, errors) = entries(&path, &text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(entries.len(), 3);
    }
}
