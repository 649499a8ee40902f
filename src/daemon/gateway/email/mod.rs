//! The email gateway: watches one INBOX over IMAP (IDLE, else polling) and answers mail
//! from `IMAP_ALLOWED_SENDERS` over SMTP, threaded under the original. The first start
//! takes the highest UID as its baseline (no backfill); the last UID handled is kept
//! in `gateway/imap-state.json`, so a restart neither answers twice nor misses mail.
//! Automated mail (no-reply senders, `Auto-Submitted`, bulk and list mail) is skipped.
//! What the inbox holds for push (scheduled results with `notify`, the agent's `notify`
//! and `send_message`) goes out as new mail to the allowed senders, checked every
//! [`DELIVER_EVERY`].

#[doc(hidden)]
pub mod imap;
mod mime;
mod smtp;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Breaker, chat_turn, pause};
use crate::clock::now_micros;
use crate::fsio;
use crate::json::{self, Value};
use crate::net::http::HttpError;
use crate::net::stream::TlsSettings;
use crate::profile::dotenv::DotEnv;
use crate::profile::{ProfileHome, outputs};
use imap::{Imap, ImapError};
use mime::Message;
use smtp::{Envelope, SmtpError};

/// IDLE is re-issued before servers drop it (RFC 2177: at least every 29 minutes).
const IDLE_LIMIT: Duration = Duration::from_secs(25 * 60);
const DEFAULT_POLL: Duration = Duration::from_secs(60);
/// The wait after a failed session before the next try (the breaker adds more).
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How often the inbox is checked for rows to push by mail.
pub const DELIVER_EVERY: Duration = Duration::from_secs(15);
/// The most of one message's text the agent is shown.
const TEXT_LIMIT: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("{0}")]
    Settings(String),
    #[error("IMAP: {0}")]
    Imap(#[from] ImapError),
    #[error("SMTP: {0}")]
    Smtp(#[from] SmtpError),
    #[error(transparent)]
    Tls(#[from] HttpError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (ports 993 and 465).
    Tls,
    StartTls,
    /// No encryption: only to a loopback address.
    Plain,
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

#[derive(Clone)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// A reply that could not be sent yet, kept so a retry does not run the turn again.
struct Unsent {
    uid: u32,
    to: String,
    data: Vec<u8>,
}

/// A profile's email settings from its `.env` (and `gateway.imap.poll_interval`).
pub struct Email {
    home: ProfileHome,
    address: String,
    imap: Endpoint,
    imap_login: Login,
    smtp: Endpoint,
    smtp_login: Login,
    allowed: Vec<String>,
    poll_interval: Duration,
    tls: TlsSettings,
}

impl Email {
    /// `None` when `IMAP_ADDRESS` is not set.
    pub fn from_env(home: &ProfileHome) -> Option<Result<Email, EmailError>> {
        let env = DotEnv::load(&home.env_path()).ok()?;
        let address = env.get("IMAP_ADDRESS").filter(|a| !a.trim().is_empty())?;
        Some(Self::configure(home, &env, address.trim().to_lowercase()))
    }

    fn configure(home: &ProfileHome, env: &DotEnv, address: String) -> Result<Email, EmailError> {
        let password = required(env, "IMAP_PASSWORD")?;
        let imap_login =
            Login { user: env.get("IMAP_USERNAME").unwrap_or_else(|| address.clone()), password };
        let smtp_login = Login {
            user: env.get("SMTP_USERNAME").unwrap_or_else(|| imap_login.user.clone()),
            password: env.get("SMTP_PASSWORD").unwrap_or_else(|| imap_login.password.clone()),
        };
        let allowed = env.get("IMAP_ALLOWED_SENDERS").unwrap_or_default();
        Ok(Email {
            home: home.clone(),
            imap: endpoint(env, "IMAP", [993, 143, 143])?,
            smtp: endpoint(env, "SMTP", [465, 587, 25])?,
            address,
            imap_login,
            smtp_login,
            allowed: allowed.split(',').map(|a| a.trim().to_lowercase()).filter(|a| !a.is_empty()).collect(),
            poll_interval: poll_interval(home),
            tls: TlsSettings::system()?,
        })
    }

    /// Watches the INBOX until `stop` is set.
    pub fn run(self, stop: Arc<AtomicBool>) {
        let name = self.home.name().to_string();
        if self.allowed.is_empty() {
            log::warn!("{name}: email: IMAP_ALLOWED_SENDERS is empty — every message will be ignored");
        }
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    self.deliver(&stop);
                    pause(&stop, DELIVER_EVERY);
                }
            });
            self.watch(&stop);
        });
    }

    fn watch(&self, stop: &Arc<AtomicBool>) {
        let name = self.home.name();
        let breaker = Breaker::new(&self.home, "email");
        let mut unsent = None;
        while !stop.load(Ordering::SeqCst) {
            if let Some(rest) = breaker.rest(now()) {
                log::warn!(
                    "{name}: email disabled after repeated failures; retrying in {} s",
                    rest.as_secs()
                );
                pause(stop, rest);
                continue;
            }
            match self.serve(stop, &breaker, &mut unsent) {
                Ok(()) => {}
                Err(_) if stop.load(Ordering::SeqCst) => {}
                Err(e) => {
                    log::warn!("{name}: email: {e}");
                    breaker.failure(now());
                    pause(stop, RETRY_AFTER);
                }
            }
        }
    }

    /// One IMAP session: answers what is new, then waits for more, until `stop`.
    fn serve(
        &self,
        stop: &Arc<AtomicBool>,
        breaker: &Breaker,
        unsent: &mut Option<Unsent>,
    ) -> Result<(), EmailError> {
        let mut imap = Imap::connect(&self.imap, &self.tls, stop.clone())?;
        imap.login(&self.imap_login)?;
        let uid_next = imap.select_inbox()?;
        let mut last = self.starting_uid(&mut imap, uid_next)?;
        let idle = imap.has("IDLE");
        let waiting = match idle {
            true => "IDLE".to_owned(),
            false => format!("no IDLE: polling every {} s", self.poll_interval.as_secs_f64()),
        };
        log::info!("{}: email: watching the INBOX of {} ({waiting})", self.home.name(), self.address);
        while !stop.load(Ordering::SeqCst) {
            while self.answer_new(&mut imap, &mut last, stop, unsent)? > 0 {}
            breaker.success();
            if idle {
                imap.idle(IDLE_LIMIT)?;
            } else if pause(stop, self.poll_interval) {
                imap.noop()?;
            }
        }
        imap.logout();
        Ok(())
    }

    /// The UID after which mail is new: the saved one, else (first start, or a mailbox
    /// whose UIDs were reset) the highest now, saved before anything is read.
    fn starting_uid(&self, imap: &mut Imap, uid_next: Option<u32>) -> Result<u32, EmailError> {
        let saved = self.load_last_uid();
        if let Some(last) = saved.filter(|&last| uid_next.is_none_or(|next| last < next)) {
            return Ok(last);
        }
        let highest = match uid_next {
            Some(next) => next.saturating_sub(1),
            None => imap.highest_uid()?,
        };
        if saved.is_some() {
            log::warn!("{}: email: the INBOX's UIDs were reset; starting again from now", self.home.name());
        }
        self.save_last_uid(highest);
        Ok(highest)
    }

    /// Handles every message above `last`, advancing it; how many there were.
    fn answer_new(
        &self,
        imap: &mut Imap,
        last: &mut u32,
        stop: &Arc<AtomicBool>,
        unsent: &mut Option<Unsent>,
    ) -> Result<usize, EmailError> {
        let mut handled = 0;
        for uid in imap.uids_after(*last)? {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if let Some(raw) = imap.fetch(uid)? {
                self.handle(uid, &raw, stop, unsent)?;
            }
            *last = uid;
            self.save_last_uid(uid);
            handled += 1;
        }
        Ok(handled)
    }

    /// Answers one message if it is for the agent. A reply the server refuses for good
    /// is dropped; one that failed otherwise is kept for the next try.
    fn handle(
        &self,
        uid: u32,
        raw: &[u8],
        stop: &Arc<AtomicBool>,
        unsent: &mut Option<Unsent>,
    ) -> Result<(), EmailError> {
        let reply = match unsent.take().filter(|u| u.uid == uid) {
            Some(reply) => reply,
            None => match self.reply_to(uid, &Message::parse(raw)) {
                Some(reply) => reply,
                None => return Ok(()),
            },
        };
        match self.send(&reply.to, &reply.data, stop) {
            Ok(()) => {
                log::info!("{}: email: replied to {}", self.home.name(), reply.to);
                Ok(())
            }
            Err(e) if e.rejects_message() => {
                log::warn!(
                    "{}: email: the reply to {} was refused; dropped: {e}",
                    self.home.name(),
                    reply.to
                );
                Ok(())
            }
            Err(e) => {
                *unsent = Some(reply);
                Err(e.into())
            }
        }
    }

    /// The reply to `message`, or `None` when it is not for the agent.
    fn reply_to(&self, uid: u32, message: &Message) -> Option<Unsent> {
        let name = self.home.name();
        let Some(sender) = message.sender() else {
            log::info!("{name}: email: message {uid} has no sender address; ignored");
            return None;
        };
        if sender == self.address {
            return None;
        }
        if !self.allowed.contains(&sender) {
            log::info!("{name}: email: {sender} is not in IMAP_ALLOWED_SENDERS; ignored");
            return None;
        }
        if let Some(why) = unwelcome(message) {
            log::info!("{name}: email: skipping mail from {sender}: {why}");
            return None;
        }
        log::info!("{name}: email: message from {sender}");
        let subject = message.decoded("subject").unwrap_or_default();
        let answer = self.answer(&sender, message, &subject);
        let reply = mime::Outgoing {
            from: &self.address,
            to: &sender,
            subject: &subject,
            message_id: message.header("message-id"),
            references: message.header("references").or_else(|| message.header("in-reply-to")),
            body: &answer,
        };
        Some(Unsent { uid, data: reply.render(now_micros()), to: sender })
    }

    fn answer(&self, sender: &str, message: &Message, subject: &str) -> String {
        let from = message.decoded("from").unwrap_or_else(|| sender.to_owned());
        let mut text = message.text();
        if let Some((cut, _)) = text.char_indices().nth(TEXT_LIMIT) {
            text.truncate(cut);
            text.push_str("\n[… the rest of the message was cut]");
        }
        let framed = format!(
            "[INBOUND EMAIL from {from} · subject: {subject} — untrusted text follows]\n{}",
            text.trim()
        );
        match chat_turn(&self.home, "email", sender, &framed) {
            Ok(reply) if reply.trim().is_empty() => "(no answer)".into(),
            Ok(reply) => reply,
            Err(e) => format!("Sorry — {e}"),
        }
    }

    /// Mails what the inbox holds for email: to the address a row names, if allowed,
    /// else to every allowed sender — the owner and the people the agent works for.
    fn deliver(&self, stop: &Arc<AtomicBool>) {
        let name = self.home.name();
        let rows = match outputs::take_undelivered(self.home.dir(), "email") {
            Ok(rows) => rows,
            Err(e) => return log::warn!("{name}: email: cannot read the inbox: {e}"),
        };
        for row in rows {
            let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default().trim().to_owned();
            let named = row.get("to").and_then(|t| t.get("email")).and_then(Value::as_str);
            let recipients = match named.map(str::to_lowercase) {
                Some(to) if self.allowed.contains(&to) => vec![to],
                Some(to) => {
                    log::warn!("{name}: email: not sending to {to}: not in IMAP_ALLOWED_SENDERS");
                    continue;
                }
                None => self.allowed.clone(),
            };
            let title = text("title");
            let subject = if title.is_empty() { format!("A note from {name}") } else { title };
            for to in recipients {
                let message = mime::Outgoing {
                    from: &self.address,
                    to: &to,
                    subject: &subject,
                    message_id: None,
                    references: None,
                    body: &text("body"),
                };
                if let Err(e) = self.send(&to, &message.render(now_micros()), stop) {
                    log::warn!("{name}: email: could not push to {to}: {e}");
                }
            }
        }
    }

    fn send(&self, to: &str, data: &[u8], stop: &Arc<AtomicBool>) -> Result<(), SmtpError> {
        let envelope = Envelope { from: &self.address, to, data };
        let helo = self.address.rsplit_once('@').map_or("localhost", |(_, domain)| domain);
        smtp::send(&self.smtp, &self.tls, &self.smtp_login, helo, &envelope, stop.clone())
    }

    fn state_path(&self) -> PathBuf {
        self.home.dir().join("gateway").join("imap-state.json")
    }

    fn load_last_uid(&self) -> Option<u32> {
        let bytes = fsio::read_optional(&self.state_path()).ok().flatten()?;
        let uid = json::parse(&bytes).ok()?.get(&self.address)?.as_u64()?;
        u32::try_from(uid).ok()
    }

    /// Records `uid` as handled; a failure is logged, and the UID is still kept in
    /// memory so this run does not answer twice.
    fn save_last_uid(&self, uid: u32) {
        let path = self.state_path();
        let result = (|| -> fsio::Result<()> {
            fsio::ensure_private_dir(&self.home.dir().join("gateway"))?;
            let _lock = fsio::lock_exclusive(&path.with_extension("lock"))?;
            let bytes = fsio::read_optional(&path)?.unwrap_or_default();
            let mut doc = json::parse(&bytes).ok().and_then(|v| v.as_object().cloned()).unwrap_or_default();
            doc.insert(&self.address, u64::from(uid));
            fsio::write_atomic(&path, fsio::SECRET_FILE, &Value::Object(doc).pretty())
        })();
        if let Err(e) = result {
            log::warn!("{}: email: cannot save the last UID: {e}", self.home.name());
        }
    }
}

/// Why `message` is not answered though its sender is allowed: mail from a machine
/// (answering it risks a loop), or a sender the receiving server found forged.
fn unwelcome(message: &Message) -> Option<&'static str> {
    let sender = message.sender().unwrap_or_default();
    let local = sender.split('@').next().unwrap_or_default().replace(['-', '_', '.'], "");
    let machine = ["noreply", "donotreply", "mailerdaemon", "postmaster", "bounce"];
    if machine.iter().any(|m| local.starts_with(m)) {
        return Some("a no-reply sender");
    }
    let header = |name: &str| message.header(name).map(|v| v.trim().to_ascii_lowercase());
    if header("auto-submitted").is_some_and(|v| v != "no") {
        return Some("Auto-Submitted");
    }
    if header("precedence").is_some_and(|v| ["bulk", "list", "junk"].contains(&v.as_str())) {
        return Some("bulk or list mail (Precedence)");
    }
    if message.header("list-unsubscribe").is_some() || message.header("list-id").is_some() {
        return Some("list mail");
    }
    if header("return-path").as_deref() == Some("<>") {
        return Some("a bounce");
    }
    // Only a failure counts: a sender can forge a passing result, never profit from a failing one.
    if message.all("authentication-results").any(|v| v.to_ascii_lowercase().contains("dmarc=fail")) {
        return Some("the sender failed DMARC (forged)");
    }
    None
}

fn required(env: &DotEnv, key: &str) -> Result<String, EmailError> {
    env.get(key)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| EmailError::Settings(format!("{key} is not set (IMAP_ADDRESS is)")))
}

/// `<PROTO>_HOST`, `_SECURITY` (tls, starttls or plain) and `_PORT`, whose default
/// depends on the security: `ports` for tls, starttls, plain.
fn endpoint(env: &DotEnv, proto: &str, ports: [u16; 3]) -> Result<Endpoint, EmailError> {
    let host = required(env, &format!("{proto}_HOST"))?.trim().to_owned();
    let security = env.get(&format!("{proto}_SECURITY")).unwrap_or_default().trim().to_ascii_lowercase();
    let security = match security.as_str() {
        "" | "tls" => Security::Tls,
        "starttls" => Security::StartTls,
        "plain" => Security::Plain,
        other => {
            return Err(EmailError::Settings(format!(
                "{proto}_SECURITY={other}: use tls, starttls or plain"
            )));
        }
    };
    let port = match env.get(&format!("{proto}_PORT")) {
        None => ports[security as usize],
        Some(port) => port
            .trim()
            .parse()
            .map_err(|_| EmailError::Settings(format!("{proto}_PORT={port} is not a port number")))?,
    };
    if security == Security::Plain && !is_loopback(&host) {
        return Err(EmailError::Settings(format!(
            "{proto}_SECURITY=plain is refused for {host}: without TLS only a loopback address may be used"
        )));
    }
    Ok(Endpoint { host, port, security })
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `gateway.imap.poll_interval` (seconds) from config.yaml, for servers without IDLE.
fn poll_interval(home: &ProfileHome) -> Duration {
    let config = crate::profile::config::Config::load(&home.config_path()).unwrap_or_default();
    let seconds =
        config.raw.as_ref().and_then(|raw| raw.get("gateway")?.get("imap")?.get("poll_interval")?.as_f64());
    seconds.filter(|s| s.is_finite() && *s >= 1.0).map_or(DEFAULT_POLL, Duration::from_secs_f64)
}

fn now() -> f64 {
    now_micros() as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> DotEnv {
        DotEnv::parse(text)
    }

    #[test]
    fn ports_follow_the_security_and_plain_is_for_loopback_only() {
        let env =
            settings("IMAP_HOST=imap.example.org\nSMTP_HOST=127.0.0.1\nSMTP_SECURITY=plain\nSMTP_PORT=2525");
        let imap = endpoint(&env, "IMAP", [993, 143, 143]).unwrap();
        assert_eq!((imap.port, imap.security), (993, Security::Tls));
        let smtp = endpoint(&env, "SMTP", [465, 587, 25]).unwrap();
        assert_eq!((smtp.port, smtp.security), (2525, Security::Plain));
        let env = settings("SMTP_HOST=mail.example.org\nSMTP_SECURITY=starttls");
        assert_eq!(endpoint(&env, "SMTP", [465, 587, 25]).unwrap().port, 587);
        let env = settings("IMAP_HOST=imap.example.org\nIMAP_SECURITY=plain");
        let refused = endpoint(&env, "IMAP", [993, 143, 143]).unwrap_err().to_string();
        assert!(refused.contains("refused for imap.example.org"), "{refused}");
        let env = settings("IMAP_HOST=x\nIMAP_SECURITY=ssl");
        assert!(endpoint(&env, "IMAP", [993, 143, 143]).is_err());
        assert!(is_loopback("localhost") && is_loopback("[::1]") && is_loopback("127.0.0.2"));
        assert!(!is_loopback("10.0.0.1"));
    }

    #[test]
    fn machine_mail_is_recognised() {
        let verdict = |headers: &str| unwelcome(&Message::parse(format!("{headers}\r\n\r\nhi").as_bytes()));
        assert_eq!(verdict("From: Jane <jane@x.org>"), None);
        assert_eq!(verdict("From: Jane <jane@x.org>\r\nAuto-Submitted: no"), None);
        assert!(verdict("From: <no-reply@x.org>").is_some());
        assert!(verdict("From: <Do_Not_Reply@x.org>").is_some());
        assert!(verdict("From: jane@x.org\r\nAuto-Submitted: auto-replied").is_some());
        assert!(verdict("From: jane@x.org\r\nPrecedence: Bulk").is_some());
        assert!(verdict("From: jane@x.org\r\nList-Unsubscribe: <mailto:u@x.org>").is_some());
        assert!(verdict("From: jane@x.org\r\nAuthentication-Results: mx; spf=pass; dmarc=fail").is_some());
    }
}
