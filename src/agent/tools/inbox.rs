//! `notify` and `send_message`: the agent leaves a note in the owner's inbox
//! (`outputs/outputs.jsonl`), pushed through the daemon's gateways, or a message to one
//! Telegram chat or email address on the profile's allow lists — never anyone else.

use super::{Outcome, ToolEnv, schema, text_arg};
use crate::agent::provider::ToolSpec;
use crate::clock::now_micros;
use crate::json::{Object, Value};
use crate::profile::dotenv::DotEnv;
use crate::profile::{ProfileHome, outputs};

pub fn notify_spec() -> ToolSpec {
    super::spec(
        "notify",
        "Tell the owner something worth their attention: it goes to their inbox and, when the daemon runs a \
         gateway (Telegram, email), to their phone or mailbox. Use it sparingly.",
        schema(&[("body", "string", "the message"), ("title", "string", "a few words")], &["body"]),
    )
}

pub fn send_spec() -> ToolSpec {
    super::spec(
        "send_message",
        "Send a message to one Telegram chat (chat_id, from TELEGRAM_ALLOWED_CHAT_IDS) or one email address \
         (to, from IMAP_ALLOWED_SENDERS); any other recipient is refused. Delivered by the daemon within \
         about 30 s.",
        schema(
            &[
                ("chat_id", "integer", "the Telegram chat id"),
                ("to", "string", "the email address"),
                ("text", "string", "the message"),
            ],
            &["text"],
        ),
    )
}

fn profile<'a>(env: &'a ToolEnv<'_>) -> Result<&'a ProfileHome, Outcome> {
    env.profile.as_ref().ok_or_else(|| Outcome::fail("there is no inbox in this turn"))
}

fn row(home: &ProfileHome, body: &str, title: &str) -> Object {
    Object::new()
        .with("id", crate::alp::wire::envelope::random_hex16()[..12].to_owned())
        .with("profile", home.name().as_str())
        .with("created_at", now_micros() as f64 / 1e6)
        .with("body", body)
        .with("type", "info")
        .with("status", "unread")
        .with("delivered_to", Vec::<Value>::new())
        .with("title", title)
        .with("push", true)
}

pub fn notify(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let (home, body) = match (profile(env), text_arg(args, "body")) {
        (Ok(h), Ok(b)) => (h, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let title = args.get("title").and_then(Value::as_str).unwrap_or_default();
    match outputs::append_output(home.dir(), row(home, body, title)) {
        Ok(()) => Outcome::ok("noted in the owner's inbox; pushed through the gateway if one runs"),
        Err(e) => Outcome::fail(format!("could not write the inbox: {e}")),
    }
}

pub fn send_message(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let (home, text) = match (profile(env), text_arg(args, "text")) {
        (Ok(h), Ok(t)) => (h, t),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let dotenv = DotEnv::load(&home.env_path()).unwrap_or_default();
    let listed = |key: &str, wanted: &str| {
        let list = dotenv.get(key).unwrap_or_default();
        list.split(',').any(|item| item.trim().eq_ignore_ascii_case(wanted))
    };
    let (to, channel) =
        match (args.get("chat_id").and_then(Value::as_i64), args.get("to").and_then(Value::as_str)) {
            (Some(chat), None) if listed("TELEGRAM_ALLOWED_CHAT_IDS", &chat.to_string()) => {
                (Object::new().with("telegram", chat), "Telegram")
            }
            (None, Some(address)) if listed("IMAP_ALLOWED_SENDERS", address.trim()) => {
                (Object::new().with("email", address.trim().to_lowercase()), "email")
            }
            (Some(chat), None) => {
                return Outcome::fail(format!("chat {chat} is not in TELEGRAM_ALLOWED_CHAT_IDS; refused"));
            }
            (None, Some(address)) => {
                return Outcome::fail(format!("{address} is not in IMAP_ALLOWED_SENDERS; refused"));
            }
            _ => return Outcome::fail("give exactly one recipient: `chat_id` (Telegram) or `to` (email)"),
        };
    let message = row(home, text, "").with("to", to);
    match outputs::append_output(home.dir(), message) {
        Ok(()) => Outcome::ok(format!("queued; the daemon's {channel} gateway sends it")),
        Err(e) => Outcome::fail(format!("could not queue the message: {e}")),
    }
}
