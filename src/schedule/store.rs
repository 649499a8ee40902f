//! `schedule/jobs.json` (definitions, a JSON array) and `schedule/runs.json` (per-id run
//! state), read and changed only under `schedule/jobs.lock`, written atomically — the
//! run state first, so a crash between the two never loses a run. A file that does not
//! parse is an error naming it and is left exactly as it is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::fsio;
use crate::json::{self, Object, Value};

/// Run-state fields: kept in runs.json, merged into each job on read.
const STATE_FIELDS: [&str; 5] =
    ["last_run_at", "last_run_status", "last_run_message", "last_ok_at", "first_seen_at"];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {why} — fix or move the file aside; alpi left it untouched", path.display())]
    Corrupt { path: PathBuf, why: String },
    #[error(transparent)]
    Io(#[from] fsio::Error),
}

/// A profile's schedule files.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(profile_dir: &Path) -> Self {
        Self { dir: profile_dir.join("schedule") }
    }

    pub fn jobs_path(&self) -> PathBuf {
        self.dir.join("jobs.json")
    }

    pub fn runs_path(&self) -> PathBuf {
        self.dir.join("runs.json")
    }

    /// Every job with its run state merged in.
    pub fn read(&self) -> Result<Vec<Object>, StoreError> {
        if !self.dir.is_dir() {
            return Ok(Vec::new());
        }
        let _lock = fsio::lock_exclusive(&self.dir.join("jobs.lock"))?;
        self.merged()
    }

    /// Changes the jobs under the lock: `change` gets them merged with their run state
    /// and returns what to keep (`None`: change nothing).
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<Object>) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        fsio::ensure_private_dir(&self.dir)?;
        let _lock = fsio::lock_exclusive(&self.dir.join("jobs.lock"))?;
        let old_runs = self.load(&self.runs_path(), "an object")?;
        let old_defs = self.load(&self.jobs_path(), "an array")?;
        let mut jobs = self.merged()?;
        let Some(out) = change(&mut jobs) else { return Ok(None) };
        let (defs, runs) = split(&jobs);
        let old = old_runs.as_ref().and_then(Value::as_object).map(Object::iter).into_iter().flatten();
        let union: Object =
            old.chain(runs.iter()).map(|(id, state)| (id.to_owned(), state.clone())).collect();
        let union = Value::Object(union);
        if Some(&union) != old_runs.as_ref() {
            self.write(&self.runs_path(), &union)?;
        }
        if Some(&defs) != old_defs.as_ref() {
            self.write(&self.jobs_path(), &defs)?;
        }
        let runs = Value::Object(runs);
        if runs != union {
            self.write(&self.runs_path(), &runs)?;
        }
        Ok(Some(out))
    }

    fn merged(&self) -> Result<Vec<Object>, StoreError> {
        let defs = self.load(&self.jobs_path(), "an array")?;
        let runs = self.load(&self.runs_path(), "an object")?;
        let runs: HashMap<&str, &Object> = match runs.as_ref().and_then(Value::as_object) {
            Some(runs) => runs.iter().filter_map(|(id, state)| Some((id, state.as_object()?))).collect(),
            None => HashMap::new(),
        };
        let defs = defs.as_ref().and_then(Value::as_array).unwrap_or_default();
        Ok(defs
            .iter()
            .filter_map(Value::as_object)
            .map(|def| {
                let mut job = def.clone();
                let state = runs.get(id_of(def)).copied();
                for key in STATE_FIELDS {
                    if let Some(v) = state.and_then(|s| s.get(key)).filter(|_| !job.contains_key(key)) {
                        job.insert(key, v.clone());
                    }
                }
                job
            })
            .collect())
    }

    /// The file's JSON, `None` when missing or empty; `Corrupt` when it does not parse
    /// or is not `expected` at the top.
    fn load(&self, path: &Path, expected: &str) -> Result<Option<Value>, StoreError> {
        let Some(bytes) = fsio::read_optional(path)? else { return Ok(None) };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let corrupt = |why: String| StoreError::Corrupt { path: path.to_owned(), why };
        let value = json::parse(&bytes).map_err(|e| corrupt(format!("not valid JSON ({e})")))?;
        let shape_ok = match expected {
            "an array" => value.as_array().is_some(),
            _ => value.as_object().is_some(),
        };
        if !shape_ok {
            return Err(corrupt(format!("expected {expected} at the top")));
        }
        Ok(Some(value))
    }

    fn write(&self, path: &Path, value: &Value) -> Result<(), StoreError> {
        Ok(fsio::write_atomic(path, fsio::SECRET_FILE, &value.pretty())?)
    }
}

pub fn id_of(job: &Object) -> &str {
    job.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// Definitions (state fields taken out) and the run state by id.
fn split(jobs: &[Object]) -> (Value, Object) {
    let mut runs = Vec::new();
    let defs = jobs
        .iter()
        .map(|job| {
            let mut def = job.clone();
            let mut state = Object::new();
            for key in STATE_FIELDS {
                if let Some(v) = def.remove(key) {
                    state.insert(key, v);
                }
            }
            if !state.is_empty() && !id_of(job).is_empty() {
                runs.push((id_of(job).to_owned(), Value::Object(state)));
            }
            Value::Object(def)
        })
        .collect();
    (Value::Array(defs), runs.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> Object {
        Object::new().with("id", id).with("kind", "cron").with("prompt", "hi").with("expression", "0 9 * * *")
    }

    #[test]
    fn state_lives_in_runs_json_and_merges_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store
            .update(|jobs| {
                let mut j = job("a1b2c3d4");
                j.insert("last_run_at", "2026-11-30T09:00:00Z");
                jobs.push(j);
                Some(())
            })
            .unwrap();
        let defs = std::fs::read_to_string(store.jobs_path()).unwrap();
        assert!(!defs.contains("last_run_at") && defs.starts_with("[\n  {"), "{defs}");
        let runs = std::fs::read_to_string(dir.path().join("schedule/runs.json")).unwrap();
        assert!(runs.contains("a1b2c3d4") && runs.contains("last_run_at"), "{runs}");
        let back = store.read().unwrap();
        assert_eq!(back[0].get("last_run_at").and_then(Value::as_str), Some("2026-11-30T09:00:00Z"));
        store.update(|jobs| jobs.pop().map(|_| ())).unwrap();
        let runs = std::fs::read_to_string(dir.path().join("schedule/runs.json")).unwrap();
        assert!(!runs.contains("a1b2c3d4"), "orphans pruned: {runs}");
    }

    #[test]
    fn a_corrupt_file_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        std::fs::create_dir_all(dir.path().join("schedule")).unwrap();
        std::fs::write(store.jobs_path(), "[{\"id\": \"x\",").unwrap();
        let err = store.read().unwrap_err().to_string();
        assert!(err.contains("jobs.json") && err.contains("not valid JSON"), "{err}");
        assert!(
            store
                .update(|jobs| {
                    jobs.clear();
                    Some(())
                })
                .is_err()
        );
        assert_eq!(std::fs::read_to_string(store.jobs_path()).unwrap(), "[{\"id\": \"x\",");
        std::fs::write(store.jobs_path(), "{}").unwrap();
        assert!(store.read().unwrap_err().to_string().contains("expected an array"));
    }
}
