//! schedule/jobs.json and runs.json as the scheduler reads them (bytes before the first
//! NUL are jobs.json, after it runs.json).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (jobs, runs) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let store = alpi::schedule::store::Store::new(dir.path());
    std::fs::create_dir_all(store.jobs_path().parent().unwrap()).unwrap();
    std::fs::write(store.jobs_path(), jobs).unwrap();
    std::fs::write(store.runs_path(), runs).unwrap();
    let _ = store.read();
});
