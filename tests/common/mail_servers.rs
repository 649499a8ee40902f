//! Real mail servers on loopback for the email gateway's tests and benchmark: Dovecot
//! (IMAP, STARTTLS and implicit TLS with the test certificate) and aiosmtpd (SMTP,
//! plain or STARTTLS with AUTH), each in a temp directory, stopped on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alpi::json::{self, Value};

pub const AGENT: &str = "agent@example.test";
pub const IMAP_PASSWORD: &str = "imap-secret";
pub const SMTP_PASSWORD: &str = "smtp-secret";
pub const OWNER: &str = "Jane.Doe@Example.TEST";
pub const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/tls/ca.pem");
pub const CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/tls/server.pem");
pub const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/tls/server.key");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn id(args: &[&str]) -> String {
    let out = Command::new("id").args(args).output().expect("run id");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

// --- Dovecot --------------------------------------------------------------------------

/// A Dovecot serving one INBOX on 127.0.0.1: IMAP with STARTTLS on `port`, implicit
/// TLS on `tls_port` (the test certificate for localhost and 127.0.0.1).
pub struct Dovecot {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    pub tls_port: u16,
}

impl Dovecot {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// With `extra` appended to the configuration.
    pub fn start_with(extra: &str) -> Self {
        let binary =
            ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"].into_iter().find(|p| Path::new(p).exists());
        let binary = binary.expect("dovecot is not installed: apt-get install -y dovecot-imapd");
        let dir = tempfile::tempdir().unwrap();
        let (port, tls_port) = (free_port(), free_port());
        std::fs::write(dir.path().join("passwd"), format!("{AGENT}:{{PLAIN}}{IMAP_PASSWORD}\n")).unwrap();
        let conf = dovecot_conf(dir.path(), port, tls_port) + extra;
        std::fs::write(dir.path().join("dovecot.conf"), conf).unwrap();
        let child = Command::new(binary)
            .args(["-F", "-c"])
            .arg(dir.path().join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dovecot");
        let dovecot = Self { dir, child, port, tls_port };
        let up = eventually(15, || TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "dovecot did not start: {}", dovecot.log());
        dovecot
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Delivers `message` into the INBOX (IMAP APPEND, as a mail server would).
    pub fn append(&self, message: &str) {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut until = |tag: &str| loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "dovecot hung up: {}", self.log());
            if line.starts_with(tag) {
                assert!(line.starts_with(&format!("{tag} OK")), "{line}");
                return;
            }
        };
        until("*");
        writer.write_all(format!("a LOGIN {AGENT} {IMAP_PASSWORD}\r\n").as_bytes()).unwrap();
        until("a");
        writer
            .write_all(format!("b APPEND INBOX {{{}+}}\r\n{message}\r\n", message.len()).as_bytes())
            .unwrap();
        until("b");
        writer.write_all(b"c LOGOUT\r\n").unwrap();
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// The configuration of an unprivileged Dovecot in `dir`. As root, Dovecot still needs
/// its own users for the login and mail processes (it refuses to run them as root).
fn dovecot_conf(dir: &Path, port: u16, tls_port: u16) -> String {
    let root = id(&["-u"]) == "0";
    let [internal, group, login, uid, gid] = match root {
        true => [
            "dovecot".into(),
            "dovecot".into(),
            "dovenull".into(),
            id(&["-u", "dovecot"]),
            id(&["-g", "dovecot"]),
        ],
        false => [id(&["-un"]), id(&["-gn"]), id(&["-un"]), id(&["-u"]), id(&["-g"])],
    };
    let mail = dir.join("mail");
    std::fs::create_dir(&mail).unwrap();
    if root {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&mail, uid.parse().ok(), gid.parse().ok()).unwrap();
    }
    let d = dir.display();
    format!(
        "protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 1
ssl = yes
ssl_cert = <{CERT}
ssl_key = <{KEY}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{d}/mail/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"
    )
}

// --- the SMTP server ------------------------------------------------------------------

/// aiosmtpd on 127.0.0.1 writing each message it takes to `outbox/NNN.json`.
const SMTP_SERVER: &str = r#"
import json, logging, os, ssl, sys, time
logging.disable(logging.CRITICAL)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

outbox, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]

class Outbox:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(outbox) if f.endswith(".json")])
        doc = {"from": envelope.mail_from, "to": envelope.rcpt_tos,
               "authenticated": bool(session.authenticated), "tls": session.ssl is not None,
               "data": (envelope.original_content or envelope.content).decode("utf-8", "replace")}
        with open(os.path.join(outbox, "incoming.tmp"), "w") as f:
            json.dump(doc, f)
        os.rename(os.path.join(outbox, "incoming.tmp"), os.path.join(outbox, "%03d.json" % n))
        return "250 OK"

def check(server, session, envelope, mechanism, data):
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (sys.argv[4].encode(), sys.argv[5].encode())
    return AuthResult(success=good)

options = {}
if mode == "starttls":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[6], sys.argv[7])
    options = dict(tls_context=context, require_starttls=True, authenticator=check, auth_required=True)
controller = Controller(Outbox(), hostname="127.0.0.1", port=port, **options)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

pub struct Smtp {
    outbox: tempfile::TempDir,
    child: Child,
    pub port: u16,
}

impl Smtp {
    /// `starttls`: the server requires STARTTLS and AUTH; otherwise it offers neither.
    pub fn start(starttls: bool) -> Self {
        let outbox = tempfile::tempdir().unwrap();
        let port = free_port();
        let mode = if starttls { "starttls" } else { "plain" };
        let mut child = Command::new("python3")
            .args(["-c", SMTP_SERVER])
            .arg(outbox.path())
            .args([&port.to_string(), mode, AGENT, SMTP_PASSWORD, CERT, KEY])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start: python3 -m pip install aiosmtpd");
        Self { outbox, child, port }
    }

    /// The messages received so far, oldest first.
    pub fn received(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.outbox.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| json::parse(&std::fs::read(p).unwrap()).unwrap()).collect()
    }

    pub fn wait_for(&self, count: usize) -> Vec<Value> {
        assert!(eventually(20, || self.received().len() >= count), "got {:?}", self.received());
        self.received()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `done` every 20 ms for up to `secs` seconds.
fn eventually(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}
