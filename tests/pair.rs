//! `alpi pair`: the printed line, run verbatim on the other side, pins this profile —
//! across two "machines" over ALP.2 and between two profiles of one machine.

mod common;

use common::Sandbox;

/// The last line `alpi pair` prints, split into the arguments after `alpi`.
fn pairing_line(out: &str) -> Vec<String> {
    let line = out.lines().last().unwrap_or_default();
    let mut words = line.split_whitespace().map(str::to_owned);
    assert_eq!(words.next().as_deref(), Some("alpi"), "{out}");
    words.collect()
}

fn run_line(sb: &Sandbox, args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sb.ok(&args);
}

/// A free loopback port for a daemon to listen on.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn two_machines_pair_by_copy_paste_and_ping_both_ways() {
    let (laptop, pi) = (Sandbox::new(), Sandbox::new());
    let mut daemons = Vec::new();
    let mut lines = Vec::new();
    for (sb, name) in [(&laptop, "laptop"), (&pi, "pi")] {
        let port = free_port();
        std::fs::create_dir_all(sb.root()).unwrap();
        std::fs::write(
            sb.root().join("config.yaml"),
            format!("network:\n  host: 127.0.0.1\nalp:\n  tcp_port: {port}\n"),
        )
        .unwrap();
        let out = sb.ok(&["pair", "--id", name]).stdout;
        let key = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
        assert!(out.contains(&format!("identity {key} ({}…{})", &key[..8], &key[40..])), "{out}");
        assert!(out.contains(&format!("address  127.0.0.1:{port}")), "{out}");
        let line = pairing_line(&out);
        assert_eq!(
            line.join(" "),
            format!("peers add {name} {key} --address 127.0.0.1:{port} --allow link.ping,link.ask")
        );
        lines.push(line);
        daemons.push(sb.daemon(&[]));
    }
    run_line(&pi, &lines[0]);
    run_line(&laptop, &lines[1]);
    let out = laptop.ok(&["peers", "ping", "pi"]).stdout;
    assert!(out.starts_with("pong from default") && out.contains("via tcp 127.0.0.1:"), "{out}");
    let out = pi.ok(&["peers", "ping", "laptop"]).stdout;
    assert!(out.contains("via tcp 127.0.0.1:"), "{out}");
}

#[test]
fn profiles_on_one_machine_pair_without_an_address() {
    let sb = Sandbox::new();
    sb.ok(&["profile", "create", "work"]);
    let out = sb.ok(&["-p", "work", "pair", "--allow", "link.ping"]).stdout;
    assert!(out.contains("address  none"), "{out}");
    let line = pairing_line(&out);
    assert!(!line.contains(&"--address".to_owned()) && line[2] == "work", "{line:?}");
    run_line(&sb, &line);
    let back = pairing_line(&sb.ok(&["pair", "--on", "work", "--allow", "link.ping"]).stdout);
    assert_eq!(&back[..4], ["-p", "work", "peers", "add"]);
    run_line(&sb, &back);
    let _daemon = sb.daemon(&[]);
    assert!(sb.ok(&["peers", "ping", "work"]).stdout.starts_with("pong from work · version=1"));
    assert!(sb.ok(&["-p", "work", "peers", "ping", "default"]).stdout.starts_with("pong from default"));
}

#[test]
fn a_wildcard_host_needs_an_explicit_address() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.root()).unwrap();
    std::fs::write(sb.root().join("config.yaml"), "network:\n  host: 0.0.0.0\n").unwrap();
    let run = sb.run(&["pair"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("pass --address HOST:PORT"), "{}", run.stderr);
    let out = sb.ok(&["pair", "--address", "pi.lan:7423", "--id", "pi"]).stdout;
    assert!(out.trim_end().ends_with("--address pi.lan:7423 --allow link.ping,link.ask"), "{out}");
}
