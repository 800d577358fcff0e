//! What the bench tests share: the programs under test, built as in the real comparison.

use std::path::{Path, PathBuf};

use switchboard_bench::servers::Programs;

/// Builds the `switchboard` binary (same profile as this test) so the node runs as its own
/// process, as in the real comparison.
fn build_switchboard() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = std::process::Command::new(env!("CARGO"));
    command
        .current_dir(&workspace)
        .args(["build", "-q", "-p", "gateway", "--bin", "switchboard"]);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let status = command.status().expect("run cargo");
    assert!(status.success(), "cargo build of switchboard failed");
    Programs::beside_current_exe()
        .expect("programs")
        .switchboard
}

/// The programs a comparison runs: this profile's `switchboard`, `tt-server` and
/// `switchboard-bench`.
pub fn programs() -> Programs {
    Programs {
        switchboard: build_switchboard(),
        tt_server: env!("CARGO_BIN_EXE_tt-server").into(),
        bench: env!("CARGO_BIN_EXE_switchboard-bench").into(),
        ..Programs::beside_current_exe().expect("programs")
    }
}
