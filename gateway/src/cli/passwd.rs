//! `switchboard passwd`: sets the node password, read from the terminal without echo (asked
//! twice), or as one line from stdin when stdin is not a terminal. Only the Argon2id hash is
//! stored, in `<home>/password` (mode 0600); running nodes use it from their next login.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::Context;

/// `switchboard passwd`.
pub fn passwd(home: PathBuf) -> anyhow::Result<()> {
    let password = if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password("New password: ").context("cannot read the password")?;
        let again =
            rpassword::prompt_password("Repeat it: ").context("cannot read the password")?;
        if first != again {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    crate::password::store(&home, &password)?;
    eprintln!("password set for the node at {}", home.display());
    Ok(())
}
