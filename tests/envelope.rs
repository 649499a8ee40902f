//! Envelopes against the original alpi: its signed envelopes authenticate here, and
//! ours authenticate under Python's own `json` and libsodium (the `#[ignore]`d test,
//! which `.ci/run` runs after installing PyNaCl).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use alpi::alp::identity::Keypair;
use alpi::alp::wire::envelope::{self, Drop, RpcError, Stream};
use alpi::clock::parse_iso8601;
use alpi::json::{self, Object, Value};

fn vectors(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(rel);
    json::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn the_original_alpis_envelopes_authenticate() {
    let doc = vectors("original/envelopes.json");
    let now = parse_iso8601(doc.get("verify_now").and_then(Value::as_str).unwrap()).unwrap();
    let cases = doc.get("envelopes").and_then(Value::as_array).unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case.get("name").and_then(Value::as_str).unwrap();
        let line = unhex(case.get("wire_unix_line_hex").and_then(Value::as_str).unwrap());
        let line = line.strip_suffix(b"\n").unwrap();
        let env = envelope::authenticate(line, now).unwrap_or_else(|d| panic!("{name}: {d}"));
        let original = case.get("envelope").unwrap();
        let alp = original.get("alp").unwrap();
        assert_eq!(env.from.to_string(), alp.get("from").and_then(Value::as_str).unwrap(), "{name}");
        assert_eq!(env.to.to_string(), alp.get("to").and_then(Value::as_str).unwrap(), "{name}");
        assert_eq!(env.id(), original.get("id").unwrap(), "{name}");
        match name {
            "response_stream_chunk" => assert_eq!(env.stream(), Some(Stream::Chunk)),
            "response_stream_final" => assert_eq!(env.stream(), Some(Stream::Final)),
            "response_error_capability_denied" => {
                let err = env.reply().unwrap().unwrap_err();
                assert_eq!((err.code, err.message.as_str()), (-32001, "capability-denied"));
            }
            _ => assert!(env.method().is_some(), "{name}"),
        }
        // One flipped byte anywhere in the signed content breaks it.
        let tampered = String::from_utf8(line.to_vec()).unwrap().replacen(
            "\"jsonrpc\":\"2.0\"",
            "\"jsonrpc\":\"2.1\"",
            1,
        );
        assert_eq!(envelope::authenticate(tampered.as_bytes(), now).unwrap_err(), Drop::Signature, "{name}");
        assert_eq!(envelope::authenticate(line, now + 121_000_000).unwrap_err(), Drop::Skew, "{name}");
    }
}

/// Envelopes with every awkward kind of content, signed by our code.
fn our_envelopes() -> Vec<Vec<u8>> {
    let alice = Keypair::from_seed([1; 32]);
    let bob = Keypair::from_seed([2; 32]);
    let now = alpi::clock::now_micros();
    let awkward = Object::new()
        .with(
            "prompt",
            "héllo — 日本語 🚀 \"quoted\" back\\slash slash/ nl\n tab\t nul\u{0} del\u{7f} ls\u{2028}",
        )
        .with("zeta", 1)
        .with("Alpha", 2)
        .with("é", 3)
        .with(
            "floats",
            vec![
                Value::from(0.1),
                Value::from(1.0),
                Value::from(1e-5),
                Value::from(1e16),
                Value::from(123456789.123),
                Value::from(-0.0),
                Value::from(1.5e300),
            ],
        )
        .with(
            "ints",
            vec![
                Value::from(0),
                Value::from(-1),
                Value::from(u64::MAX),
                json::parse(b"18446744073709551616").unwrap(),
            ],
        )
        .with(
            "nested",
            Object::new().with("b", vec![Value::Null, Value::from(true)]).with("a", Object::new()),
        )
        .with("stream", true);
    let id = Value::from("00112233445566778899aabbccddeeff");
    let mut out = vec![
        envelope::request(&alice, bob.identity(), "abc", "link.ask", awkward.clone(), now),
        envelope::request(&alice, bob.identity(), "def", "link.ping", Object::new(), now),
        envelope::response(&bob, alice.identity(), &id, Ok(awkward), Some(Stream::Chunk), now),
        envelope::response(
            &bob,
            alice.identity(),
            &id,
            Ok(Object::new().with("cost", 0.0)),
            Some(Stream::Final),
            now,
        ),
        envelope::response(
            &bob,
            alice.identity(),
            &id,
            Err(RpcError::new(-32001, "capability-denied", Object::new().with("method", "link.ask"))),
            None,
            now,
        ),
    ]
    .into_iter()
    .map(|e| Value::Object(e).wire())
    .collect::<Vec<_>>();
    for line in &mut out {
        assert!(envelope::authenticate(line, now).is_ok(), "our own envelopes authenticate here");
        line.push(b'\n');
    }
    out
}

#[test]
fn our_envelopes_authenticate_here() {
    assert_eq!(our_envelopes().len(), 5);
}

#[test]
#[ignore = "needs python3 with PyNaCl; .ci/run installs it and runs this"]
fn our_envelopes_verify_under_python_json_and_libsodium() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/verify_python.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 on PATH");
    let lines = our_envelopes();
    child.stdin.take().unwrap().write_all(&lines.concat()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python refused our envelopes: {stderr}");
    assert!(stderr.contains("verified 5 envelopes"), "{stderr}");
    // Python's canonical text is byte-for-byte what we signed.
    let python: Vec<&[u8]> = out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    for (line, theirs) in lines.iter().zip(python) {
        let mut parsed = json::parse(line).unwrap();
        parsed.as_object_mut().unwrap().get_mut("alp").unwrap().as_object_mut().unwrap().remove("sig");
        assert_eq!(parsed.canonical(), theirs);
    }
}
