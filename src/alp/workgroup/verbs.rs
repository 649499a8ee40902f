//! The hub's `workgroup.*` wire methods (spec §8): params in, result or the original's
//! error out. Membership is checked here; the caller is already a pinned peer.

use std::time::{Duration, Instant};

use super::hub::{Change, Hub, NewPost};
use super::transcript::seq_of;
use super::{LONG_POLL_MAX_S, MAX_CIPHERTEXT, RoomError, files};
use crate::alp::identity::{Identity, Keypair};
use crate::alp::wire::envelope::RpcError;
use crate::json::{Object, Value};

pub const JOIN: &str = "workgroup.join";
pub const POST: &str = "workgroup.post";
pub const PULL: &str = "workgroup.pull";
pub const LEAVE: &str = "workgroup.leave";
pub const PAUSE: &str = "workgroup.pause";
pub const RESUME: &str = "workgroup.resume";
pub const FILE_PUT: &str = "workgroup.file_put";
pub const FILE_GET: &str = "workgroup.file_get";
pub const FILE_LIST: &str = "workgroup.file_list";

pub fn is_known(method: &str) -> bool {
    matches!(method, JOIN | POST | PULL | LEAVE | PAUSE | RESUME | FILE_PUT | FILE_GET | FILE_LIST)
}

/// How often a held pull looks at the transcript for posts appended by another process.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Answers one `workgroup.*` call from `caller`.
pub fn handle(
    hub: &Hub,
    keys: &Keypair,
    method: &str,
    caller: &Identity,
    params: &Object,
) -> Result<Object, RpcError> {
    let id = params.get("workgroup_id").and_then(Value::as_str).unwrap_or_default().trim();
    if id.is_empty() {
        return Err(RoomError::Invalid("workgroup_id required".into()).into());
    }
    let answer = match method {
        JOIN => join(hub, id, caller, params),
        POST => post(hub, id, caller, params),
        PULL => pull(hub, id, caller, params),
        LEAVE => leave(hub, id, caller),
        PAUSE | RESUME => pause(hub, id, caller, method == PAUSE),
        FILE_PUT => files::put(hub, keys, id, caller, params),
        FILE_GET => files::get(hub, id, caller, params),
        _ => files::list(hub, id, caller, params),
    };
    answer.map_err(RpcError::from)
}

fn join(hub: &Hub, id: &str, caller: &Identity, params: &Object) -> super::Result<Object> {
    let bio = params.get("bio").and_then(Value::as_str).unwrap_or_default();
    let room = hub.touch(id, caller, Some(bio))?;
    let me = room.member(caller).ok_or(RoomError::NotMember)?;
    Ok(with_pipeline_state(
        Object::new()
            .with("workgroup_id", room.meta.id.as_str())
            .with("name", room.meta.name.as_str())
            .with("briefing", room.meta.briefing.as_str()),
    )
    .with("paused", room.meta.paused)
    .with("sealed_key", me.sealed_key.as_str())
    .with("key_version", me.key_version)
    .with("current_key_version", room.meta.current_key_version)
    .with("members", room.roster()))
}

/// The original's pipeline fields, empty: this build runs plain rooms only.
fn with_pipeline_state(out: Object) -> Object {
    out.with("pipelines", Object::new())
        .with("launch_pipeline", Value::Null)
        .with("pipeline_mode", false)
        .with("phase_map", Object::new())
}

fn post(hub: &Hub, id: &str, caller: &Identity, params: &Object) -> super::Result<Object> {
    let text = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or_default();
    if params.get("settle_only").and_then(Value::as_bool) == Some(true) {
        // Turn-cost settlement is not kept by this hub; answer as "nothing to settle".
        hub.load(id)?.check_poster(caller, "posting")?;
        let nothing = Object::new().with("usd", 0.0).with("tokens", 0u64);
        return Ok(Object::new().with("settled", false).with("cost", nothing));
    }
    let (nonce, ciphertext) = (text("nonce"), text("ciphertext"));
    if nonce.is_empty() || ciphertext.is_empty() {
        return Err(RoomError::Invalid("nonce and ciphertext required".into()));
    }
    if ciphertext.len() > MAX_CIPHERTEXT {
        return Err(RoomError::Invalid(format!("ciphertext exceeds {MAX_CIPHERTEXT} bytes")));
    }
    let key_version = params.get("key_version").and_then(Value::as_u64).unwrap_or(1);
    let entry =
        hub.admit(id, NewPost::new(caller, key_version, nonce, ciphertext).with_cost(params.get("cost")))?;
    hub.touch(id, caller, None)?;
    Ok(Object::new()
        .with("seq", entry.get("seq").cloned().unwrap_or(Value::Null))
        .with("ts", entry.get("ts").cloned().unwrap_or(Value::Null)))
}

fn pull(hub: &Hub, id: &str, caller: &Identity, params: &Object) -> super::Result<Object> {
    let since = params.get("since").and_then(Value::as_f64).unwrap_or(0.0).max(0.0) as u64;
    let wait_s = params.get("wait_s").and_then(Value::as_f64).filter(|w| w.is_finite()).unwrap_or(0.0);
    let wait = Duration::from_secs_f64(wait_s.clamp(0.0, LONG_POLL_MAX_S));
    let room = hub.load(id)?;
    room.member(caller).ok_or(RoomError::NotMember)?;
    let deadline = Instant::now() + wait;
    let head = loop {
        let seen = super::hub::posted_count();
        // The index reads only what was appended since its last look (a stat, if nothing).
        let head = hub.transcripts().head(&room.dir).seq;
        let left = deadline.saturating_duration_since(Instant::now());
        if head > since || left.is_zero() {
            break head;
        }
        super::hub::wait_posted(seen, left.min(PROBE_EVERY));
    };
    let fresh = hub.transcripts().since(&room.dir, since);
    // Posts may have landed since `head` was read: the head returned covers them.
    let head = fresh.last().map_or(head, |post| seq_of(post).max(head));
    let fresh: Vec<Value> = fresh.into_iter().map(Value::Object).collect();
    let room = if wait_s > 0.0 || !fresh.is_empty() { hub.touch(id, caller, None)? } else { hub.load(id)? };
    let me = room.member(caller).ok_or(RoomError::NotMember)?;
    Ok(with_pipeline_state(
        Object::new()
            .with("posts", fresh)
            .with("head", head)
            .with("current_key_version", room.meta.current_key_version),
    )
    .with("paused", room.meta.paused)
    .with("sealed_key", me.sealed_key.as_str())
    .with("members", room.roster()))
}

fn leave(hub: &Hub, id: &str, caller: &Identity) -> super::Result<Object> {
    let room = hub.rekey(id, Change::Drop(caller))?;
    let remaining: Vec<Value> = room.members.iter().map(|m| Value::from(m.pubkey.to_string())).collect();
    Ok(Object::new()
        .with("workgroup_id", room.meta.id.as_str())
        .with("current_key_version", room.meta.current_key_version)
        .with("remaining_members", remaining))
}

fn pause(hub: &Hub, id: &str, caller: &Identity, paused: bool) -> super::Result<Object> {
    let room = hub.set_paused(id, caller, paused)?;
    let out = Object::new().with("workgroup_id", room.meta.id.as_str()).with("paused", paused);
    if !paused {
        return Ok(out);
    }
    Ok(out.with("paused_at", room.meta.paused_at.as_str()).with("paused_by", room.meta.paused_by.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> (tempfile::TempDir, Hub, Keypair, Keypair, String) {
        let tmp = tempfile::tempdir().unwrap();
        let hub = Hub::new(tmp.path());
        let (h, m) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
        let id = hub.create(&h, "r", &[m.identity().clone()], "", Some(1.0)).unwrap().meta.id;
        (tmp, hub, h, m, id)
    }

    fn call(hub: &Hub, h: &Keypair, who: &Keypair, method: &str, params: Object) -> Result<Object, RpcError> {
        handle(hub, h, method, who.identity(), &params)
    }

    fn post(id: &str, nonce: &str, usd: f64) -> Object {
        Object::new()
            .with("workgroup_id", id)
            .with("key_version", 1u64)
            .with("nonce", nonce)
            .with("ciphertext", "Y3Q=")
            .with("cost", Object::new().with("usd", usd))
    }

    #[test]
    fn a_held_pull_answers_when_a_post_lands_and_times_out_empty() {
        let (_tmp, hub, h, m, id) = room();
        call(&hub, &h, &m, JOIN, Object::new().with("workgroup_id", id.as_str())).unwrap();
        let pull = Object::new().with("workgroup_id", id.as_str()).with("since", 0u64).with("wait_s", 0.3);
        let started = Instant::now();
        let empty = call(&hub, &h, &m, PULL, pull).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(empty.get("posts").and_then(Value::as_array).map(<[Value]>::len), Some(0));
        let pull = Object::new().with("workgroup_id", id.as_str()).with("since", 0u64).with("wait_s", 10);
        let started = Instant::now();
        let got = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                call(&hub, &h, &m, POST, post(&id, "bjE=", 0.0)).unwrap();
            });
            call(&hub, &h, &m, PULL, pull).unwrap()
        });
        assert!(started.elapsed() < Duration::from_secs(2), "answered on the post, not the timeout");
        assert_eq!(got.get("head").and_then(Value::as_u64), Some(1));
        assert!(got.get("sealed_key").and_then(Value::as_str).is_some_and(|s| !s.is_empty()));
    }

    #[test]
    fn budget_cap_and_errors_match_the_original() {
        let (_tmp, hub, h, m, id) = room();
        let err = call(&hub, &h, &m, POST, post(&id, "bjE=", 0.0)).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (-32008, "workgroup-not-joined"));
        call(
            &hub,
            &h,
            &m,
            JOIN,
            Object::new().with("workgroup_id", id.as_str()).with("bio", "é".repeat(150)),
        )
        .unwrap();
        let bio = hub.load(&id).unwrap().member(m.identity()).unwrap().bio.clone();
        assert_eq!(bio.len(), 200, "bio capped at 200 bytes on a char boundary");
        call(&hub, &h, &m, POST, post(&id, "bjE=", 0.6)).unwrap();
        let err = call(&hub, &h, &m, POST, post(&id, "bjI=", 0.6)).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (-32005, "budget-exceeded"));
        assert_eq!(err.data.get("cap_kind").and_then(Value::as_str), Some("workgroup_usd"));
        let stranger = Keypair::from_seed([3; 32]);
        let err =
            call(&hub, &h, &stranger, PULL, Object::new().with("workgroup_id", id.as_str())).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (-32008, "workgroup-not-member"));
        let err = call(&hub, &h, &m, PULL, Object::new().with("workgroup_id", "wg_none")).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (-32009, "workgroup-not-found"));
        let err = call(&hub, &h, &m, PAUSE, Object::new().with("workgroup_id", id.as_str())).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (-32008, "workgroup-not-hub"));
        let err = call(&hub, &h, &h, LEAVE, Object::new().with("workgroup_id", id.as_str())).unwrap_err();
        assert_eq!(err.code, -32602, "the hub cannot leave");
        let big = Object::new()
            .with("workgroup_id", id.as_str())
            .with("nonce", "bjM=")
            .with("ciphertext", "A".repeat(MAX_CIPHERTEXT + 1));
        assert_eq!(call(&hub, &h, &m, POST, big).unwrap_err().code, -32602);
    }

    #[test]
    fn a_full_transcript_refuses_posts() {
        let (_tmp, hub, h, m, id) = room();
        call(&hub, &h, &m, JOIN, Object::new().with("workgroup_id", id.as_str())).unwrap();
        let line = |i: usize| {
            format!(
                "{{\"seq\":{i},\"ts\":\"t\",\"from\":\"x\",\"key_version\":1,\"nonce\":\"n{i}\",\"ciphertext\":\"c\"}}\n"
            )
        };
        let lines: String = (1..=super::super::MAX_POSTS).map(line).collect();
        std::fs::write(hub.dir(&id).unwrap().join("transcript.jsonl"), lines).unwrap();
        let err = call(&hub, &h, &m, POST, post(&id, "bjE=", 0.0)).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (-32010, "workgroup-full"));
    }

    #[test]
    fn a_nonce_is_refused_the_second_time_under_the_same_key_version() {
        let (tmp, hub, h, m, id) = room();
        call(&hub, &h, &m, JOIN, Object::new().with("workgroup_id", id.as_str())).unwrap();
        call(&hub, &h, &m, POST, post(&id, "bjE=", 0.0)).unwrap();
        let err = call(&hub, &h, &m, POST, post(&id, "bjE=", 0.0)).unwrap_err();
        assert_eq!(err.code, -32602);
        assert!(err.to_string().contains("nonce reuse"), "{err}");
        // A fresh index (another daemon run) reads the same refusal from the file.
        let err = call(&Hub::new(tmp.path()), &h, &m, POST, post(&id, "bjE=", 0.0)).unwrap_err();
        assert_eq!(err.code, -32602);
        let head =
            call(&hub, &h, &m, PULL, Object::new().with("workgroup_id", id.as_str()).with("since", 0u64));
        assert_eq!(head.unwrap().get("head").and_then(Value::as_u64), Some(1), "nothing else admitted");
        let other_version = post(&id, "bjE=", 0.0).with("key_version", 2u64);
        assert!(call(&hub, &h, &m, POST, other_version).is_ok(), "nonces are unique per key version");
    }
}
