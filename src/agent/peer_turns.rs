//! The agent behind ALP `link.ask`: each inbound ask runs one turn on the profile in a
//! fresh session, with the asker's mention thread as context, only the tools its
//! `tools.allow` permits, no one to approve caution-level commands, and its spend
//! booked to the asking peer.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::mentions::Thread;
use super::run::{Conversation, RunError, Surface};
use super::tools::NoApprover;
use super::turn::Progress;
use crate::alp::methods::{Agent, AskRequest, AskResult, internal_error};
use crate::alp::peers::PeerFiles;
use crate::alp::wire::envelope::RpcError;
use crate::clock::now_micros;
use crate::json::Object;
use crate::profile::ProfileHome;

/// Runs `link.ask` turns for one profile.
pub struct ProfileAgent {
    pub home: ProfileHome,
}

impl ProfileAgent {
    /// The asking peer's `tools.allow`; a malformed one refuses the turn (`-32013`).
    fn tool_allow(&self, peer_id: &str) -> Result<Option<Vec<String>>, RpcError> {
        let files = PeerFiles::new(&self.home.dir().join("alp"));
        let peer = files.load().ok().and_then(|peers| peers.into_iter().find(|p| p.id == peer_id));
        let Some(peer) = peer else { return Ok(None) };
        peer.allowed_tools().map_err(|detail| {
            log::warn!("link.ask from {peer_id} refused: {detail}");
            RpcError::new(-32013, "peer-policy-invalid", Object::new().with("detail", detail))
        })
    }
}

impl Agent for ProfileAgent {
    fn ask(
        &self,
        ask: &AskRequest,
        on_text: &mut dyn FnMut(&str),
        cancel: &Arc<AtomicBool>,
    ) -> Result<AskResult, RpcError> {
        let tool_allow = self.tool_allow(&ask.peer_id)?;
        let mut conversation = Conversation::open(&self.home).map_err(|e| internal_error(&e.to_string()))?;
        conversation.set_session_id(&ask.session_id);
        conversation.restrict_tools(tool_allow);
        let mut thread = Thread::load(self.home.dir(), &ask.peer_id);
        if let Some(thread) = &thread {
            conversation.prime(thread.history());
        }
        let mut approver = NoApprover;
        let surface = Surface { name: "alp", approver: &mut approver, cancel, peer: Some(&ask.peer_id) };
        let outcome = conversation.turn(&ask.prompt, surface, &mut |p| {
            if let Progress::Text(piece) = p {
                on_text(piece);
            }
        });
        if let (Ok(answer), Some(thread)) = (&outcome, &mut thread)
            && let Err(e) = thread.append(now_micros() as f64 / 1e6, &ask.prompt, &answer.result.text)
        {
            log::warn!("could not update the mention thread of {}: {e}", ask.peer_id);
        }
        match outcome {
            Ok(answer) => Ok(AskResult {
                text: answer.result.text,
                tokens_in: answer.result.tokens_in,
                tokens_out: answer.result.tokens_out,
                cost: answer.result.cost,
                interrupted: answer.result.interrupted,
            }),
            Err(RunError::NoModel(profile)) => {
                Err(internal_error(&format!("no model configured on {profile}")))
            }
            Err(RunError::Turn(super::turn::TurnError::Budget(spent))) => Err(RpcError::new(
                -32005,
                "budget-exceeded",
                Object::new().with("cap_kind", "usd").with("cap", spent.cap).with("used", spent.used),
            )),
            Err(e) => Err(internal_error(&e.to_string())),
        }
    }
}
