//! The daemon at rest with work configured, for ci/bench (`name value unit` lines):
//! three profiles with 10 scheduled jobs and no gateway; then 1,000 jobs (none due)
//! with the Telegram gateway long-polling a local Bot API stand-in that holds every
//! poll for its full 30 s, and the email gateway in IMAP IDLE on a real Dovecot (when
//! installed). Prints resident memory and the CPU time spent per idle hour, measured
//! over a shorter window (ALPI_BENCH_IDLE_SECS, default 90) and scaled.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/common/fake_openai.rs"]
mod fake_openai;
#[path = "../tests/common/mail_servers.rs"]
mod mail_servers;

use std::io::Write;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

/// A Bot API stand-in: every getUpdates is answered with nothing after 30 s.
fn idle_bot_api() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                fake_openai::read_request(&mut stream);
                std::thread::sleep(Duration::from_secs(30));
                let body = br#"{"ok":true,"result":[]}"#;
                let head =
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
            });
        }
    });
    port
}

/// CPU time of `pid`'s threads, in seconds, to the nanosecond (`/proc/…/schedstat`;
/// `stat`'s 10 ms ticks are too coarse for an idle minute).
fn cpu_seconds(pid: u32) -> f64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

struct Figures {
    rss: u64,
    peak: u64,
    cpu_per_hour: f64,
}

/// Three profiles, `jobs` jobs in the default one with `env` as its `.env`; the daemon
/// measured after the first tick has anchored every job.
fn idle_daemon(bin: &str, jobs: usize, env: &str, window: u64) -> Figures {
    let home = tempfile::tempdir().unwrap();
    let alpi = |args: &[&str]| {
        let ok =
            Command::new(bin).args(args).env("HOME", home.path()).env_remove("ALPI_HOME").output().unwrap();
        assert!(ok.status.success(), "{args:?}: {}", String::from_utf8_lossy(&ok.stderr));
    };
    alpi(&["peers", "key"]);
    alpi(&["profile", "create", "work"]);
    alpi(&["profile", "create", "family"]);
    let root = home.path().join(".alpi");
    std::fs::create_dir_all(root.join("schedule")).unwrap();
    std::fs::write(root.join("schedule/jobs.json"), common::jobs_json(jobs)).unwrap();
    std::fs::write(root.join(".env"), env).unwrap();

    let mut daemon = common::daemon(bin, home.path());
    std::thread::sleep(Duration::from_secs(5));
    let (cpu_before, rss) = (cpu_seconds(daemon.id()), common::vm_kib(daemon.id(), "VmRSS:"));
    std::thread::sleep(Duration::from_secs(window));
    let cpu = cpu_seconds(daemon.id()) - cpu_before;
    let peak = common::vm_kib(daemon.id(), "VmHWM:");
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    Figures { rss, peak, cpu_per_hour: cpu * 3600.0 / window as f64 }
}

fn main() {
    if common::listing() {
        return;
    }
    let window: u64 = std::env::var("ALPI_BENCH_IDLE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(90);
    let bin = common::bench_bin();
    let label = common::bench_label();

    let quiet = idle_daemon(&bin, 10, "", window);
    println!("rss.daemon{label}.3_profiles_10_jobs.idle {} KiB", quiet.rss);
    println!("cpu.daemon{label}.3_profiles_10_jobs.idle_hour {:.2} s", quiet.cpu_per_hour);

    let mut env = format!(
        "TELEGRAM_BOT_TOKEN=1:bench\nTELEGRAM_ALLOWED_CHAT_IDS=42\nTELEGRAM_API_BASE=http://127.0.0.1:{}\n",
        idle_bot_api()
    );
    let dovecot = std::path::Path::new("/usr/sbin/dovecot").exists().then(mail_servers::Dovecot::start);
    let gateways = match &dovecot {
        Some(d) => {
            env += &format!(
                "IMAP_ADDRESS={}\nIMAP_PASSWORD={}\nIMAP_HOST=127.0.0.1\nIMAP_PORT={}\nIMAP_SECURITY=plain\n\
                 SMTP_HOST=127.0.0.1\nSMTP_SECURITY=plain\nIMAP_ALLOWED_SENDERS=owner@example.test\n",
                mail_servers::AGENT,
                mail_servers::IMAP_PASSWORD,
                d.port
            );
            "telegram_email"
        }
        None => {
            eprintln!("jobs bench: no dovecot (apt-get install -y dovecot-imapd): Telegram only");
            "telegram"
        }
    };
    let busy = idle_daemon(&bin, 1_000, &env, window);
    println!("rss.daemon{label}.3_profiles_1000_jobs_{gateways}.idle {} KiB", busy.rss);
    println!("rss.daemon{label}.3_profiles_1000_jobs_{gateways}.max {} KiB", busy.peak);
    println!("cpu.daemon{label}.idle_hour {:.2} s", busy.cpu_per_hour);
}
