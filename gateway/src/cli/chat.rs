//! `switchboard chat`: a terminal chat client. Input and output run at once: incoming lines
//! print while the user types (above the prompt, through rustyline, when stdin is a
//! terminal; plain lines when it is not, so scripts and tests can drive it). `exit` or
//! Ctrl-D leaves with a goodbye; a lost connection reconnects with backoff (moving round
//! the URLs when given several, as for a node's instances) and fetches what it missed; a
//! connection refused by every URL says the server's reason and exits non-zero. A `wss://`
//! URL is TLS, trusting Mozilla's roots and the CA certificate given with `--ca-cert`; a
//! refused certificate is said in one line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use switchboard_client::{
    connect_with, Backoff, ClientError, ConnectionState, Options, Received, TlsError,
};
use tokio::sync::mpsc;

use super::chat_view::ChatView;

/// What `switchboard chat` was given.
#[derive(Debug)]
pub struct ChatArgs {
    /// The node's WebSocket URLs (at least one), tried in order.
    pub urls: Vec<String>,
    /// A token, if given.
    pub token: Option<String>,
    /// The node home to mint a token from, when no token is given.
    pub home: PathBuf,
    /// The chat process.
    pub process: String,
    /// A CA certificate (PEM) to trust for a `wss://` node, besides Mozilla's roots.
    pub ca_cert: Option<PathBuf>,
}

/// Where lines for the user go.
enum Screen {
    /// Plain stdout.
    Plain,
    /// Above rustyline's prompt.
    Prompt(Box<dyn rustyline::ExternalPrinter + Send>),
}

impl Screen {
    fn show(&mut self, line: &str) {
        match self {
            Self::Plain => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Self::Prompt(printer) => {
                let _ = printer.print(format!("{line}\n"));
            }
        }
    }
}

/// One line the user typed, or the end of their input.
type Typed = Option<String>;

/// Runs the chat client until the user leaves or the connection is over for good.
pub async fn chat(args: ChatArgs) -> anyhow::Result<()> {
    let token = match args.token.clone() {
        Some(token) => token,
        None => mint_token(&args.home)?,
    };
    let ca_pem = match &args.ca_cert {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read the CA certificate {}", path.display()))?,
        ),
        None => None,
    };
    let given_ca = ca_pem.is_some();
    let Some((first_url, other_urls)) = args.urls.split_first() else {
        anyhow::bail!("no URL to join the chat at");
    };
    let several = !other_urls.is_empty();
    let options = Options {
        other_urls: other_urls.to_vec(),
        reconnect: Some(Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(15),
            max_attempts: None,
        }),
        ca_pem,
        ..Options::default()
    };
    let mut conn = connect_with(first_url, &token, &args.process, options)
        .await
        .map_err(|error| joining_failed(error, &args, given_ca))?;
    let mut states = conn.take_states().context("state stream")?;
    let (typed_tx, mut typed) = mpsc::channel::<Typed>(16);
    let mut screen = start_input(typed_tx)?;
    let mut view = ChatView::default();
    let sender = conn.sender();
    sender.send_json(&view.history_request()).await?;
    let mut connected_once = false;

    loop {
        tokio::select! {
            line = typed.recv() => {
                let Some(Some(line)) = line else {
                    break;
                };
                let line = line.trim_end_matches(['\r', '\n']);
                if line.trim() == "exit" {
                    break;
                }
                if line.trim().is_empty() {
                    continue;
                }
                sender.send_json(&serde_json::json!({"type": "say", "text": line})).await?;
            }
            received = conn.receive() => match received {
                Received::Text(text) => {
                    for line in view.lines(&text) {
                        screen.show(&line);
                    }
                }
                Received::Binary(_) => {}
                Received::Close { code, reason, error } => {
                    let why = error.map(|e| e.message).unwrap_or(reason);
                    anyhow::bail!("the chat closed the connection: {why} (close code {code})");
                }
                Received::Error(error) => return Err(error).context("the chat connection ended"),
            },
            Some(state) = states.recv() => match state {
                ConnectionState::Connected { .. } if !connected_once => connected_once = true,
                ConnectionState::Connected { url, .. } => {
                    let at = if several { format!(" to {url}") } else { String::new() };
                    screen.show(&format!("* reconnected{at}; fetching what you missed"));
                    for request in view.resume_requests() {
                        sender.send_json(&request).await?;
                    }
                }
                ConnectionState::Disconnected(close) => {
                    screen.show(&format!("* connection lost: {close}"));
                }
                ConnectionState::Reconnecting { attempt, delay, url } => {
                    let to = if several { format!(" to {url}") } else { String::new() };
                    screen.show(&format!(
                        "* reconnecting in {:.1} s{to} (attempt {attempt})",
                        delay.as_secs_f32()
                    ));
                }
                ConnectionState::Closed => {}
            },
        }
    }
    screen.show("Goodbye!");
    conn.close().await;
    Ok(())
}

/// Why joining failed, in one line; a refused certificate is said without repeating the
/// URL, with a hint when no CA was given.
fn joining_failed(error: ClientError, args: &ChatArgs, given_ca: bool) -> anyhow::Error {
    let joining = format!("cannot join {} at {}", args.process, args.urls.join(", "));
    match error {
        ClientError::Tls { source, .. } => {
            let hint = match source {
                TlsError::UnknownIssuer if !given_ca => {
                    "; pass --ca-cert FILE to trust the CA (or self-signed certificate) it is from"
                }
                _ => "",
            };
            anyhow::anyhow!("{joining}: {source}{hint}")
        }
        other => anyhow::Error::new(other).context(joining),
    }
}

fn mint_token(home: &std::path::Path) -> anyhow::Result<String> {
    if !home.is_dir() {
        anyhow::bail!(
            "no node home at {}: pass --token, or --home with the node's home",
            home.display()
        );
    }
    let node = super::node_name(home)?;
    let secret = super::node_secret(home)?;
    Ok(crate::auth::Auth::new(&node, &secret).mint(Duration::from_secs(24 * 3600)))
}

/// Starts reading the user's lines on `typed`: through rustyline when stdin is a terminal,
/// plain lines otherwise. Returns where output should go.
fn start_input(typed: mpsc::Sender<Typed>) -> anyhow::Result<Screen> {
    if !std::io::stdin().is_terminal() {
        std::thread::spawn(move || {
            // Bytes that are not UTF-8 are shown as U+FFFD rather than ending the input.
            let mut lines = std::io::BufRead::split(std::io::stdin().lock(), b'\n');
            loop {
                let line = lines
                    .next()
                    .and_then(Result::ok)
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
                let end = line.is_none();
                if typed.blocking_send(line).is_err() || end {
                    return;
                }
            }
        });
        return Ok(Screen::Plain);
    }
    let mut editor = rustyline::DefaultEditor::new().context("cannot set up the terminal")?;
    let printer = editor
        .create_external_printer()
        .context("cannot set up the terminal")?;
    std::thread::spawn(move || loop {
        let line = match editor.readline("> ") {
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                Some(line)
            }
            // Ctrl-D and Ctrl-C both leave.
            Err(_) => None,
        };
        let end = line.is_none();
        if typed.blocking_send(line).is_err() || end {
            return;
        }
    });
    Ok(Screen::Prompt(Box::new(printer)))
}
