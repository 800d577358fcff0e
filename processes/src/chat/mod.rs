//! `chat:chat:sys`: a chat room for everyone who opens a channel to it.
//!
//! Each newcomer gets a free name (`user1`, `user2`, …), a greeting that says how many people
//! are here and the last 20 messages; the others are told who joined. A plain text frame is a
//! message to everyone (`[name]: text`, the sender included); `/name`, `/whisper`, `/who`,
//! `/history [N]` and `/help` are commands. A frame that is a JSON object is a command in JSON
//! form, and switches that client to JSON events (see [`events`]). Every message is written to
//! the archive ([`archive`], SQLite in the process's state directory; on a clustered node the
//! room's shared log, [`room`]) before anyone sees it;
//! messages that arrive together share one transaction ([`commit`]). A bad frame gets an
//! error for its sender only, and so does a message that could not be stored.
//!
//! The chats on linked nodes are one room ([`federation`]): a message said here is relayed to
//! the chat on every configured peer, which archives it and shows it as `[name@node]: text`;
//! `/whisper name@node` reaches one member of a peer's chat.
//!
//! - [`commands`]: parsing frames into commands. [`events`]: what clients are told.
//! - [`names`]: the roster and the naming rules. [`archive`]: the message store.
//! - `commit` (private): group commit, and the order in which things are shown.
//!   [`store`]: the archive's own thread, which does the blocking SQLite calls.
//! - [`room`]: the chat on a clustered node, one room across the instances: the shared log
//!   in place of SQLite, names claimed across the room, and [`room::Messages`], the seam
//!   between the two archives.
//! - [`federation`]: the wire between the chats on two nodes, and the whispers in flight;
//!   `peers` (private): what the chat does with what a peer's chat sends or answers;
//!   `whisper` (private): a member's `/whisper`, here or to a linked node.

mod across;
pub mod archive;
pub mod commands;
mod commit;
pub mod events;
pub mod federation;
pub mod names;
mod peers;
pub mod room;
pub mod store;
mod whisper;

use process_lib::{
    await_message, get_blob, http_server_id, send_ws_push, send_ws_push_frames, send_ws_push_many,
    state_dir, Address, HttpServerRequest, LazyLoadBlob, Message, NodeName, WsMessageType,
};
use tokio::time::Instant;

use archive::Stored;
use commands::{Command, CommandError, HistoryQuery, DEFAULT_HISTORY};
use commit::Commits;
use events::Event;
use federation::Federation;
use names::{Mode, Roster};
use room::Messages;

/// The process id the chat is installed under.
pub const ID: &str = "chat:chat:sys";

/// How many messages one history event carries at most; a longer history comes as several.
const HISTORY_PAGE: usize = 500;

/// Settings of a chat instance.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// A frame with exactly this text makes the process panic. Only tests of crash recovery
    /// set it; the bundled chat has none.
    pub panic_on: Option<String>,
}

/// Runs the bundled chat until the runtime stops it.
pub async fn run(our: Address) -> anyhow::Result<()> {
    run_with(our, Options::default()).await
}

/// Runs a chat with `options`.
pub async fn run_with(our: Address, options: Options) -> anyhow::Result<()> {
    let store = Messages::open(state_dir().as_deref()).await?;
    let mut chat = Chat {
        our: our.clone(),
        node: our.node.clone(),
        roster: Roster::default(),
        store,
        commits: Commits::default(),
        options,
        federation: Federation::new(our),
    };
    let mut renewal = Instant::now() + room::PRESENCE_RENEW;
    loop {
        if chat.commits.can_start() {
            chat.start_commit().await;
        }
        // A whisper to another node that waits for its answer bounds the wait.
        let deadline = chat.federation.next_deadline();
        tokio::select! {
            biased;
            (accepted, results) = chat.commits.done() => chat.committed(accepted, results),
            message = next_in_room(&mut chat.store) => chat.show(std::slice::from_ref(&message)),
            () = tokio::time::sleep_until(renewal) => {
                renewal = Instant::now() + room::PRESENCE_RENEW;
                chat.renew_names();
            }
            next = await_message() => chat.handle(next).await,
            () = until(deadline) => {
                chat.settle().await;
                chat.whispers_expired();
            }
        }
    }
}

/// The next message of the room's log to show here; never, for a chat that is not a room.
async fn next_in_room(store: &mut Messages) -> archive::Stored {
    match store.room() {
        Some(room) => room.next().await,
        None => std::future::pending().await,
    }
}

/// Returns at `deadline`; never, without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

struct Chat {
    our: Address,
    node: NodeName,
    roster: Roster,
    store: Messages,
    commits: Commits,
    options: Options,
    federation: Federation,
}

impl Chat {
    /// Handles one message: an event from this node's http-server, or a request or answer
    /// from the chat on a peer. Anything else is ignored.
    async fn message(&mut self, message: Message) {
        let source = message.source().clone();
        if source == self.our {
            // The chat on another instance of this node.
            self.settle().await;
            match message {
                Message::Request {
                    expects_response: Some(_),
                    body,
                    ..
                } => self.asked_by_sibling(&body),
                other => self.told_by_sibling(other.body()),
            }
        } else if source.process == http_server_id() && source.node == self.node {
            self.client_event(message.body()).await;
        } else if &source.process == self.federation.process() && source.node != self.node {
            match message {
                Message::Request { body, .. } => self.peer_request(&source.node, &body).await,
                Message::Response { body, .. } => {
                    self.settle().await;
                    if let Some((pending, outcome)) = self.federation.answered(&source.node, &body)
                    {
                        self.whisper_ended(pending, outcome);
                    }
                }
            }
        }
    }

    async fn client_event(&mut self, body: &[u8]) {
        let Ok(request) = HttpServerRequest::from_json(body) else {
            return;
        };
        match request {
            HttpServerRequest::WebSocketOpen { channel_id, .. } => {
                self.settle().await;
                self.open(channel_id).await;
            }
            HttpServerRequest::WebSocketPush {
                channel_id,
                message_type: WsMessageType::Text | WsMessageType::Binary,
            } => {
                let bytes = get_blob().map(|b| b.bytes).unwrap_or_default();
                self.frame(channel_id, &bytes).await;
            }
            HttpServerRequest::WebSocketPush { .. } | HttpServerRequest::Http(_) => {}
            HttpServerRequest::WebSocketClose(channel_id) => {
                self.settle().await;
                self.close(channel_id).await;
            }
        }
    }

    async fn open(&mut self, channel_id: u32) {
        let name = self.admit(channel_id).await;
        let online = if self.store.is_room() {
            self.everyone().await.len().max(self.roster.len())
        } else {
            self.roster.len()
        };
        self.push_text(channel_id, events::greeting(&name, online));
        // A bounded read (the last 20 rows by the primary key), between two commits.
        match self.store.last(DEFAULT_HISTORY).await {
            Ok(messages) if !messages.is_empty() => {
                self.tell(channel_id, &Event::History { messages });
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "cannot read the archive for a newcomer"),
        }
        self.tell_room(across::Told::Join {
            name: name.clone(),
            online,
        });
        self.tell_others(channel_id, &Event::Join { name, online });
    }

    async fn close(&mut self, channel_id: u32) {
        if let Some(member) = self.roster.leave(channel_id) {
            let name = member.name;
            let online = if self.store.is_room() {
                self.release(&name);
                let everyone = self.everyone().await;
                everyone.iter().filter(|n| **n != name).count()
            } else {
                self.roster.len()
            };
            self.tell_room(across::Told::Leave {
                name: name.clone(),
                online,
            });
            self.tell_all(&Event::Leave { name, online });
        }
    }

    async fn frame(&mut self, channel_id: u32, bytes: &[u8]) {
        if self.roster.get(channel_id).is_none() {
            return;
        }
        if let Some(word) = &self.options.panic_on {
            if bytes == word.as_bytes() {
                panic!("the chat was asked to crash (a test of crash recovery)");
            }
        }
        let (mode, command) = commands::parse(bytes);
        let mode_changes = self.roster.get(channel_id).is_some_and(|m| m.mode != mode);
        if let (false, Ok(Command::Say(text))) = (mode_changes && mode == Mode::Json, &command) {
            // Stored with the messages that came with it, then shown.
            return self.say(channel_id, text).await;
        }
        // Anything else comes after the messages before it have been shown.
        self.settle().await;
        if mode == Mode::Json && self.roster.set_mode(channel_id, Mode::Json) {
            let name = self.name_of(channel_id);
            let online = self.everyone().await;
            self.tell(channel_id, &Event::Hello { name, online });
        }
        let outcome = match command {
            Ok(command) => self.run(channel_id, command).await,
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            self.tell_error(channel_id, &error);
        }
    }

    async fn run(&mut self, channel_id: u32, command: Command) -> Result<(), CommandError> {
        match command {
            Command::Say(text) => self.say(channel_id, &text).await,
            Command::Whisper { to, text } => self.whisper(channel_id, to, text).await?,
            Command::Name(new) => {
                let old = self.rename(channel_id, &new).await?;
                if old != new {
                    self.tell_room(across::Told::Rename {
                        from: old.clone(),
                        to: new.clone(),
                    });
                    self.tell_all(&Event::Rename { from: old, to: new });
                }
            }
            Command::Who => {
                let names = self.everyone().await;
                self.tell(channel_id, &Event::Who { names });
            }
            Command::History(query) => self.history(channel_id, query).await,
            Command::Help(unknown) => {
                let text = events::HELP.to_owned();
                self.tell(channel_id, &Event::Help { text, unknown });
            }
        }
        Ok(())
    }

    async fn history(&self, channel_id: u32, query: HistoryQuery) {
        let messages = match query {
            HistoryQuery::Last(n) => self.store.last(n).await,
            HistoryQuery::Since(id) => self.store.since(id).await,
        };
        let messages = match messages {
            Ok(messages) => messages,
            Err(error) => {
                tracing::error!(%error, "cannot read the archive");
                let event = Event::Error {
                    code: "archive_failed".to_owned(),
                    message: "the archive could not be read; try again".to_owned(),
                };
                return self.tell(channel_id, &event);
            }
        };
        if messages.is_empty() {
            return self.tell(channel_id, &Event::History { messages });
        }
        for page in messages.chunks(HISTORY_PAGE) {
            let event = Event::History {
                messages: page.to_vec(),
            };
            self.tell(channel_id, &event);
        }
    }

    fn tell_error(&self, channel_id: u32, error: &CommandError) {
        let event = Event::Error {
            code: error.code().to_owned(),
            message: error.to_string(),
        };
        self.tell(channel_id, &event);
    }

    fn name_of(&self, channel_id: u32) -> String {
        self.roster
            .get(channel_id)
            .map(|m| m.name.clone())
            .unwrap_or_default()
    }

    /// Tells one member, in the form they chose.
    fn tell(&self, channel_id: u32, event: &Event) {
        let Some(member) = self.roster.get(channel_id) else {
            return;
        };
        let text = match member.mode {
            Mode::Json => event.to_json(),
            Mode::Text => event.to_text(&member.name),
        };
        self.push_text(channel_id, text);
    }

    fn tell_all(&self, event: &Event) {
        self.tell_each(event, |_| true);
    }

    fn tell_others(&self, except: u32, event: &Event) {
        self.tell_each(event, |id| id != except);
    }

    /// Tells every member `include` picks. Text-mode members each get the event rendered
    /// for them; JSON-mode members all get the same text, serialized once and pushed to
    /// them in one call.
    fn tell_each(&self, event: &Event, include: impl Fn(u32) -> bool) {
        let mut json_members = Vec::new();
        for (channel_id, member) in self.roster.iter().filter(|(id, _)| include(*id)) {
            match member.mode {
                Mode::Json => json_members.push(channel_id),
                Mode::Text => self.push_text(channel_id, event.to_text(&member.name)),
            }
        }
        if json_members.is_empty() {
            return;
        }
        let blob = LazyLoadBlob::from_bytes(event.to_json());
        for (channel_id, error) in
            send_ws_push_many(&self.node, &json_members, WsMessageType::Text, blob)
        {
            // The channel is going; its close event will take the member out.
            tracing::debug!(channel_id, %error, "chat push refused");
        }
    }

    /// Shows stored messages to every member, in order: each member gets them as one push
    /// of several frames, JSON events or text lines as they chose, each encoded once for
    /// everyone.
    fn show(&self, messages: &[Stored]) {
        if messages.is_empty() {
            return;
        }
        let (mut json_members, mut text_members) = (Vec::new(), Vec::new());
        for (channel_id, member) in self.roster.iter() {
            match member.mode {
                Mode::Json => json_members.push(channel_id),
                Mode::Text => text_members.push(channel_id),
            }
        }
        for (members, mode) in [(json_members, Mode::Json), (text_members, Mode::Text)] {
            if members.is_empty() {
                continue;
            }
            let frames: Vec<LazyLoadBlob> = messages
                .iter()
                .map(|stored| LazyLoadBlob::from_bytes(events::message_frame(stored, mode)))
                .collect();
            for (channel_id, error) in
                send_ws_push_frames(&self.node, &members, WsMessageType::Text, &frames)
            {
                // The channel is going; its close event will take the member out.
                tracing::debug!(channel_id, %error, "chat push refused");
            }
        }
    }

    fn push_text(&self, channel_id: u32, text: String) {
        let blob = LazyLoadBlob::from_bytes(text);
        if let Err(error) = send_ws_push(&self.node, channel_id, WsMessageType::Text, blob) {
            // The channel is going; its close event will take the member out.
            tracing::debug!(channel_id, %error, "chat push refused");
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
