//! A room's `transcript.jsonl`: one post per line in seq order, each appended whole and
//! fsync'd. The hub keeps an index of every transcript it serves (where each post
//! starts, a hash of each nonce) and reads only what was appended since it last
//! looked, so admitting a post to a 10,000-post room or pulling its newest posts costs
//! about what it does in a new room. The file stays the truth: another process may
//! append (the hub's CLI), and a file that shrank or was replaced is indexed afresh.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::json::{self, Object, Value};

pub const TRANSCRIPT: &str = "transcript.jsonl";

/// The newest post of a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub posts: usize,
    pub seq: u64,
}

/// What [`Transcripts::admission`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub head: Head,
    pub nonce_used: bool,
}

/// Indexes of the transcripts one hub serves, by room directory.
#[derive(Debug, Default)]
pub struct Transcripts {
    rooms: Mutex<HashMap<PathBuf, Index>>,
}

#[derive(Debug, Default)]
struct Index {
    /// (device, inode) of the file indexed: a replaced file is indexed afresh.
    file: (u64, u64),
    /// Bytes read: up to the end of the last whole line.
    indexed: u64,
    /// (seq, byte offset) of each post that parses, in file order.
    posts: Vec<(u64, u64)>,
    /// Sorted hashes of (key_version, nonce); a hit is confirmed against the file.
    nonces: Vec<u64>,
}

impl Transcripts {
    pub fn head(&self, room_dir: &Path) -> Head {
        self.with_index(room_dir, Index::head)
    }

    /// What admitting a post needs, from one look at the file: the head, and whether a
    /// post already used `nonce` under `key_version`.
    pub fn admission(&self, room_dir: &Path, key_version: u64, nonce: &str) -> Admission {
        let (head, maybe_used) = self.with_index(room_dir, |index| {
            (index.head(), index.nonces.binary_search(&nonce_hash(key_version, nonce)).is_ok())
        });
        let nonce_used = maybe_used
            && read_all(room_dir)
                .iter()
                .any(|post| key_of(post).is_some_and(|(v, n)| v == key_version && n == nonce));
        Admission { head, nonce_used }
    }

    /// The posts with a seq above `since`, read from where the first of them starts.
    pub fn since(&self, room_dir: &Path, since: u64) -> Vec<Object> {
        let start = self.with_index(room_dir, |index| {
            let first = index.posts.partition_point(|&(seq, _)| seq <= since);
            index.posts.get(first).map(|&(_, offset)| (offset, index.indexed))
        });
        let Some((from, to)) = start else { return Vec::new() };
        let bytes = read_range(&room_dir.join(TRANSCRIPT), from, to).unwrap_or_default();
        parse_lines(&bytes).map(|(_, post)| post).filter(|post| seq_of(post) > since).collect()
    }

    fn with_index<T>(&self, room_dir: &Path, f: impl FnOnce(&Index) -> T) -> T {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let index = rooms.entry(room_dir.to_owned()).or_default();
        index.refresh(&room_dir.join(TRANSCRIPT));
        f(index)
    }
}

impl Index {
    fn head(&self) -> Head {
        Head { posts: self.posts.len(), seq: self.posts.last().map_or(0, |&(seq, _)| seq) }
    }

    /// Reads what was appended since the last look; starts over if the file shrank or
    /// is another file. A missing or unreadable file is an empty transcript.
    fn refresh(&mut self, path: &Path) {
        let Ok(meta) = std::fs::metadata(path) else { return *self = Index::default() };
        let file = (meta.dev(), meta.ino());
        if file != self.file || meta.len() < self.indexed {
            *self = Index { file, ..Index::default() };
        }
        if meta.len() == self.indexed {
            return;
        }
        let Ok(bytes) = read_range(path, self.indexed, meta.len()) else { return };
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for (offset, post) in parse_lines(&bytes[..whole]) {
            self.posts.push((seq_of(&post), self.indexed + offset as u64));
            if let Some((version, nonce)) = key_of(&post) {
                let hash = nonce_hash(version, nonce);
                let at = self.nonces.partition_point(|&h| h < hash);
                self.nonces.insert(at, hash);
            }
        }
        self.indexed += whole as u64;
    }
}

/// Every post of the room, in file order; unreadable lines are skipped.
pub fn read_all(room_dir: &Path) -> Vec<Object> {
    let bytes = std::fs::read(room_dir.join(TRANSCRIPT)).unwrap_or_default();
    parse_lines(&bytes).map(|(_, post)| post).collect()
}

pub fn seq_of(post: &Object) -> u64 {
    post.get("seq").and_then(Value::as_u64).unwrap_or(0)
}

fn key_of(post: &Object) -> Option<(u64, &str)> {
    let nonce = post.get("nonce").and_then(Value::as_str)?;
    Some((post.get("key_version").and_then(Value::as_u64).unwrap_or(1), nonce))
}

fn nonce_hash(key_version: u64, nonce: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (key_version, nonce).hash(&mut hasher);
    hasher.finish()
}

/// Each line that is a JSON object, with the byte offset it starts at.
fn parse_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, Object)> + '_ {
    let mut offset = 0;
    bytes.split(|&b| b == b'\n').filter_map(move |line| {
        let start = offset;
        offset += line.len() + 1;
        match json::parse(line) {
            Ok(Value::Object(post)) => Some((start, post)),
            _ => None,
        }
    })
}

fn read_range(path: &Path, from: u64, to: u64) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::with_capacity(to.saturating_sub(from) as usize);
    file.take(to.saturating_sub(from)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn post(seq: u64, nonce: &str) -> String {
        format!("{{\"seq\":{seq},\"key_version\":1,\"nonce\":\"{nonce}\",\"ciphertext\":\"x\"}}\n")
    }

    fn append(dir: &Path, text: &str) {
        let mut file =
            std::fs::OpenOptions::new().append(true).create(true).open(dir.join(TRANSCRIPT)).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn appends_by_another_writer_are_seen_and_only_the_new_posts_are_returned() {
        let tmp = tempfile::tempdir().unwrap();
        let transcripts = Transcripts::default();
        assert_eq!(transcripts.head(tmp.path()), Head { posts: 0, seq: 0 });
        append(tmp.path(), &(post(1, "a") + &post(2, "b")));
        assert_eq!(transcripts.head(tmp.path()), Head { posts: 2, seq: 2 });
        append(tmp.path(), &(post(3, "c") + "not json\n" + &post(4, "d")));
        let fresh: Vec<u64> = transcripts.since(tmp.path(), 2).iter().map(seq_of).collect();
        assert_eq!(fresh, [3, 4]);
        assert!(transcripts.since(tmp.path(), 4).is_empty());
        assert!(transcripts.admission(tmp.path(), 1, "c").nonce_used);
        assert!(!transcripts.admission(tmp.path(), 2, "c").nonce_used);
        assert!(!transcripts.admission(tmp.path(), 1, "e").nonce_used);
    }

    #[test]
    fn a_line_still_being_written_waits_for_its_newline() {
        let tmp = tempfile::tempdir().unwrap();
        let transcripts = Transcripts::default();
        let line = post(1, "a");
        append(tmp.path(), &line[..10]);
        assert_eq!(transcripts.head(tmp.path()).posts, 0);
        append(tmp.path(), &line[10..]);
        assert_eq!(transcripts.head(tmp.path()), Head { posts: 1, seq: 1 });
    }

    #[test]
    fn a_truncated_or_replaced_file_is_indexed_afresh() {
        let tmp = tempfile::tempdir().unwrap();
        let transcripts = Transcripts::default();
        append(tmp.path(), &(post(1, "a") + &post(2, "b")));
        assert_eq!(transcripts.head(tmp.path()).seq, 2);
        std::fs::write(tmp.path().join(TRANSCRIPT), post(1, "z")).unwrap();
        assert_eq!(transcripts.head(tmp.path()), Head { posts: 1, seq: 1 });
        assert!(!transcripts.admission(tmp.path(), 1, "a").nonce_used);
        std::fs::remove_file(tmp.path().join(TRANSCRIPT)).unwrap();
        assert_eq!(transcripts.head(tmp.path()), Head { posts: 0, seq: 0 });
    }
}
