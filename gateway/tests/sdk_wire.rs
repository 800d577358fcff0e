//! The SDKs' own unit tests of their wire helpers (Python's `unittest`, Node's test runner),
//! run from here so `cargo test` covers them. Their end-to-end tests are in `commands.rs`.

use std::path::Path;
use std::process::Command;

fn sdk(dir: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sdk")
        .join(dir)
}

fn passes(mut command: Command) {
    let out = command.output().expect("the test runner starts");
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_python_sdk_wire_helpers_pass_their_unit_tests() {
    let mut command = Command::new("python3");
    command
        .args(["-m", "unittest", "discover", "-s", "tests"])
        .current_dir(sdk("python"));
    passes(command);
}

#[test]
fn the_javascript_sdk_wire_helpers_pass_their_unit_tests() {
    let mut command = Command::new("node");
    command.args(["--test", "tests/"]).current_dir(sdk("js"));
    passes(command);
}
