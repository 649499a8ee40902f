//! The `peer` tool: the model asks a pinned peer (another profile here, or an agent
//! on another machine) over ALP `link.ask` and gets its reply and what it cost.

use super::{Outcome, ToolEnv, schema, text_arg};
use crate::agent::provider::ToolSpec;
use crate::alp::ask;
use crate::json::Object;

pub fn spec() -> ToolSpec {
    super::spec(
        "peer",
        "Ask another alpi agent (a pinned peer: a profile on this machine or an agent on another device) \
         and return its reply. The user's `@id` names one; copy the id exactly. The peer runs a turn of its \
         own and remembers its last 20 exchanges with this profile.",
        schema(
            &[
                ("peer_id", "string", "the pinned id from this profile's peers.yaml"),
                ("prompt", "string", "what to ask it"),
            ],
            &["peer_id", "prompt"],
        ),
    )
}

pub fn run(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let Some(home) = &env.profile else {
        return Outcome::fail("the peer tool is not available in this turn");
    };
    let (id, prompt) = match (text_arg(args, "peer_id"), text_arg(args, "prompt")) {
        (Ok(id), Ok(prompt)) => (id, prompt),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let peer = match ask::pinned(home, id) {
        Ok(peer) => peer,
        Err(e) => return Outcome::fail(e),
    };
    match ask::ask(home, &peer, prompt, &mut |_| {}) {
        Ok(asked) => {
            let r = &asked.result;
            Outcome::ok(format!(
                "{}\n\n---\nfrom {id} · tokens in={} out={} · cost=${:.4}",
                r.text.trim(),
                r.tokens_in,
                r.tokens_out,
                r.cost
            ))
        }
        Err(e) => Outcome::fail(e),
    }
}
