//! `switchboard config`: prints the settings a node with this home would run with, one
//! `key = value` line each (TOML, so a line can be pasted into `config.toml`), followed by
//! where the value came from. `--check` prints nothing but the problems.

use std::path::PathBuf;

use crate::config::layers::{self, Flags, Layer, Layered};
use crate::config::settings::SETTINGS;

/// `switchboard config [--check]`.
pub fn config(home: PathBuf, home_from: Layer, flags: &Flags, check: bool) -> anyhow::Result<()> {
    let layered = match layers::load(home, home_from, &layers::process_env(), flags) {
        Ok(layered) => layered,
        Err(problems) => {
            for problem in &problems.0 {
                eprintln!("switchboard: {problem}");
            }
            std::process::exit(1);
        }
    };
    if check {
        println!("ok");
    } else {
        print!("{}", render(&layered));
    }
    Ok(())
}

/// The settings as `key = value  # layers` lines, after two comment lines on the home and
/// its file. A setting with no value is shown commented out.
pub fn render(layered: &Layered) -> String {
    let mut out = format!(
        "# home: {} ({})\n# file: {} ({})\n",
        layered.config.home.display(),
        layered.home_from,
        layered.file.display(),
        if layered.file_present {
            "read"
        } else {
            "absent"
        }
    );
    let lines: Vec<(String, String)> = SETTINGS
        .iter()
        .map(|setting| {
            let line = match setting.show(&layered.config) {
                Some(value) => format!("{} = {value}", setting.key),
                None => format!("# {} is not set", setting.key),
            };
            let from = layered
                .layers(setting)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("+");
            (line, from)
        })
        .collect();
    let width = lines
        .iter()
        .map(|(line, _)| line.len())
        .filter(|&len| len <= 60)
        .max()
        .unwrap_or(0);
    for (line, from) in lines {
        out.push_str(&format!("{line:<width$}  # {from}\n"));
    }
    out
}
