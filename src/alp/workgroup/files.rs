//! Encrypted file sidecars of a room (`workgroup.file_put|file_get|file_list`), as the
//! original stores them under `<room>/files/`: `<sha256>.bin` (ciphertext under the
//! group key) and `<sha256>.json` (metadata), staged as `.<sha256>.part` in 256 KiB
//! chunks. The hub opens a finished upload once to check its size and SHA-256, then
//! posts a `#file` marker for it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};

use super::hub::{Hub, NewPost, Room};
use super::{Result, RoomError, crypto};
use crate::alp::identity::{Identity, Keypair};
use crate::alp::wire::hex;
use crate::fsio;
use crate::json::{self, Object, Value};

pub const CHUNK_BYTES: usize = 256 * 1024;
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
pub const MAX_ROOM_BYTES: u64 = 200 * 1024 * 1024;
const TAG_BYTES: u64 = 16;
const MAX_NAME_CHARS: usize = 255;
const MAX_NOTE_CHARS: usize = 2000;
const MAX_LIST: u64 = 200;

fn bad(detail: impl Into<String>) -> RoomError {
    RoomError::BadFile(detail.into())
}

/// The joined member's room, or why not.
fn joined_room(hub: &Hub, id: &str, caller: &Identity, what: &'static str) -> Result<Room> {
    let room = hub.load(id)?;
    let member = room.member(caller).ok_or(RoomError::NotMember)?;
    if !member.joined {
        return Err(RoomError::NotJoined(what));
    }
    Ok(room)
}

fn files_dir(room: &Room) -> Result<PathBuf> {
    let dir = room.dir.join("files");
    fsio::ensure_private_dir(&dir)?;
    Ok(dir)
}

pub fn check_hash(value: &str) -> Result<String> {
    let digest = value.trim().to_ascii_lowercase();
    let ok = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
    if ok { Ok(digest) } else { Err(bad("sha256 must be a lowercase SHA-256 hex digest")) }
}

pub fn check_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(|c| (c as u32) < 32 || c as u32 == 127)
        && name.chars().count() <= MAX_NAME_CHARS;
    if plain { Ok(name.to_owned()) } else { Err(bad("name must be a plain file name")) }
}

/// A note must not smuggle room protocol markers (`#task`, `#done`…) into the marker post.
pub fn check_note(raw: &str) -> Result<String> {
    let note = raw.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(bad(format!("note exceeds {MAX_NOTE_CHARS} characters")));
    }
    let marker = note.lines().any(|line| {
        let rest = line.split_whitespace().find(|w| !w.starts_with('@')).unwrap_or("");
        ["#task", "#done", "#skip", "#working", "#file"].iter().any(|m| {
            rest.strip_prefix(m)
                .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        })
    });
    if marker { Err(bad("note must not contain workgroup protocol markers")) } else { Ok(note.to_owned()) }
}

/// The plaintext of the marker post announcing a file.
pub fn marker_text(name: &str, size: u64, digest: &str, note: &str) -> String {
    let first = format!("#file {name} · {} · sha256:{digest}", crate::profile::format_bytes(size));
    if note.is_empty() { first } else { format!("{first}\n{note}") }
}

fn read_meta(path: &Path) -> Option<Object> {
    match json::parse(&std::fs::read(path).ok()?).ok()? {
        Value::Object(o) => Some(o),
        _ => None,
    }
}

fn write_meta(path: &Path, meta: &Object) -> Result<()> {
    Ok(fsio::write_atomic(path, fsio::SECRET_FILE, &Value::Object(meta.clone()).wire())?)
}

fn size_of(meta: &Object) -> u64 {
    meta.get("size").and_then(Value::as_u64).unwrap_or(0)
}

/// Bytes stored and being staged in the room, not counting `except`.
fn stored_bytes(dir: &Path, except: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let digest = name.trim_start_matches('.').split('.').next()?.to_owned();
            let counted = if name.starts_with('.') {
                name.ends_with(".part.json")
            } else {
                name.ends_with(".json") && dir.join(format!("{digest}.bin")).is_file()
            };
            (counted && digest != except).then(|| read_meta(&e.path()).map(|m| size_of(&m)).unwrap_or(0))
        })
        .sum()
}

/// `workgroup.file_put`: one chunk of an upload; the final one is verified and announced.
pub fn put(hub: &Hub, keys: &Keypair, id: &str, caller: &Identity, params: &Object) -> Result<Object> {
    let room = joined_room(hub, id, caller, "uploading files")?;
    if room.meta.paused {
        return Err(RoomError::Paused { at: room.meta.paused_at.clone(), by: room.meta.paused_by.clone() });
    }
    let dir = files_dir(&room)?;
    let _lock = fsio::lock_exclusive(&dir.join(".lock"))?;
    let text = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or_default();
    let digest = check_hash(text("sha256"))?;
    let size = params.get("size").and_then(Value::as_u64).filter(|s| (1..=MAX_FILE_BYTES).contains(s));
    let size = size.ok_or_else(|| bad(format!("size must be between 1 and {MAX_FILE_BYTES}")))?;
    let name = check_name(text("name"))?;
    let note = check_note(text("note"))?;
    let nonce = text("nonce");
    if Base64::decode_vec(nonce).map(|n| n.len()) != Ok(12) {
        return Err(bad("nonce must encode 12 bytes"));
    }
    let key_version = params.get("key_version").and_then(Value::as_u64).filter(|v| *v > 0);
    let key_version =
        key_version.ok_or_else(|| bad("key_version must be positive and offset non-negative"))?;
    let offset = match params.get("offset") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().ok_or_else(|| bad("key_version must be positive and offset non-negative"))?,
    };
    let data =
        Base64::decode_vec(text("data_base64")).map_err(|_| bad("data_base64 must be valid base64"))?;
    if data.len() > CHUNK_BYTES {
        return Err(bad(format!("chunk exceeds {CHUNK_BYTES} bytes")));
    }
    let total = size + TAG_BYTES;
    if offset + data.len() as u64 > total {
        return Err(bad("chunk exceeds declared ciphertext size"));
    }
    let done = params.get("done").and_then(Value::as_bool).unwrap_or(false);
    let (bin, meta_path) = (dir.join(format!("{digest}.bin")), dir.join(format!("{digest}.json")));
    let (part, part_meta) = (dir.join(format!(".{digest}.part")), dir.join(format!(".{digest}.part.json")));
    let announce = |existed: bool, next: u64| -> Result<Object> {
        let marker = marker_text(&name, size, &digest, &note);
        let key = hub.group_key(&room, keys, key_version);
        let key = key.ok_or_else(|| bad(format!("key_version {key_version} is not available")))?;
        let (n, c) = crypto::encrypt_post(&key, marker.as_bytes())?;
        let posted =
            hub.admit(id, NewPost { what: "uploading files", ..NewPost::new(caller, key_version, &n, &c) })?;
        let marker = Object::new()
            .with("seq", posted.get("seq").cloned().unwrap_or(Value::Null))
            .with("ts", posted.get("ts").cloned().unwrap_or(Value::Null));
        Ok(Object::new()
            .with("ok", true)
            .with("existed", existed)
            .with("complete", true)
            .with("next_offset", next)
            .with("marker", marker))
    };
    if let Some(stored) = read_meta(&meta_path).filter(|_| bin.is_file()) {
        if stored.get("sha256").and_then(Value::as_str) != Some(digest.as_str()) || size_of(&stored) != size {
            return Err(bad("stored workgroup file conflicts with upload"));
        }
        return announce(true, total);
    }
    let upload = Object::new()
        .with("name", name.as_str())
        .with("size", size)
        .with("sha256", digest.as_str())
        .with("key_version", key_version)
        .with("nonce", nonce)
        .with("uploaded_by", caller.to_string())
        .with("note", note.as_str());
    let staged = read_meta(&part_meta);
    if offset == 0 {
        if staged.as_ref().is_some_and(|m| m.get("uploaded_by") != upload.get("uploaded_by")) {
            return Ok(Object::new()
                .with("ok", true)
                .with("busy", true)
                .with("complete", false)
                .with("next_offset", 0u64));
        }
        if stored_bytes(&dir, &digest) + size > MAX_ROOM_BYTES {
            return Err(RoomError::Quota);
        }
        let _ = std::fs::remove_file(&part);
        write_meta(&part_meta, &upload)?;
    } else if staged.as_ref() != Some(&upload) {
        return Err(bad("upload metadata changed between chunks"));
    }
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if have != offset {
        return Err(bad(format!("offset mismatch: expected {have}, got {offset}")));
    }
    append(&part, &data)?;
    let next = offset + data.len() as u64;
    if !done {
        return Ok(Object::new().with("ok", true).with("complete", false).with("next_offset", next));
    }
    let discard = || {
        let _ = std::fs::remove_file(&part);
        let _ = std::fs::remove_file(&part_meta);
    };
    if next != total {
        return Err(bad(format!("final chunk ended at {next}, expected {total}")));
    }
    let Some(key) = hub.group_key(&room, keys, key_version) else {
        discard();
        return Err(bad(format!("key_version {key_version} is not available")));
    };
    let sealed = std::fs::read(&part).map_err(|e| fsio::Error::new("read", &part, e))?;
    let nonce_bytes = Base64::decode_vec(nonce).unwrap_or_default();
    let Ok(plain) = crypto::decrypt_bytes(&key, &nonce_bytes, &sealed) else {
        discard();
        return Err(bad("encrypted file failed authentication"));
    };
    if plain.len() as u64 != size || hex(&Sha256::digest(&plain)) != digest {
        discard();
        return Err(bad("file size or sha256 verification failed"));
    }
    std::fs::rename(&part, &bin).map_err(|e| fsio::Error::new("rename", &bin, e))?;
    let finished = write_meta(&meta_path, &upload.clone().with("uploaded_at", super::now_ts()));
    let _ = std::fs::remove_file(&part_meta);
    finished.inspect_err(|_| drop(std::fs::remove_file(&bin)))?;
    announce(false, next).inspect_err(|_| {
        let _ = std::fs::remove_file(&bin);
        let _ = std::fs::remove_file(&meta_path);
    })
}

fn append(path: &Path, data: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(fsio::SECRET_FILE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| fsio::Error::new("open", path, e))?;
    file.write_all(data).and_then(|()| file.sync_data()).map_err(|e| fsio::Error::new("write", path, e))?;
    Ok(())
}

/// `workgroup.file_get`: up to 256 KiB of ciphertext from `offset`, with the metadata.
pub fn get(hub: &Hub, id: &str, caller: &Identity, params: &Object) -> Result<Object> {
    let room = joined_room(hub, id, caller, "fetching files")?;
    let digest = check_hash(params.get("sha256").and_then(Value::as_str).unwrap_or_default())?;
    let offset = match params.get("offset") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().ok_or_else(|| bad("offset must be non-negative"))?,
    };
    let dir = files_dir(&room)?;
    let _lock = fsio::lock_exclusive(&dir.join(".lock"))?;
    let bin = dir.join(format!("{digest}.bin"));
    let meta = read_meta(&dir.join(format!("{digest}.json"))).filter(|_| bin.is_file());
    let meta = meta.ok_or(RoomError::FileNotFound)?;
    let mut file = std::fs::File::open(&bin).map_err(|e| fsio::Error::new("open", &bin, e))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    if offset > total {
        return Err(bad(format!("offset mismatch: ciphertext ends at {total}")));
    }
    let mut data = Vec::with_capacity(CHUNK_BYTES.min((total - offset) as usize));
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| (&mut file).take(CHUNK_BYTES as u64).read_to_end(&mut data))
        .map_err(|e| fsio::Error::new("read", &bin, e))?;
    let field = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    Ok(Object::new()
        .with("data_base64", Base64::encode_string(&data))
        .with("size", field("size"))
        .with("ciphertext_size", total)
        .with("eof", offset + data.len() as u64 >= total)
        .with("name", field("name"))
        .with("sha256", digest.as_str())
        .with("key_version", field("key_version"))
        .with("nonce", field("nonce")))
}

/// `workgroup.file_list`: the room's files, newest first, a page at a time.
pub fn list(hub: &Hub, id: &str, caller: &Identity, params: &Object) -> Result<Object> {
    let room = joined_room(hub, id, caller, "listing files")?;
    let offset = params.get("offset").and_then(Value::as_u64).unwrap_or(0);
    let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(50);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(bad(format!("offset must be non-negative and limit between 1 and {MAX_LIST}")));
    }
    let dir = files_dir(&room)?;
    let _lock = fsio::lock_exclusive(&dir.join(".lock"))?;
    // Directory order (the original sorts newest first; its clients do not rely on it).
    let found: Vec<Object> = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let digest = check_hash(name.strip_suffix(".json")?).ok()?;
            let meta = read_meta(&e.path()).filter(|_| dir.join(format!("{digest}.bin")).is_file())?;
            let text = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            Some(
                Object::new()
                    .with("name", text("name"))
                    .with("size", size_of(&meta))
                    .with("sha256", digest)
                    .with("uploaded_by", text("uploaded_by"))
                    .with("uploaded_at", text("uploaded_at"))
                    .with("note", text("note")),
            )
        })
        .collect();
    let total = found.len() as u64;
    let page: Vec<Value> =
        found.into_iter().skip(offset as usize).take(limit as usize).map(Value::Object).collect();
    let consumed = offset + page.len() as u64;
    let next = if consumed < total { Value::from(consumed) } else { Value::Null };
    Ok(Object::new().with("files", page).with("total", total).with("next_offset", next))
}
