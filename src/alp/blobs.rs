//! The content-addressed blob store behind `link.put_blob` / `link.get_blob` (ALP spec §7):
//! chunked uploads staged per sender in `alp/blobs/.incoming/`, verified and published as
//! `alp/blobs/<sha256>`. Touches only the profile's files; the wire is the caller's.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::alp::wire::hex;
use crate::fsio;

/// Largest chunk a put may carry and a get yields.
pub const CHUNK_BYTES: usize = 512 * 1024;
/// Largest blob stored or served.
pub const MAX_BLOB_BYTES: u64 = 20 * 1024 * 1024;

const INCOMING: &str = ".incoming";
/// A FIFO planted at a store path must not hang the open; regular files ignore the flag.
const OPEN_FLAGS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK;

/// Why a blob operation failed. `Invalid`'s message is the `detail` the peer sees.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlobError {
    #[error("{0}")]
    Invalid(String),
    #[error("blob not found")]
    NotFound,
    #[error("{0}")]
    Io(String),
}

impl BlobError {
    fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid(detail.into())
    }

    fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        fsio::Error::new(op, path, source).into()
    }
}

impl From<fsio::Error> for BlobError {
    fn from(e: fsio::Error) -> Self {
        Self::Io(e.to_string())
    }
}

/// Where an upload stands after a chunk was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    pub hash: String,
    pub size: u64,
    pub next_offset: u64,
    pub complete: bool,
}

/// The blobs of one profile, under `<home>/alp/blobs`.
pub struct BlobStore {
    blobs: PathBuf,
}

impl BlobStore {
    /// The store under `alp_dir` (`<home>/alp`). Nothing is created until a put.
    pub fn new(alp_dir: &Path) -> Self {
        Self { blobs: alp_dir.join("blobs") }
    }

    /// The lowercase 64-hex sha-256 digest `text` names, or why it names none.
    pub fn validate_hash(text: &str) -> Result<String, BlobError> {
        let hash = text.trim().to_ascii_lowercase();
        if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(hash)
        } else {
            Err(BlobError::invalid("hash must be 64 hex characters (a sha-256 digest)"))
        }
    }

    /// Accepts the chunk at `offset` of `sender`'s upload of blob `hash`; on `last`,
    /// verifies the whole upload and publishes it.
    pub fn put_chunk(
        &self,
        sender: &str,
        hash: &str,
        size: u64,
        offset: u64,
        data: &[u8],
        last: bool,
    ) -> Result<PutOutcome, BlobError> {
        let hash = Self::validate_hash(hash)?;
        if size > MAX_BLOB_BYTES {
            return Err(BlobError::Invalid(format!("size must be between 0 and {MAX_BLOB_BYTES} bytes")));
        }
        self.ensure_dirs()?;
        let part = self.part_path(sender, &hash);
        if self.is_stored(&hash, size)? {
            // Whatever this sender had staged is now useless.
            let _ = fs::remove_file(&part);
            return Ok(PutOutcome { hash, size, next_offset: size, complete: true });
        }
        let mut file = append_chunk(&part, size, offset, data)?;
        let next_offset = offset + data.len() as u64;
        if last {
            if next_offset != size {
                return Err(BlobError::Invalid(format!(
                    "final chunk ended at {next_offset}, expected {size}"
                )));
            }
            self.publish(&mut file, &part, &hash)?;
        }
        Ok(PutOutcome { hash, size, next_offset, complete: last })
    }

    /// Opens stored blob `hash` for serving, after checking its contents still hash to
    /// it: a corrupted blob is reported as missing.
    pub fn open(&self, hash: &str) -> Result<BlobReader, BlobError> {
        let hash = Self::validate_hash(hash)?;
        if !existing_dir(&self.blobs)? {
            return Err(BlobError::NotFound);
        }
        let path = self.path_of(&hash);
        let mut file = match open_read(&path) {
            Ok(file) => file,
            Err(e) if is_absent_or_link(&e) => return Err(BlobError::NotFound),
            Err(e) => return Err(BlobError::io("open", &path, e)),
        };
        if !is_small_regular(&file, &path)? {
            return Err(BlobError::NotFound);
        }
        let (digest, size) =
            sha256_of(&mut file, MAX_BLOB_BYTES).map_err(|e| BlobError::io("read", &path, e))?;
        if digest != hash || size > MAX_BLOB_BYTES {
            log::warn!("blob {} does not match its hash; not serving it", path.display());
            return Err(BlobError::NotFound);
        }
        file.rewind().map_err(|e| BlobError::io("seek", &path, e))?;
        Ok(BlobReader { file, path, size, offset: 0 })
    }

    /// Where blob `hash` (an already validated digest) is stored.
    pub fn path_of(&self, hash: &str) -> PathBuf {
        self.blobs.join(hash)
    }

    /// The staging file of `sender`'s upload of `hash`: per sender, so two senders of
    /// the same blob never write into each other's file.
    fn part_path(&self, sender: &str, hash: &str) -> PathBuf {
        let who = hex(&Sha256::digest(sender.as_bytes()));
        self.blobs.join(INCOMING).join(format!("{}-{hash}.part", &who[..16]))
    }

    fn ensure_dirs(&self) -> Result<(), BlobError> {
        for dir in [self.blobs.clone(), self.blobs.join(INCOMING)] {
            existing_dir(&dir)?;
            fsio::ensure_private_dir(&dir)?;
        }
        Ok(())
    }

    /// Whether blob `hash` is already stored; an existing file that is not exactly
    /// that blob of `size` bytes is a conflict.
    fn is_stored(&self, hash: &str, size: u64) -> Result<bool, BlobError> {
        let path = self.path_of(hash);
        let mut file = match open_read(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(BlobError::io("open", &path, e)),
        };
        let matches = is_small_regular(&file, &path)?
            && sha256_of(&mut file, MAX_BLOB_BYTES).map_err(|e| BlobError::io("read", &path, e))?
                == (hash.to_owned(), size);
        if matches {
            Ok(true)
        } else {
            Err(BlobError::invalid("stored blob conflicts with requested hash or size"))
        }
    }

    /// Verifies the complete upload in `file` (at `part`) and renames it into place.
    /// Two senders publishing the same blob at once is fine: each rename is atomic and
    /// puts identical bytes there.
    fn publish(&self, file: &mut File, part: &Path, hash: &str) -> Result<(), BlobError> {
        file.rewind().map_err(|e| BlobError::io("seek", part, e))?;
        let (digest, _) = sha256_of(file, MAX_BLOB_BYTES).map_err(|e| BlobError::io("read", part, e))?;
        if digest != hash {
            let _ = fs::remove_file(part);
            return Err(BlobError::invalid("blob hash verification failed"));
        }
        let target = self.path_of(hash);
        file.set_permissions(fs::Permissions::from_mode(fsio::SECRET_FILE))
            .map_err(|e| BlobError::io("chmod", part, e))?;
        fs::rename(part, &target).map_err(|e| BlobError::io("publish", &target, e))?;
        Ok(fsio::sync_parent(&target)?)
    }
}

/// Checks `data` continues the upload staged at `part` exactly at `offset` (0 restarts
/// it), then writes it durably. The part stays locked while it is checked and written,
/// so two requests racing on one upload cannot interleave.
fn append_chunk(part: &Path, size: u64, offset: u64, data: &[u8]) -> Result<File, BlobError> {
    let (file, current) = match open_part(part, offset == 0) {
        Ok(file) => {
            file.lock().map_err(|e| BlobError::io("lock", part, e))?;
            let len = file.metadata().map_err(|e| BlobError::io("stat", part, e))?.len();
            (Some(file), if offset == 0 { 0 } else { len })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => (None, 0),
        Err(e) => return Err(BlobError::io("open", part, e)),
    };
    if current != offset {
        return Err(BlobError::Invalid(format!("offset mismatch: expected {current}, got {offset}")));
    }
    if offset.saturating_add(data.len() as u64) > size {
        return Err(BlobError::invalid("chunk exceeds declared blob size"));
    }
    if data.len() > CHUNK_BYTES {
        return Err(BlobError::Invalid(format!("chunk exceeds {CHUNK_BYTES} bytes")));
    }
    // Offset 0 creates the part, so this is reached only if `.incoming` vanished under us.
    let Some(mut file) = file else {
        return Err(BlobError::io("open", part, io::ErrorKind::NotFound.into()));
    };
    file.set_len(offset)
        .and_then(|()| file.seek(SeekFrom::Start(offset)))
        .and_then(|_| file.write_all(data))
        .and_then(|()| file.sync_all())
        .map_err(|e| BlobError::io("write", part, e))?;
    Ok(file)
}

/// Opens the part file for reading and writing; `create` only when starting over, so a
/// probe of an unknown upload leaves nothing behind.
fn open_part(part: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .mode(fsio::SECRET_FILE)
        .custom_flags(OPEN_FLAGS)
        .open(part)
}

fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(OPEN_FLAGS).open(path)
}

/// Whether `dir` exists; a symlink or non-directory there is refused.
fn existing_dir(dir: &Path) -> Result<bool, BlobError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(BlobError::Io(format!("{}: refusing a symlinked blob directory", dir.display())))
        }
        Ok(meta) if !meta.is_dir() => Err(BlobError::Io(format!("{}: not a directory", dir.display()))),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(BlobError::io("stat", dir, e)),
    }
}

/// `O_NOFOLLOW` on a symlink fails with `ELOOP`: to a reader that is no blob at all.
fn is_absent_or_link(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP)
}

fn is_small_regular(file: &File, path: &Path) -> Result<bool, BlobError> {
    let meta = file.metadata().map_err(|e| BlobError::io("stat", path, e))?;
    Ok(meta.is_file() && meta.len() <= MAX_BLOB_BYTES)
}

/// Reads a stored blob chunk by chunk, from offset 0 to its verified size.
pub struct BlobReader {
    file: File,
    path: PathBuf,
    size: u64,
    offset: u64,
}

impl BlobReader {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next `(offset, bytes)` of at most [`CHUNK_BYTES`], or `None` past the end.
    pub fn next_chunk(&mut self) -> Result<Option<(u64, Vec<u8>)>, BlobError> {
        if self.offset >= self.size {
            return Ok(None);
        }
        let len = (self.size - self.offset).min(CHUNK_BYTES as u64) as usize;
        let mut chunk = vec![0; len];
        self.file.read_exact(&mut chunk).map_err(|e| BlobError::io("read", &self.path, e))?;
        let at = self.offset;
        self.offset += len as u64;
        Ok(Some((at, chunk)))
    }
}

/// sha256 hex and size of a local file (for the sending side), refusing files over
/// [`MAX_BLOB_BYTES`].
pub fn hash_file(path: &Path) -> Result<(String, u64), BlobError> {
    let too_big = || BlobError::Invalid(format!("{}: larger than the 20 MiB blob limit", path.display()));
    let mut file = File::open(path).map_err(|e| BlobError::io("open", path, e))?;
    if file.metadata().map_err(|e| BlobError::io("stat", path, e))?.len() > MAX_BLOB_BYTES {
        return Err(too_big());
    }
    // The file may have grown since the stat.
    let (digest, size) = sha256_of(&mut file, MAX_BLOB_BYTES).map_err(|e| BlobError::io("read", path, e))?;
    if size > MAX_BLOB_BYTES {
        return Err(too_big());
    }
    Ok((digest, size))
}

/// The `expected N` of an "offset mismatch: expected N, got M" detail (what a resuming
/// sender parses).
pub fn expected_offset(detail: &str) -> Option<u64> {
    let rest = detail.strip_prefix("offset mismatch: expected ")?;
    rest.split(',').next()?.trim().parse().ok()
}

/// sha-256 hex of what `reader` yields and its length, reading at most `limit + 1`
/// bytes (so a length over `limit` is noticed without reading all of it).
fn sha256_of(reader: &mut impl Read, limit: u64) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut reader = reader.take(limit + 1);
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok((hex(&hasher.finalize()), total)),
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const ALICE: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const BOB: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=";
    const CHUNK: u64 = CHUNK_BYTES as u64;

    /// Deterministic filler (xorshift64): cheap, and different for each seed.
    fn data(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.extend_from_slice(&state.to_le_bytes());
        }
        out.truncate(len);
        out
    }

    fn digest(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    fn store() -> (tempfile::TempDir, BlobStore) {
        let home = tempfile::tempdir().unwrap();
        let store = BlobStore::new(&home.path().join("alp"));
        (home, store)
    }

    /// Sends `bytes` from `from` in full chunks, returning the last outcome.
    fn upload(store: &BlobStore, sender: &str, bytes: &[u8], from: u64) -> PutOutcome {
        let (hash, size) = (digest(bytes), bytes.len() as u64);
        let mut offset = from;
        loop {
            let end = (offset + CHUNK).min(size);
            let chunk = &bytes[offset as usize..end as usize];
            let outcome = store.put_chunk(sender, &hash, size, offset, chunk, end == size).unwrap();
            if outcome.complete {
                return outcome;
            }
            assert_eq!(outcome.next_offset, end);
            offset = end;
        }
    }

    fn read_all(store: &BlobStore, hash: &str) -> Result<Vec<u8>, BlobError> {
        let mut reader = store.open(hash)?;
        let mut out = Vec::new();
        while let Some((offset, chunk)) = reader.next_chunk()? {
            assert_eq!(offset, out.len() as u64, "chunks come in order");
            assert!(chunk.len() <= CHUNK_BYTES);
            out.extend_from_slice(&chunk);
        }
        assert_eq!(reader.size(), out.len() as u64);
        Ok(out)
    }

    fn invalid(detail: &str) -> Result<PutOutcome, BlobError> {
        Err(BlobError::Invalid(detail.into()))
    }

    fn incoming_is_empty(store: &BlobStore) -> bool {
        fs::read_dir(store.blobs.join(INCOMING)).unwrap().next().is_none()
    }

    #[test]
    fn small_and_boundary_sizes_round_trip() {
        let (_home, store) = store();
        for (len, seed) in [(0, 1), (1, 2), (CHUNK_BYTES, 3), (CHUNK_BYTES + 1, 4)] {
            let bytes = data(len, seed);
            let outcome = upload(&store, ALICE, &bytes, 0);
            let hash = digest(&bytes);
            let expected =
                PutOutcome { hash: hash.clone(), size: len as u64, next_offset: len as u64, complete: true };
            assert_eq!(outcome, expected);
            assert_eq!(fs::read(store.path_of(&hash)).unwrap(), bytes);
            assert_eq!(read_all(&store, &hash).unwrap(), bytes);
        }
        assert!(incoming_is_empty(&store));
    }

    #[test]
    fn the_largest_blob_goes_in_forty_chunks_and_comes_back_verified() {
        let (_home, store) = store();
        let bytes = data(MAX_BLOB_BYTES as usize, 5);
        assert_eq!(upload(&store, ALICE, &bytes, 0).next_offset, MAX_BLOB_BYTES);
        let mut reader = store.open(&digest(&bytes)).unwrap();
        let mut hasher = Sha256::new();
        let mut chunks = 0;
        while let Some((offset, chunk)) = reader.next_chunk().unwrap() {
            assert_eq!(offset, chunks * CHUNK);
            hasher.update(&chunk);
            chunks += 1;
        }
        assert_eq!(chunks, 40);
        assert_eq!(hex(&hasher.finalize()), digest(&bytes));
    }

    #[test]
    fn oversized_blobs_and_chunks_are_refused() {
        let (_home, store) = store();
        let hash = "0".repeat(64);
        assert_eq!(
            store.put_chunk(ALICE, &hash, MAX_BLOB_BYTES + 1, 0, b"x", false),
            invalid("size must be between 0 and 20971520 bytes")
        );
        let big = data(CHUNK_BYTES + 1, 6);
        assert_eq!(
            store.put_chunk(ALICE, &digest(&big), big.len() as u64, 0, &big, true),
            invalid("chunk exceeds 524288 bytes")
        );
        assert_eq!(
            store.put_chunk(ALICE, &hash, 2, 0, b"abc", false),
            invalid("chunk exceeds declared blob size")
        );
    }

    #[test]
    fn hashes_are_normalised_or_refused() {
        let upper = format!("  {}\n", "AB".repeat(32));
        assert_eq!(BlobStore::validate_hash(&upper), Ok("ab".repeat(32)));
        for bad in ["ab".repeat(31), "g".repeat(64), "a".repeat(65), String::new()] {
            assert!(matches!(BlobStore::validate_hash(&bad), Err(BlobError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn an_interrupted_upload_resumes_from_the_offset_the_store_reports() {
        let (home, store) = store();
        let bytes = data(5 * CHUNK_BYTES + 7, 7);
        let (hash, size) = (digest(&bytes), bytes.len() as u64);
        for i in 0..3 {
            let chunk = &bytes[(i * CHUNK) as usize..((i + 1) * CHUNK) as usize];
            store.put_chunk(ALICE, &hash, size, i * CHUNK, chunk, false).unwrap();
        }
        drop(store);

        let store = BlobStore::new(&home.path().join("alp"));
        let Err(BlobError::Invalid(detail)) = store.put_chunk(ALICE, &hash, size, 1, b"", false) else {
            panic!("a probe at the wrong offset must be refused");
        };
        assert_eq!(detail, format!("offset mismatch: expected {}, got 1", 3 * CHUNK));
        let resume = expected_offset(&detail).unwrap();
        assert_eq!(resume, 3 * CHUNK);
        assert!(upload(&store, ALICE, &bytes, resume).complete);
        assert_eq!(read_all(&store, &hash).unwrap(), bytes);
        assert!(incoming_is_empty(&store));
    }

    #[test]
    fn a_wrong_offset_is_refused_with_the_exact_detail() {
        let (_home, store) = store();
        let bytes = data(3 * CHUNK_BYTES, 8);
        let (hash, size) = (digest(&bytes), bytes.len() as u64);
        assert_eq!(
            store.put_chunk(BOB, &hash, size, CHUNK, &bytes[..CHUNK_BYTES], false),
            invalid("offset mismatch: expected 0, got 524288"),
            "an unknown upload starts at 0"
        );
        assert!(incoming_is_empty(&store), "a refused probe stages nothing");
        store.put_chunk(BOB, &hash, size, 0, &bytes[..CHUNK_BYTES], false).unwrap();
        assert_eq!(
            store.put_chunk(BOB, &hash, size, 2 * CHUNK, &bytes[..CHUNK_BYTES], false),
            invalid("offset mismatch: expected 524288, got 1048576")
        );
        assert_eq!(expected_offset("offset mismatch: expected 524288, got 1048576"), Some(CHUNK));
        assert_eq!(expected_offset("blob hash verification failed"), None);
    }

    #[test]
    fn offset_zero_restarts_the_upload() {
        let (_home, store) = store();
        let bytes = data(2 * CHUNK_BYTES, 9);
        let (hash, size) = (digest(&bytes), bytes.len() as u64);
        store.put_chunk(ALICE, &hash, size, 0, &data(CHUNK_BYTES, 99), false).unwrap();
        assert!(upload(&store, ALICE, &bytes, 0).complete);
        assert_eq!(read_all(&store, &hash).unwrap(), bytes);
    }

    #[test]
    fn a_corrupted_upload_fails_verification_and_its_part_is_removed() {
        let (_home, store) = store();
        let bytes = data(2 * CHUNK_BYTES + 3, 10);
        let (hash, size) = (digest(&bytes), bytes.len() as u64);
        let mut bad = bytes.clone();
        bad[CHUNK_BYTES + 5] ^= 0x40;
        store.put_chunk(ALICE, &hash, size, 0, &bad[..CHUNK_BYTES], false).unwrap();
        store.put_chunk(ALICE, &hash, size, CHUNK, &bad[CHUNK_BYTES..2 * CHUNK_BYTES], false).unwrap();
        assert_eq!(
            store.put_chunk(ALICE, &hash, size, 2 * CHUNK, &bad[2 * CHUNK_BYTES..], true),
            invalid("blob hash verification failed")
        );
        assert!(incoming_is_empty(&store));
        assert!(!store.path_of(&hash).exists());
        assert_eq!(store.open(&hash).err(), Some(BlobError::NotFound));
    }

    #[test]
    fn a_final_chunk_short_of_the_size_is_refused() {
        let (_home, store) = store();
        let bytes = data(10, 11);
        assert_eq!(
            store.put_chunk(ALICE, &digest(&bytes), 10, 0, &bytes[..4], true),
            invalid("final chunk ended at 4, expected 10")
        );
    }

    #[test]
    fn re_sending_a_stored_blob_is_complete_at_once() {
        let (_home, store) = store();
        let bytes = data(3 * CHUNK_BYTES, 12);
        let (hash, size) = (digest(&bytes), bytes.len() as u64);
        upload(&store, ALICE, &bytes, 0);
        let again = store.put_chunk(BOB, &hash.to_uppercase(), size, 0, &bytes[..CHUNK_BYTES], false);
        assert_eq!(again, Ok(PutOutcome { hash: hash.clone(), size, next_offset: size, complete: true }));
        assert_eq!(
            store.put_chunk(BOB, &hash, size - 1, 0, b"", false),
            invalid("stored blob conflicts with requested hash or size")
        );
        assert!(incoming_is_empty(&store));
    }

    #[test]
    fn two_senders_putting_one_blob_at_once_both_succeed() {
        let (_home, store) = store();
        let bytes = data(4 * CHUNK_BYTES + 11, 13);
        let barrier = std::sync::Barrier::new(2);
        let (store, bytes, barrier) = (&store, &bytes, &barrier);
        std::thread::scope(|s| {
            for sender in [ALICE, BOB] {
                s.spawn(move || {
                    barrier.wait();
                    let outcome = upload(store, sender, bytes, 0);
                    assert_eq!(outcome.next_offset, bytes.len() as u64);
                });
            }
        });
        assert_eq!(read_all(store, &digest(bytes)).unwrap(), *bytes);
        assert_eq!(fs::read_dir(&store.blobs).unwrap().count(), 2, "the blob and .incoming");
        assert!(incoming_is_empty(store));
    }

    #[test]
    fn missing_and_corrupted_blobs_are_not_found() {
        let (_home, store) = store();
        let hash = digest(b"never stored");
        assert_eq!(store.open(&hash).err(), Some(BlobError::NotFound), "no blobs dir yet");
        upload(&store, ALICE, b"kept", 0);
        assert_eq!(store.open(&hash).err(), Some(BlobError::NotFound));

        let bytes = data(1000, 14);
        let stored = digest(&bytes);
        upload(&store, ALICE, &bytes, 0);
        let mut flipped = bytes.clone();
        flipped[500] ^= 1;
        fs::write(store.path_of(&stored), &flipped).unwrap();
        assert_eq!(store.open(&stored).err(), Some(BlobError::NotFound));
    }

    #[test]
    fn files_are_private_and_directories_too() {
        let (home, store) = store();
        fs::create_dir_all(home.path().join("alp/blobs")).unwrap();
        fs::set_permissions(home.path().join("alp/blobs"), fs::Permissions::from_mode(0o755)).unwrap();
        let bytes = data(100, 15);
        upload(&store, ALICE, &bytes, 0);
        assert_eq!(fsio::mode_of(&store.path_of(&digest(&bytes))), Some(0o600));
        assert_eq!(fsio::mode_of(&store.blobs), Some(0o700));
        assert_eq!(fsio::mode_of(&store.blobs.join(INCOMING)), Some(0o700));

        let partial = data(2 * CHUNK_BYTES, 16);
        store.put_chunk(ALICE, &digest(&partial), 2 * CHUNK, 0, &partial[..CHUNK_BYTES], false).unwrap();
        let part = store.part_path(ALICE, &digest(&partial));
        assert_eq!(fsio::mode_of(&part), Some(0o600));
        let who = &hex(&Sha256::digest(ALICE.as_bytes()))[..16];
        assert_eq!(part.file_name().unwrap().to_str().unwrap(), format!("{who}-{}.part", digest(&partial)));
    }

    #[test]
    fn symlinked_directories_and_blobs_are_refused() {
        let (home, store) = store();
        let elsewhere = home.path().join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::create_dir_all(home.path().join("alp")).unwrap();
        symlink(&elsewhere, &store.blobs).unwrap();
        let bytes = data(10, 17);
        let hash = digest(&bytes);
        assert!(matches!(store.put_chunk(ALICE, &hash, 10, 0, &bytes, true), Err(BlobError::Io(_))));
        fs::write(elsewhere.join(&hash), &bytes).unwrap();
        assert!(matches!(store.open(&hash), Err(BlobError::Io(_))));
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 1, "nothing written through the link");

        fs::remove_file(&store.blobs).unwrap();
        fs::create_dir(&store.blobs).unwrap();
        symlink(&elsewhere, store.blobs.join(INCOMING)).unwrap();
        assert!(matches!(store.put_chunk(ALICE, &hash, 10, 0, &bytes, true), Err(BlobError::Io(_))));

        fs::remove_file(store.blobs.join(INCOMING)).unwrap();
        symlink(elsewhere.join(&hash), store.path_of(&hash)).unwrap();
        assert_eq!(store.open(&hash).err(), Some(BlobError::NotFound), "a symlinked blob is no blob");
        assert!(matches!(store.put_chunk(ALICE, &hash, 10, 0, &bytes, true), Err(BlobError::Io(_))));
    }

    #[test]
    fn hash_file_measures_local_files_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        fs::write(&path, b"hello").unwrap();
        assert_eq!(hash_file(&path), Ok((digest(b"hello"), 5)));
        File::create(&path).unwrap().set_len(MAX_BLOB_BYTES + 1).unwrap();
        assert_eq!(
            hash_file(&path),
            Err(BlobError::Invalid(format!("{}: larger than the 20 MiB blob limit", path.display())))
        );
        assert!(matches!(hash_file(&dir.path().join("absent")), Err(BlobError::Io(_))));
    }
}
