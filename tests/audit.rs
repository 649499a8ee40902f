//! The audit hub end to end: an employee's daemon forwards its agent and approval log
//! records to a hub daemon over ALP.2 (`audit.push`), survives the hub being killed
//! mid-traffic, and every record lands exactly once; a re-send after a lost cursor is
//! deduplicated; an unlisted sender is refused; `alpi audit-log tail` shows them.
//!
//! `ALPI_AUDIT_OUTAGE_S` sets how long the hub stays dead (default 3; the soak
//! form is 30).

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use alpi::json::{self, Value};
use common::{Daemon, Sandbox, eventually};
use fake_openai::{Canned, fake_provider, final_stream};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn key(sb: &Sandbox) -> String {
    sb.ok(&["peers", "key"]).stdout.trim().to_owned()
}

/// The hub: the default profile of its own home, listening on `port`.
fn hub(port: u16) -> Sandbox {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.root()).unwrap();
    std::fs::write(
        sb.root().join("config.yaml"),
        format!("network:\n  host: 127.0.0.1\nalp:\n  tcp_port: {port}\n"),
    )
    .unwrap();
    sb
}

/// A hub and an employee forwarding to it; the hub pins the employee as `laptop`
/// allowing `allow`.
fn hub_and_employee(fake_port: u16, allow: &str) -> (Sandbox, Sandbox) {
    let port = free_port();
    let hub_sb = hub(port);
    let emp = employee(fake_port, &key(&hub_sb), port, "");
    hub_sb.ok(&["peers", "add", "laptop", &key(&emp), "--allow", allow]);
    (hub_sb, emp)
}

/// The employee pins the hub at `127.0.0.1:port` and forwards to it (`extra` goes into
/// config.yaml too).
fn employee(fake_port: u16, hub_key: &str, port: u16, extra: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.configure_fake_model(fake_port, &format!("audit:\n  hub: hub\n{extra}"));
    sb.ok(&["peers", "add", "hub", hub_key, "--address", &format!("127.0.0.1:{port}")]);
    sb.set_env("ALPI_AUDIT_POLL_MS", "100");
    sb
}

fn stored(hub: &Sandbox, log: &str) -> Vec<Value> {
    let path = hub.root().join(format!("audit/laptop/{log}.jsonl"));
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // Complete lines only: the hub may be appending right now.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete.lines().map(|l| json::parse(l.as_bytes()).unwrap()).collect()
}

fn field(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Appends lines to a log the way the agent does: one whole line per write.
fn append(path: &std::path::Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

fn approval_line(n: usize) -> String {
    let verdict = if n.is_multiple_of(2) { "ALLOW" } else { "DENY" };
    format!(
        "{} INFO alpi.approval {verdict} severity=caution pattern='rm' reason='user' cmd='rm /tmp/x{n}'",
        alpi::clock::UtcTime::now().iso_millis()
    )
}

fn agent_line(n: usize) -> String {
    format!(
        "{} INFO alpi.agent surface=cli session=0000000000{n:02} steps=1 tools= tokens_in=1 tokens_out=1 cost=0.000000 prompt=\"n{n}\"",
        alpi::clock::UtcTime::now().iso_millis()
    )
}

/// Every line of the employee's log, in order.
fn source_lines(sb: &Sandbox, log: &str) -> Vec<String> {
    let text = std::fs::read_to_string(sb.root().join(format!("logs/{log}.log"))).unwrap_or_default();
    text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// Checks the hub holds exactly the employee's lines, in order, each id once.
fn assert_exactly_once(hub: &Sandbox, employee: &Sandbox, log: &str) {
    let records = stored(hub, log);
    let ids: BTreeSet<String> = records.iter().map(|r| field(r, "id")).collect();
    assert_eq!(ids.len(), records.len(), "{log}: a record id stored twice");
    let lines: Vec<String> = records.iter().map(|r| field(r, "line")).collect();
    assert_eq!(lines, source_lines(employee, log), "{log}: stored lines differ from the log");
    for (n, r) in records.iter().enumerate() {
        assert!(field(r, "id").ends_with(&format!("-{log}-{}", n + 1)), "{r:?}");
    }
}

fn hub_daemon(hub: &Sandbox) -> Daemon {
    hub.daemon(&[])
}

#[test]
fn records_arrive_exactly_once_across_a_hub_outage_and_a_resend() {
    let outage: u64 = std::env::var("ALPI_AUDIT_OUTAGE_S").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let fake = fake_provider(vec![Canned::ok(final_stream("done"))]);
    let (hub_sb, emp) = hub_and_employee(fake.port, "audit.push");

    let mut hub_d = hub_daemon(&hub_sb);
    let _emp_d = emp.daemon(&[]);
    // A real turn writes the first agent.log line.
    let run = emp.run(&["chat", "--once", "hello"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(eventually(20, || stored(&hub_sb, "agent").len() == 1), "the turn's record did not arrive");
    assert!(field(&stored(&hub_sb, "agent")[0], "line").contains("alpi.agent surface=cli"));
    // The cursor is saved just after the hub's answer.
    let cursor_path = emp.root().join("audit/cursor.json");
    let saved = || std::fs::read_to_string(&cursor_path).is_ok_and(|c| c.contains("\"seq\":1}"));
    assert!(eventually(10, saved), "the cursor was not saved after the first record");
    let early_cursor = std::fs::read(&cursor_path).unwrap();

    // Traffic, with the hub killed in the middle of it.
    let logs = emp.root().join("logs");
    let (agent_n, approval_n) = (240, 60);
    let writer = {
        let logs = logs.clone();
        std::thread::spawn(move || {
            for n in 0..agent_n {
                append(&logs.join("agent.log"), &agent_line(n));
                if n.is_multiple_of(4) {
                    append(&logs.join("approval.log"), &approval_line(n / 4));
                }
                std::thread::sleep(Duration::from_millis(8));
            }
        })
    };
    assert!(eventually(20, || stored(&hub_sb, "agent").len() > 20), "no traffic reached the hub");
    hub_d.child.kill().unwrap();
    hub_d.child.wait().unwrap();
    let during = stored(&hub_sb, "agent").len();
    std::thread::sleep(Duration::from_secs(outage));
    writer.join().unwrap();
    assert!(stored(&hub_sb, "agent").len() == during, "nothing can arrive while the hub is dead");
    let _hub_d = hub_daemon(&hub_sb);
    let complete =
        || stored(&hub_sb, "agent").len() == agent_n + 1 && stored(&hub_sb, "approval").len() == approval_n;
    assert!(eventually(60, complete), "after the outage: {} agent records", stored(&hub_sb, "agent").len());
    assert_exactly_once(&hub_sb, &emp, "agent");
    assert_exactly_once(&hub_sb, &emp, "approval");
    // The recovery is logged once the round that delivered the rest is over.
    let service = || std::fs::read_to_string(logs.join("service.log")).unwrap();
    assert!(eventually(10, || service().contains("reachable again after ")), "{}", service());
    let service = service();
    assert!(service.contains("cannot forward to hub hub"), "{service}");
    let retried = service
        .split("reachable again after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no recovery logged: {service}"));
    assert!(retried >= 2, "the forwarder should have failed and retried during the outage: {retried}");

    // A crash between delivery and saving the cursor: the employee comes back with an
    // old cursor and re-sends — the hub stores nothing twice.
    drop(_emp_d);
    let final_cursor = std::fs::read(emp.root().join("audit/cursor.json")).unwrap();
    std::fs::write(emp.root().join("audit/cursor.json"), &early_cursor).unwrap();
    let _emp_d = emp.daemon(&[]);
    let cursor = || std::fs::read(emp.root().join("audit/cursor.json")).unwrap();
    assert!(eventually(30, || cursor() == final_cursor), "the employee did not re-send up to its end");
    assert_exactly_once(&hub_sb, &emp, "agent");
    assert_exactly_once(&hub_sb, &emp, "approval");
    let hub_service = std::fs::read_to_string(hub_sb.root().join("logs/service.log")).unwrap();
    assert!(hub_service.contains("audit.push from laptop · ok"), "{hub_service}");

    // The hub's view.
    let tail = hub_sb.ok(&["audit-log", "tail", "-n", "5"]).stdout;
    assert_eq!(tail.lines().count(), 5, "{tail}");
    assert!(tail.lines().all(|l| l.starts_with("laptop ")), "{tail}");
    let approvals = hub_sb.ok(&["audit-log", "tail", "--approvals", "--peer", "laptop", "-n", "1000"]).stdout;
    assert_eq!(approvals.lines().count(), approval_n, "{approvals}");
    assert!(approvals.lines().all(|l| l.contains("alpi.approval")), "{approvals}");
    let nobody = hub_sb.run(&["audit-log", "tail", "--peer", "stranger"]);
    assert_eq!(nobody.code, 1);
    assert!(nobody.stderr.contains("no audit records from \"stranger\""), "{}", nobody.stderr);
}

#[test]
fn a_sender_without_audit_push_in_its_allow_list_is_refused() {
    let fake = fake_provider(vec![]);
    let (hub_sb, emp) = hub_and_employee(fake.port, "link.ping");
    let _hub_d = hub_daemon(&hub_sb);
    append(&emp.root().join("logs/agent.log"), &agent_line(1));
    let _emp_d = emp.daemon(&[]);
    let service = || std::fs::read_to_string(emp.root().join("logs/service.log")).unwrap_or_default();
    assert!(
        eventually(20, || service()
            .contains("hub refused: -32001 capability-denied {\"method\":\"audit.push\"}")),
        "{}",
        service()
    );
    assert!(stored(&hub_sb, "agent").is_empty());
    let cursor = std::fs::read_to_string(emp.root().join("audit/cursor.json")).unwrap_or_default();
    assert!(!cursor.contains("\"seq\":1"), "a refused batch must not move the cursor: {cursor}");
}

/// A real rsyslogd on loopback, writing what it receives as RFC 5424 lines to a file;
/// killed when dropped.
struct Rsyslog {
    child: std::process::Child,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rsyslogd() -> Option<std::path::PathBuf> {
    let found = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd", "/usr/local/sbin/rsyslogd"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "rsyslogd is missing on CI: .ci/run installs rsyslog");
        eprintln!("SKIPPED: rsyslogd not installed (apt-get install rsyslog) — the syslog test did not run");
    }
    found
}

fn start_rsyslog(binary: &std::path::Path, port: u16) -> Rsyslog {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.log");
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imtcp\")\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"alpi\")\n\
             ruleset(name=\"alpi\") {{ action(type=\"omfile\" file=\"{out}\" template=\"RSYSLOG_SyslogProtocol23Format\") }}\n",
            d = dir.path().display(),
            out = out.display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new(binary)
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("rsyslogd.pid"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Ready once it accepts connections (it has no other signal).
    let listening = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    assert!(eventually(20, listening), "rsyslogd did not listen on {port}");
    Rsyslog { child, out, _dir: dir }
}

/// `<log>-<seq>` (a record's id without its sink's epoch) → the RFC 5424 line
/// rsyslog wrote for it.
fn received(rsyslog: &Rsyslog) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(&rsyslog.out).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .filter_map(|l| {
            let id = l.split(" id=").nth(1)?.split(' ').next()?;
            Some((id.split_once('-')?.1.to_owned(), l.to_owned()))
        })
        .collect()
}

#[test]
fn syslog_receives_the_same_records_as_the_hub() {
    let Some(binary) = rsyslogd() else { return };
    let fake = fake_provider(vec![]);
    let syslog_port = free_port();
    let port = free_port();
    let hub_sb = hub(port);
    let extra = format!("logging:\n  syslog: tcp://127.0.0.1:{syslog_port}\n");
    let emp = employee(fake.port, &key(&hub_sb), port, &extra);
    hub_sb.ok(&["peers", "add", "laptop", &key(&emp), "--allow", "audit.push"]);
    let logs = emp.root().join("logs");
    for n in 0..30 {
        append(&logs.join("agent.log"), &agent_line(n));
    }
    for n in 0..7 {
        append(&logs.join("approval.log"), &approval_line(n));
    }
    let _hub_d = hub_daemon(&hub_sb);
    // The syslog server is not up yet: the forwarder fails, the hub still gets everything.
    let _emp_d = emp.daemon(&[]);
    assert!(eventually(20, || stored(&hub_sb, "agent").len() == 30 && stored(&hub_sb, "approval").len() == 7));
    let service = || std::fs::read_to_string(logs.join("service.log")).unwrap_or_default();
    assert!(eventually(20, || service().contains("cannot forward to syslog")), "{}", service());
    let rsyslog = start_rsyslog(&binary, syslog_port);
    assert!(
        eventually(60, || received(&rsyslog).len() == 37),
        "rsyslog got {} records",
        received(&rsyslog).len()
    );

    let at_hub: Vec<Value> = [stored(&hub_sb, "agent"), stored(&hub_sb, "approval")].concat();
    let got = received(&rsyslog);
    for record in &at_hub {
        let id = field(record, "id");
        let line =
            got.get(id.split_once('-').unwrap().1).unwrap_or_else(|| panic!("{record:?} not in {got:?}"));
        let (log, text) = (field(record, "log"), field(record, "line"));
        assert!(
            line.starts_with(if text.contains(" DENY ") {
                "<12>1 "
            } else if log == "agent" {
                "<14>1 "
            } else {
                "<13>1 "
            }),
            "{line}"
        );
        assert!(line.contains(&format!(" alpi {} {log} - profile=default id=", _emp_d.pid())), "{line}");
        assert!(line.ends_with(&text), "{line}\n{text}");
    }
}

#[test]
fn doctor_checks_the_hub_is_pinned_and_the_syslog_address() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.root()).unwrap();
    std::fs::write(sb.root().join("config.yaml"), "audit:\n  hub: hq\nlogging:\n  syslog: udp://logs:514\n")
        .unwrap();
    let run = sb.run(&["doctor", "--offline"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("audit hub") && run.stdout.contains("no peer called \"hq\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("only tcp://host:port is supported"), "{}", run.stdout);
    let hq = key(&Sandbox::new());
    sb.ok(&["peers", "add", "hq", &hq, "--address", "10.0.0.5:7423"]);
    std::fs::write(sb.root().join("config.yaml"), "audit:\n  hub: hq\nlogging:\n  syslog: tcp://logs\n")
        .unwrap();
    let out = sb.ok(&["doctor", "--offline"]).stdout;
    assert!(out.contains("hq (10.0.0.5:7423)") && out.contains("tcp logs:514"), "{out}");
}
