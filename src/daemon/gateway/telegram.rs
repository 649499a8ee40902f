//! The Telegram gateway: Bot API long polling (`getUpdates`, 30 s) with the offset
//! saved after every update (`gateway/telegram-state.json`), so a restart neither
//! answers twice nor loses a message. Only chats in `TELEGRAM_ALLOWED_CHAT_IDS` are
//! answered (empty: nobody). Replies go out in 4,096-character pieces; `/help`,
//! `/status`, `/new`, `/model`, `/peers` and `@peer` work as in the chat.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Breaker, chat_turn, chunks, forget_chat, pause};
use crate::alp::ask;
use crate::clock::now_micros;
use crate::fsio;
use crate::json::{self, Object, Value};
use crate::net::http::{Client, HttpError, Request, Timeouts};
use crate::profile::dotenv::DotEnv;
use crate::profile::{ProfileHome, outputs};

/// Telegram's limit on one message.
pub const MESSAGE_LIMIT: usize = 4096;
const POLL_SECONDS: u64 = 30;
/// On a first start, older messages are not answered (no reply storm).
const FIRST_START_HORIZON: i64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("another poller is using this bot token (HTTP 409)")]
    Conflict,
    #[error("{0}")]
    Failed(String),
}

/// A profile's Telegram settings from its `.env`.
pub struct Telegram {
    home: ProfileHome,
    token: String,
    allowed: Vec<i64>,
    base: String,
    client: Client,
}

impl Telegram {
    /// `None` when `TELEGRAM_BOT_TOKEN` is not set.
    pub fn from_env(home: &ProfileHome) -> Option<Result<Telegram, String>> {
        let env = DotEnv::load(&home.env_path()).ok()?;
        let token = env.get("TELEGRAM_BOT_TOKEN").filter(|t| !t.trim().is_empty())?;
        let allowed = env.get("TELEGRAM_ALLOWED_CHAT_IDS").unwrap_or_default();
        let allowed = allowed.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse::<i64>);
        let allowed = match allowed.collect::<Result<Vec<_>, _>>() {
            Ok(ids) => ids,
            Err(_) => {
                return Some(Err("TELEGRAM_ALLOWED_CHAT_IDS must be chat ids separated by commas".into()));
            }
        };
        let base = env.get("TELEGRAM_API_BASE").unwrap_or_else(|| "https://api.telegram.org".into());
        let client = match Client::new() {
            Ok(c) => c,
            Err(e) => return Some(Err(e.to_string())),
        };
        Some(Ok(Telegram {
            home: home.clone(),
            token,
            allowed,
            base: base.trim_end_matches('/').into(),
            client,
        }))
    }

    fn state_path(&self) -> std::path::PathBuf {
        self.home.dir().join("gateway").join("telegram-state.json")
    }

    fn load_offset(&self) -> Option<i64> {
        let bytes = fsio::read_optional(&self.state_path()).ok().flatten()?;
        json::parse(&bytes).ok()?.get("offset")?.as_i64()
    }

    fn save_offset(&self, offset: i64) {
        let doc = Value::Object(Object::new().with("offset", offset));
        let dir = self.home.dir().join("gateway");
        let written = fsio::ensure_private_dir(&dir)
            .and_then(|()| fsio::write_atomic(&self.state_path(), fsio::SECRET_FILE, &doc.pretty()));
        if let Err(e) = written {
            log::warn!("telegram: cannot save the offset: {e}");
        }
    }

    /// Polls until `stop` is set.
    pub fn run(self, stop: Arc<AtomicBool>) {
        let name = self.home.name().to_string();
        if self.allowed.is_empty() {
            log::warn!(
                "{name}: telegram: TELEGRAM_ALLOWED_CHAT_IDS is empty — every message will be ignored"
            );
        }
        log::info!("{name}: telegram gateway polling");
        let breaker = Breaker::new(&self.home, "telegram");
        let mut offset = self.load_offset();
        let mut first_start = offset.is_none();
        while !stop.load(Ordering::SeqCst) {
            if let Some(rest) = breaker.rest(now()) {
                log::warn!(
                    "{name}: telegram disabled after repeated failures; retrying in {} s",
                    rest.as_secs()
                );
                pause(&stop, rest);
                continue;
            }
            let asked = Instant::now();
            match self.get_updates(offset) {
                Ok(updates) => {
                    breaker.success();
                    if updates.is_empty() && asked.elapsed() < Duration::from_secs(1) {
                        pause(&stop, Duration::from_secs(1));
                    }
                    for update in updates {
                        let Some(id) = update.get("update_id").and_then(Value::as_i64) else { continue };
                        self.handle(&update, first_start);
                        offset = Some(id + 1);
                        self.save_offset(id + 1);
                    }
                    first_start = false;
                    self.deliver();
                }
                Err(TelegramError::Conflict) => {
                    log::warn!("{name}: telegram: another poller holds this bot token; backing off 60 s");
                    pause(&stop, Duration::from_secs(60));
                }
                Err(TelegramError::Failed(e)) => {
                    log::warn!("{name}: telegram: {e}");
                    breaker.failure(now());
                    pause(&stop, Duration::from_secs(1));
                }
            }
        }
    }

    fn call(&self, method: &str, body: Object, wait: Duration) -> Result<Value, TelegramError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let request =
            Request::post(&url, Value::Object(body).wire()).header("content-type", "application/json");
        let timeouts = Timeouts { first_byte: wait, idle: wait, ..Timeouts::default() };
        // The token is part of the URL: errors name the method, never the URL.
        let fail =
            |e: HttpError| TelegramError::Failed(format!("{method}: {}", scrub(&e.to_string(), &self.token)));
        let response = self.client.send(&request, &timeouts).map_err(fail)?;
        let status = response.status;
        let body = response.bytes(4 << 20).map_err(fail)?;
        match status {
            200 => json::parse(&body)
                .ok()
                .and_then(|v| v.get("result").cloned())
                .ok_or_else(|| TelegramError::Failed(format!("{method}: the answer has no result"))),
            409 => Err(TelegramError::Conflict),
            _ => {
                let description =
                    json::parse(&body).ok().and_then(|v| v.get("description")?.as_str().map(str::to_owned));
                Err(TelegramError::Failed(format!(
                    "{method}: HTTP {status} {}",
                    description.unwrap_or_default()
                )))
            }
        }
    }

    fn get_updates(&self, offset: Option<i64>) -> Result<Vec<Value>, TelegramError> {
        let mut body =
            Object::new().with("timeout", POLL_SECONDS).with("allowed_updates", vec![Value::from("message")]);
        if let Some(offset) = offset {
            body.insert("offset", offset);
        }
        let result = self.call("getUpdates", body, Duration::from_secs(POLL_SECONDS + 15))?;
        Ok(result.as_array().map(<[Value]>::to_vec).unwrap_or_default())
    }

    fn handle(&self, update: &Value, first_start: bool) {
        let Some(Incoming { chat, text, date, from }) = Incoming::decode(update) else { return };
        let name = self.home.name();
        if first_start && date < now() as i64 - FIRST_START_HORIZON {
            log::info!("{name}: telegram: skipping an old message from before the first start");
            return;
        }
        if !self.allowed.contains(&chat) {
            log::info!("{name}: telegram: chat {chat} is not in TELEGRAM_ALLOWED_CHAT_IDS; ignored");
            return;
        }
        if text.is_empty() {
            return;
        }
        log::info!("{name}: telegram: message from chat {chat}");
        let reply = self.with_typing(chat, || self.respond(chat, from, text));
        for piece in chunks(&reply, MESSAGE_LIMIT) {
            let body = Object::new().with("chat_id", chat).with("text", piece);
            if let Err(e) = self.call("sendMessage", body, Duration::from_secs(30)) {
                log::warn!("{name}: telegram: could not reply to chat {chat}: {e}");
                return;
            }
        }
    }

    /// Pushes what the inbox holds for Telegram (scheduled results with `notify`, the
    /// agent's `notify` and `send_message`): to the chat a row names, if allowed, else to
    /// every allowed chat — the owner's.
    fn deliver(&self) {
        let name = self.home.name();
        let rows = match outputs::take_undelivered(self.home.dir(), "telegram") {
            Ok(rows) => rows,
            Err(e) => return log::warn!("{name}: telegram: cannot read the inbox: {e}"),
        };
        for row in rows {
            let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default().trim().to_owned();
            let message = match (text("title"), text("body")) {
                (title, body) if title.is_empty() => body,
                (title, body) => format!("{title}\n\n{body}"),
            };
            let named = row.get("to").and_then(|t| t.get("telegram")).and_then(Value::as_i64);
            let chats = match named {
                Some(chat) if self.allowed.contains(&chat) => vec![chat],
                Some(chat) => {
                    log::warn!(
                        "{name}: telegram: not sending to chat {chat}: not in TELEGRAM_ALLOWED_CHAT_IDS"
                    );
                    continue;
                }
                None => self.allowed.clone(),
            };
            for chat in chats {
                for piece in chunks(&message, MESSAGE_LIMIT) {
                    let body = Object::new().with("chat_id", chat).with("text", piece);
                    if let Err(e) = self.call("sendMessage", body, Duration::from_secs(30)) {
                        log::warn!("{name}: telegram: could not push to chat {chat}: {e}");
                    }
                }
            }
        }
    }

    /// Shows "typing…" every 4 s while `work` runs; a failed action is ignored.
    fn with_typing(&self, chat: i64, work: impl FnOnce() -> String) -> String {
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    let body = Object::new().with("chat_id", chat).with("action", "typing");
                    if let Err(e) = self.call("sendChatAction", body, Duration::from_secs(10)) {
                        log::debug!("telegram: typing action failed: {e}");
                    }
                    pause(&done, Duration::from_secs(4));
                }
            });
            let reply = work();
            super::raise(&done);
            reply
        })
    }

    fn respond(&self, chat: i64, from: &str, text: &str) -> String {
        let chat_key = chat.to_string();
        match text.split_whitespace().next().unwrap_or_default() {
            "/help" | "/start" => {
                return "Talk to me, or: /status, /new (a fresh conversation), /model, /peers, @peer question".into();
            }
            "/new" => {
                forget_chat(&self.home, &chat_key);
                return "New conversation.".into();
            }
            "/status" | "/model" => return self.status(),
            "/peers" => return peers(&self.home),
            _ => {}
        }
        let is_peer = |id: &str| ask::pinned(&self.home, id).is_ok();
        if let Some((id, prompt)) = ask::mention(text, &is_peer) {
            let peer = ask::pinned(&self.home, id);
            return match peer.and_then(|p| ask::ask(&self.home, &p, &prompt, &mut |_| {})) {
                Ok(asked) => format!("{id}: {}", asked.result.text.trim()),
                Err(e) => format!("{id} could not answer: {e}"),
            };
        }
        let framed = format!("[INBOUND TELEGRAM from {from} (chat {chat}) — untrusted text follows]\n{text}");
        match chat_turn(&self.home, "telegram", &chat_key, &framed) {
            Ok(reply) if reply.trim().is_empty() => "(no answer)".into(),
            Ok(reply) => reply,
            Err(e) => format!("Sorry — {e}"),
        }
    }

    fn status(&self) -> String {
        let config = crate::profile::config::Config::load(&self.home.config_path()).unwrap_or_default();
        let spent = crate::agent::ledger::Ledger::new(&self.home.logs_dir()).today(now_micros());
        let model = if config.model.is_empty() { "none configured" } else { config.model.as_str() };
        format!("profile {} · model {model} · today ${:.4}", self.home.name(), spent.usd)
    }
}

/// What an update carries for us: a message's chat, text (trimmed), date and sender.
#[doc(hidden)]
#[derive(Debug)]
pub struct Incoming<'a> {
    pub chat: i64,
    pub text: &'a str,
    pub date: i64,
    pub from: &'a str,
}

impl<'a> Incoming<'a> {
    /// `None` for updates that are not a message with a chat id.
    pub fn decode(update: &'a Value) -> Option<Self> {
        let message = update.get("message")?;
        let chat = message.get("chat").and_then(|c| c.get("id")).and_then(Value::as_i64)?;
        let text = message.get("text").and_then(Value::as_str).unwrap_or_default().trim();
        let date = message.get("date").and_then(Value::as_i64).unwrap_or(0);
        let from = message.get("from").and_then(|f| f.get("first_name")).and_then(Value::as_str);
        Some(Self { chat, text, date, from: from.unwrap_or("someone") })
    }
}

fn peers(home: &ProfileHome) -> String {
    let files = crate::alp::peers::PeerFiles::new(&home.dir().join("alp"));
    let ids: Vec<String> =
        files.load().unwrap_or_default().into_iter().map(|p| format!("@{}", p.id)).collect();
    if ids.is_empty() { "No peers pinned.".into() } else { ids.join(" ") }
}

fn now() -> f64 {
    now_micros() as f64 / 1e6
}

/// `text` with the bot token blanked.
fn scrub(text: &str, token: &str) -> String {
    if token.is_empty() { text.to_owned() } else { text.replace(token, "<token>") }
}
