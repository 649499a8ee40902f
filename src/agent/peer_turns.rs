//! The agent behind ALP `link.ask`: each inbound ask runs one turn on the profile with
//! no one to approve caution-level commands, its spend booked to the asking peer.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::run::{self, RunError, Surface};
use super::tools::NoApprover;
use super::turn::Progress;
use crate::alp::methods::{Agent, AskRequest, AskResult, internal_error};
use crate::alp::wire::envelope::RpcError;
use crate::profile::ProfileHome;

/// Runs `link.ask` turns for one profile.
pub struct ProfileAgent {
    pub home: ProfileHome,
}

impl Agent for ProfileAgent {
    fn ask(
        &self,
        ask: &AskRequest,
        on_text: &mut dyn FnMut(&str),
        cancel: &Arc<AtomicBool>,
    ) -> Result<AskResult, RpcError> {
        let mut approver = NoApprover;
        let surface = Surface { name: "alp", approver: &mut approver, cancel, peer: Some(&ask.peer_id) };
        let outcome = run::ask(&self.home, &ask.prompt, surface, &mut |p| {
            if let Progress::Text(piece) = p {
                on_text(piece);
            }
        });
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
                crate::alp::wire::json::Object::new()
                    .with("cap_kind", "usd")
                    .with("cap", spent.cap)
                    .with("used", spent.used),
            )),
            Err(e) => Err(internal_error(&e.to_string())),
        }
    }
}
