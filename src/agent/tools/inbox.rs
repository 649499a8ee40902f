//! `notify` and `send_message`: the agent leaves a note in the owner's inbox
//! (`outputs/outputs.jsonl`), pushed through the daemon's gateway, or a message to one
//! Telegram chat on the profile's allow list — never anyone else.

use super::{Outcome, ToolEnv, schema, text_arg};
use crate::agent::provider::ToolSpec;
use crate::alp::wire::json::{Object, Value};
use crate::clock::now_micros;
use crate::profile::dotenv::DotEnv;
use crate::profile::{ProfileHome, outputs};

pub fn notify_spec() -> ToolSpec {
    super::spec(
        "notify",
        "Tell the owner something worth their attention: it goes to their inbox and, when the daemon runs a \
         gateway (Telegram), to their phone. Use it sparingly.",
        schema(&[("body", "string", "the message"), ("title", "string", "a few words")], &["body"]),
    )
}

pub fn send_spec() -> ToolSpec {
    super::spec(
        "send_message",
        "Send a message to one Telegram chat on this profile's allow list (TELEGRAM_ALLOWED_CHAT_IDS); \
         any other recipient is refused. Delivered by the daemon within about 30 s.",
        schema(
            &[("chat_id", "integer", "the Telegram chat id"), ("text", "string", "the message")],
            &["chat_id", "text"],
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
    let Some(chat) = args.get("chat_id").and_then(Value::as_i64) else {
        return Outcome::fail("missing integer argument `chat_id`");
    };
    let dotenv = DotEnv::load(&home.env_path()).unwrap_or_default();
    let allowed = dotenv.get("TELEGRAM_ALLOWED_CHAT_IDS").unwrap_or_default();
    if !allowed.split(',').any(|id| id.trim().parse() == Ok(chat)) {
        return Outcome::fail(format!("chat {chat} is not in TELEGRAM_ALLOWED_CHAT_IDS; refused"));
    }
    let message = row(home, text, "").with("to", Object::new().with("telegram", chat));
    match outputs::append_output(home.dir(), message) {
        Ok(()) => Outcome::ok(format!("queued for chat {chat}; the daemon's Telegram gateway sends it")),
        Err(e) => Outcome::fail(format!("could not queue the message: {e}")),
    }
}
