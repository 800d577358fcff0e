//! `switchboard new PATH [--process ID]`: writes a crate for a node with a process of the
//! author's own, a greeter to start from. The crate depends on the Switchboard checkout this
//! binary was built from, by absolute path, and is a workspace of its own, so it builds the
//! same wherever it is written. The files are the templates in `gateway/templates/new/`.
//!
//! The checkout's `Cargo.lock` is copied in: the crate then builds with the versions
//! Switchboard is tested with, offline too, and (with the checkout's target directory) from
//! what is already compiled.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use process_lib::ProcessId;

/// The publisher of a process whose id is not given.
const DEFAULT_PUBLISHER: &str = crate::config::DEFAULT_NODE;

const CARGO_TOML: &str = include_str!("../../templates/new/Cargo.toml.tmpl");
const MAIN_RS: &str = include_str!("../../templates/new/main.rs");
const GREETER_RS: &str = include_str!("../../templates/new/greeter.rs");
const INDEX_HTML: &str = include_str!("../../templates/new/index.html");
const GITIGNORE: &str = include_str!("../../templates/new/gitignore");
/// The checkout's own build settings (the allocator's), so the crate's node runs as ours does.
const CARGO_CONFIG: &str = include_str!("../../../.cargo/config.toml");

/// The Switchboard checkout this binary was built from.
fn checkout() -> PathBuf {
    let gateway = Path::new(env!("CARGO_MANIFEST_DIR"));
    gateway.parent().unwrap_or(gateway).to_path_buf()
}

/// `switchboard new`: writes the crate at `path` and says how to run it.
pub fn new(path: &Path, process: Option<&str>) -> anyhow::Result<()> {
    let id = process_id(path, process)?;
    let crate_name = id.package_name().to_owned();
    if !crate_name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!("the package name {crate_name:?} names the crate, so it must start with a letter");
    }
    refuse_unless_empty(path)?;
    let checkout = checkout();
    let (gateway, process_lib) = (checkout.join("gateway"), checkout.join("process-lib"));
    if !gateway.join("Cargo.toml").is_file() || !process_lib.join("Cargo.toml").is_file() {
        bail!(
            "this switchboard was built from {}, which no longer holds gateway/ and \
             process-lib/; run `switchboard new` from a binary built in a checkout",
            checkout.display()
        );
    }
    let files = Crate {
        name: &crate_name,
        process_id: &id,
        gateway: &gateway,
        process_lib: &process_lib,
    }
    .files();
    for (name, text) in files {
        let file = path.join(name);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    let lock = checkout.join("Cargo.lock");
    if lock.is_file() {
        std::fs::copy(&lock, path.join("Cargo.lock"))
            .with_context(|| format!("cannot copy {}", lock.display()))?;
    }
    println!(
        "created crate {crate_name} with process {id} in {}\n\
         run it:  cd {} && cargo run -- run",
        path.display(),
        path.display()
    );
    Ok(())
}

/// The id given, or `NAME:NAME:local.os` from the directory's name.
fn process_id(path: &Path, given: Option<&str>) -> anyhow::Result<ProcessId> {
    if let Some(given) = given {
        return given
            .parse()
            .with_context(|| format!("invalid process id {given:?}"));
    }
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{name}:{name}:{DEFAULT_PUBLISHER}")
        .parse()
        .map_err(|_| {
            anyhow::anyhow!(
                "the directory name {name:?} is not a process name ([a-z0-9-]); \
                 pass --process NAME:PACKAGE:PUBLISHER"
            )
        })
}

/// Refuses a `path` that is a file, or a directory with anything in it.
fn refuse_unless_empty(path: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{} exists and is not empty", path.display());
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) if path.exists() => bail!("{} exists and is not a directory", path.display()),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// What the templates are filled with.
struct Crate<'a> {
    name: &'a str,
    process_id: &'a ProcessId,
    gateway: &'a Path,
    process_lib: &'a Path,
}

impl Crate<'_> {
    /// Each file's path in the crate, and its text.
    fn files(&self) -> [(&'static str, String); 6] {
        [
            ("Cargo.toml", self.fill(CARGO_TOML)),
            ("src/main.rs", MAIN_RS.to_owned()),
            ("src/greeter.rs", self.fill(GREETER_RS)),
            ("src/index.html", INDEX_HTML.to_owned()),
            (".gitignore", GITIGNORE.to_owned()),
            (".cargo/config.toml", CARGO_CONFIG.to_owned()),
        ]
    }

    fn fill(&self, template: &str) -> String {
        // Paths go in as TOML strings, quoted and escaped.
        let toml_path =
            |path: &Path| toml::Value::from(path.to_string_lossy().as_ref()).to_string();
        template
            .replace("{{crate}}", self.name)
            .replace("{{process_id}}", &self.process_id.to_string())
            .replace("{{gateway_path}}", &toml_path(self.gateway))
            .replace("{{process_lib_path}}", &toml_path(self.process_lib))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(id: &str, gateway: &str) -> [(&'static str, String); 6] {
        let id: ProcessId = id.parse().expect("id");
        Crate {
            name: id.package_name(),
            process_id: &id,
            gateway: Path::new(gateway),
            process_lib: Path::new("/src/process-lib"),
        }
        .files()
    }

    #[test]
    fn the_manifest_names_the_crate_and_depends_on_the_checkout() {
        let files = filled("greeter:hello:me", "/src/a \"quoted\" path/gateway");
        let manifest: toml::Table = files[0].1.parse().expect("valid TOML");
        assert_eq!(manifest["package"]["name"].as_str(), Some("hello"));
        let dependencies = &manifest["dependencies"];
        assert_eq!(
            dependencies["gateway"]["path"].as_str(),
            Some("/src/a \"quoted\" path/gateway")
        );
        assert_eq!(
            dependencies["process-lib"]["path"].as_str(),
            Some("/src/process-lib")
        );
        assert!(manifest["workspace"].is_table(), "a workspace of its own");
        assert!(files[2]
            .1
            .contains("pub const ID: &str = \"greeter:hello:me\";"));
        assert!(files.iter().all(|(_, text)| !text.contains("{{")));
    }

    #[test]
    fn the_manifest_builds_with_the_checkouts_dev_profile() {
        // The same profile lets a build share the checkout's compiled dependencies.
        let ours: toml::Table = include_str!("../../../Cargo.toml").parse().expect("TOML");
        let files = filled("a:b:c", "/g");
        let theirs: toml::Table = files[0].1.parse().expect("TOML");
        assert_eq!(theirs["profile"]["dev"], ours["profile"]["dev"]);
    }

    #[test]
    fn the_crate_builds_its_allocator_as_the_checkout_does() {
        let files = filled("a:b:c", "/g");
        let (name, config) = &files[5];
        assert_eq!(*name, ".cargo/config.toml");
        let config: toml::Table = config.parse().expect("TOML");
        assert_eq!(
            config["env"]["JEMALLOC_SYS_WITH_MALLOC_CONF"].as_str(),
            Some("background_thread:true,dirty_decay_ms:300")
        );
    }

    #[test]
    fn the_id_comes_from_the_directory_unless_given() {
        let id = process_id(Path::new("/tmp/hello-node"), None).expect("derived");
        assert_eq!(id.to_string(), "hello-node:hello-node:local.os");
        let id = process_id(Path::new("/tmp/My_App"), Some("greeter:app:me")).expect("given");
        assert_eq!(id.to_string(), "greeter:app:me");
        let error = process_id(Path::new("/tmp/My_App"), None).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "the directory name \"My_App\" is not a process name ([a-z0-9-]); \
             pass --process NAME:PACKAGE:PUBLISHER"
        );
        let error = process_id(Path::new("x"), Some("greeter")).expect_err("refused");
        assert_eq!(
            format!("{error:#}"),
            "invalid process id \"greeter\": process id needs three non-empty fields \
             `name:package:publisher`"
        );
    }
}
