//! The agent's memory files in `memories/`: USER.md (about the user, 3,000 chars),
//! MEMORY.md (about their world, 5,000 chars) and AGENT.md (how the agent behaves,
//! free-form). Entries are separated by a line holding `§`, as the original writes them.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::fsio;

/// Between two entries of a memory file.
pub const ENTRY_DELIMITER: &str = "\n§\n";

/// One of the three memory files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryFile {
    User,
    Memory,
    Agent,
}

impl MemoryFile {
    pub const ALL: [MemoryFile; 3] = [MemoryFile::User, MemoryFile::Memory, MemoryFile::Agent];

    pub fn file_name(self) -> &'static str {
        match self {
            MemoryFile::User => "USER.md",
            MemoryFile::Memory => "MEMORY.md",
            MemoryFile::Agent => "AGENT.md",
        }
    }

    /// Characters allowed; AGENT.md has none.
    pub fn limit(self) -> Option<usize> {
        match self {
            MemoryFile::User => Some(3000),
            MemoryFile::Memory => Some(5000),
            MemoryFile::Agent => None,
        }
    }

    /// `USER.md`, `user`, … as a tool argument names it.
    pub fn parse(name: &str) -> Option<Self> {
        let key = name.trim().trim_end_matches(".md").trim_end_matches(".MD").to_ascii_lowercase();
        Self::ALL.into_iter().find(|f| f.file_name().trim_end_matches(".md").eq_ignore_ascii_case(&key))
    }
}

impl fmt::Display for MemoryFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("{file} would be {len} of {limit} characters — consolidate or remove entries first")]
    TooLong { file: MemoryFile, len: usize, limit: usize },
    #[error("{file} already has that entry")]
    Duplicate { file: MemoryFile },
    #[error("no entry of {file} contains {needle:?}")]
    NotFound { file: MemoryFile, needle: String },
    #[error("{count} entries of {file} contain {needle:?}; quote more of the one you mean")]
    Ambiguous { file: MemoryFile, needle: String, count: usize },
    #[error("an empty entry changes nothing")]
    Empty,
    #[error(transparent)]
    Io(#[from] fsio::Error),
}

/// A profile's memory files.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    dir: PathBuf,
}

impl MemoryStore {
    pub fn new(memories_dir: &Path) -> Self {
        Self { dir: memories_dir.to_owned() }
    }

    fn path(&self, file: MemoryFile) -> PathBuf {
        self.dir.join(file.file_name())
    }

    /// The file's text ("" when it does not exist).
    pub fn read(&self, file: MemoryFile) -> Result<String, MemoryError> {
        Ok(fsio::read_optional(&self.path(file))?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default())
    }

    /// Appends an entry.
    pub fn add(&self, file: MemoryFile, entry: &str) -> Result<String, MemoryError> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(MemoryError::Empty);
        }
        self.change(file, |text| {
            if entries(text).any(|e| e == entry) {
                return Err(MemoryError::Duplicate { file });
            }
            Ok(if text.trim().is_empty() {
                entry.to_owned()
            } else {
                format!("{}{ENTRY_DELIMITER}{entry}", text.trim_end())
            })
        })
    }

    /// Replaces the one entry containing `needle` with `entry`.
    pub fn replace(&self, file: MemoryFile, needle: &str, entry: &str) -> Result<String, MemoryError> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(MemoryError::Empty);
        }
        self.change(file, |text| {
            let at = unique_entry(file, text, needle)?;
            Ok(rebuild(text, |i, e| if i == at { Some(entry.to_owned()) } else { Some(e.to_owned()) }))
        })
    }

    /// Removes the one entry containing `needle`.
    pub fn remove(&self, file: MemoryFile, needle: &str) -> Result<String, MemoryError> {
        self.change(file, |text| {
            let at = unique_entry(file, text, needle)?;
            Ok(rebuild(text, |i, e| (i != at).then(|| e.to_owned())))
        })
    }

    /// Read-modify-write under `memories/.memory.lock`, refusing what would pass the limit.
    fn change(
        &self,
        file: MemoryFile,
        edit: impl FnOnce(&str) -> Result<String, MemoryError>,
    ) -> Result<String, MemoryError> {
        fsio::ensure_private_dir(&self.dir)?;
        let _lock = fsio::lock_exclusive(&self.dir.join(".memory.lock"))?;
        let current = self.read(file)?;
        let new = edit(&current)?;
        if let Some(limit) = file.limit() {
            let len = new.chars().count();
            if len > limit {
                return Err(MemoryError::TooLong { file, len, limit });
            }
        }
        if new != current {
            fsio::write_atomic(&self.path(file), fsio::SECRET_FILE, new.as_bytes())?;
        }
        Ok(new)
    }
}

/// The entries of a memory file's text, trimmed, empty ones skipped.
pub fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.split(ENTRY_DELIMITER).map(str::trim).filter(|e| !e.is_empty())
}

fn unique_entry(file: MemoryFile, text: &str, needle: &str) -> Result<usize, MemoryError> {
    let needle = needle.trim();
    let hits: Vec<usize> = entries(text)
        .enumerate()
        .filter(|(_, e)| !needle.is_empty() && e.contains(needle))
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(MemoryError::NotFound { file, needle: needle.to_owned() }),
        many => Err(MemoryError::Ambiguous { file, needle: needle.to_owned(), count: many.len() }),
    }
}

fn rebuild(text: &str, mut keep: impl FnMut(usize, &str) -> Option<String>) -> String {
    let kept: Vec<String> = entries(text).enumerate().filter_map(|(i, e)| keep(i, e)).collect();
    kept.join(ENTRY_DELIMITER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, MemoryStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryStore::new(&dir.path().join("memories"));
        (dir, store)
    }

    #[test]
    fn adds_replaces_and_removes_entries_with_the_section_delimiter() {
        let (_d, m) = store();
        m.add(MemoryFile::User, "Name: Jane").unwrap();
        m.add(MemoryFile::User, "Lives in Lisbon").unwrap();
        assert_eq!(m.read(MemoryFile::User).unwrap(), "Name: Jane\n§\nLives in Lisbon");
        assert!(matches!(m.add(MemoryFile::User, "Lives in Lisbon"), Err(MemoryError::Duplicate { .. })));
        m.replace(MemoryFile::User, "Lisbon", "Lives in Porto").unwrap();
        assert_eq!(m.read(MemoryFile::User).unwrap(), "Name: Jane\n§\nLives in Porto");
        m.remove(MemoryFile::User, "Name").unwrap();
        assert_eq!(m.read(MemoryFile::User).unwrap(), "Lives in Porto");
        assert!(matches!(m.remove(MemoryFile::User, "Berlin"), Err(MemoryError::NotFound { .. })));
        assert_eq!(fsio::mode_of(&m.path(MemoryFile::User)), Some(0o600));
    }

    #[test]
    fn limits_hold_for_user_and_memory_but_not_agent() {
        let (_d, m) = store();
        let long = "x".repeat(2990);
        m.add(MemoryFile::User, &long).unwrap();
        let err = m.add(MemoryFile::User, "one more fact").unwrap_err().to_string();
        assert!(err.contains("USER.md would be 3006 of 3000"), "{err}");
        assert_eq!(m.read(MemoryFile::User).unwrap(), long, "a refused change leaves the file as it was");
        m.add(MemoryFile::Agent, &"y".repeat(9000)).unwrap();
        m.add(MemoryFile::Memory, &"z".repeat(5000)).unwrap();
    }

    #[test]
    fn ambiguous_needles_are_refused() {
        let (_d, m) = store();
        m.add(MemoryFile::Memory, "repo uses pytest").unwrap();
        m.add(MemoryFile::Memory, "repo lives in ~/src").unwrap();
        let err = m.remove(MemoryFile::Memory, "repo").unwrap_err().to_string();
        assert!(err.contains("2 entries"), "{err}");
    }

    #[test]
    fn reads_files_written_by_the_original() {
        let (_d, m) = store();
        std::fs::create_dir_all(&m.dir).unwrap();
        std::fs::write(m.path(MemoryFile::Memory), "first fact\n§\nsecond fact\n").unwrap();
        m.add(MemoryFile::Memory, "third fact").unwrap();
        assert_eq!(
            entries(&m.read(MemoryFile::Memory).unwrap()).collect::<Vec<_>>(),
            ["first fact", "second fact", "third fact"]
        );
        assert_eq!(MemoryFile::parse("user"), Some(MemoryFile::User));
        assert_eq!(MemoryFile::parse("MEMORY.md"), Some(MemoryFile::Memory));
        assert_eq!(MemoryFile::parse("secrets"), None);
    }
}
