//! Canonical JSON against Python: the original alpi's envelope and float vectors
//! (tests/vectors/original), Python `json.dumps` + PyNaCl vectors (tests/vectors/python,
//! from gen_canonical.py), and round-trip properties checked against serde_json.

use std::fs;
use std::path::Path;
use std::str::FromStr;

use alpi::alp::identity::{Identity, Keypair};
use alpi::json::{Int, Object, Value, parse, python_float_repr};
use base64ct::{Base64, Encoding};
use proptest::prelude::*;

fn vectors(rel: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(rel);
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("vector field {key}"))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn signature(b64: &str) -> [u8; 64] {
    let mut out = [0u8; 64];
    assert_eq!(Base64::decode(b64, &mut out).unwrap().len(), 64);
    out
}

#[test]
fn original_envelopes_canonicalise_byte_for_byte() {
    let doc = vectors("original/envelopes.json");
    let envelopes = doc["envelopes"].as_array().unwrap();
    assert!(envelopes.len() >= 5);
    for vector in envelopes {
        let name = field(vector, "name");
        let line = unhex(field(vector, "wire_unix_line_hex"));
        let line = line.strip_suffix(b"\n").expect("a Unix wire line ends in a newline");
        let mut envelope = parse(line).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(envelope.wire(), line, "{name}: wire form");

        let alp = envelope.as_object_mut().and_then(|o| o.get_mut("alp")).and_then(Value::as_object_mut);
        let sig = alp.unwrap().remove("sig").and_then(|s| s.as_str().map(signature)).unwrap();
        let canonical = envelope.canonical();
        assert_eq!(canonical, unhex(field(vector, "canonical_hex")), "{name}: canonical bytes");
        assert_eq!(canonical, field(vector, "canonical_text").as_bytes(), "{name}: canonical text");

        let from = envelope.get("alp").and_then(|a| a.get("from")).and_then(Value::as_str).unwrap();
        assert!(Identity::from_str(from).unwrap().verifies(&canonical, &sig), "{name}: signature");
        assert_eq!(sig, signature(field(vector, "signature_b64")), "{name}");
    }
}

#[test]
fn original_float_reprs() {
    let doc = vectors("original/float_repr.json");
    let table = doc.as_object().unwrap();
    assert!(table.len() >= 10);
    for (text, repr) in table {
        let f: f64 = text.parse().unwrap();
        assert_eq!(python_float_repr(f), repr.as_str().unwrap(), "{text}");
    }
}

#[test]
fn python_json_dumps_vectors() {
    let doc = vectors("python/canonical.json");
    let seed: [u8; 32] = unhex(field(&doc, "signer_seed_hex")).try_into().unwrap();
    let keys = Keypair::from_seed(seed);
    assert_eq!(keys.identity().to_string(), field(&doc, "signer_public_b64"));
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 25);
    for case in cases {
        let name = field(case, "name");
        let wire = field(case, "value_wire");
        let value = parse(wire.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(String::from_utf8(value.wire()).unwrap(), wire, "{name}: wire form");
        let canonical = value.canonical();
        assert_eq!(canonical, unhex(field(case, "canonical_hex")), "{name}: canonical bytes");
        assert_eq!(canonical, field(case, "canonical_text").as_bytes(), "{name}: canonical text");
        let sig = keys.sign(&canonical);
        assert_eq!(sig, signature(field(case, "signature_b64")), "{name}: signature");
        assert!(keys.identity().verifies(&canonical, &sig));
    }
}

/// Characters biased towards the ones escaping and key sorting get wrong.
fn text() -> impl Strategy<Value = String> {
    const TRICKY: &[char] =
        &['"', '\\', '/', '\u{7f}', '\u{a0}', '\u{2028}', '\u{feff}', 'é', '日', '\u{ff61}', '🚀'];
    let ch = prop_oneof![
        any::<char>(),
        (0u8..0x20).prop_map(char::from),
        prop::sample::select(TRICKY),
        prop::char::range('a', 'e'),
    ];
    prop::collection::vec(ch, 0..10).prop_map(String::from_iter)
}

fn big_int() -> impl Strategy<Value = Int> {
    (any::<u128>(), any::<bool>()).prop_map(|(n, negative)| {
        let sign = if negative { "-" } else { "" };
        format!("{sign}{n}").parse().unwrap()
    })
}

fn finite_float() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), any::<u64>().prop_map(f64::from_bits)].prop_filter("finite", |f| f.is_finite())
}

/// Nested values up to 4 levels; `exotic` adds floats and ints beyond i64, which
/// serde_json cannot hold exactly.
fn value(exotic: bool) -> impl Strategy<Value = Value> {
    let plain = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    let leaf = if exotic {
        prop_oneof![
            3 => plain,
            1 => any::<u64>().prop_map(Value::from),
            1 => big_int().prop_map(Value::from),
            2 => finite_float().prop_map(Value::from),
        ]
        .boxed()
    } else {
        plain.boxed()
    };
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((text(), inner), 0..6).prop_map(|fields| Value::from(
                fields.into_iter().fold(Object::new(), |o, (k, v)| o.with(k, v))
            )),
        ]
    })
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        Value::Object(object) => {
            let mut fields: Vec<_> = object.iter().collect();
            fields.sort_by_key(|(k, _)| *k);
            Value::from(fields.into_iter().fold(Object::new(), |o, (k, v)| o.with(k, sorted(v))))
        }
        other => other.clone(),
    }
}

fn to_serde(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(n) => n.as_i64().expect("plain values hold i64 only").into(),
        Value::Float(_) => unreachable!("plain values hold no floats"),
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => items.iter().map(to_serde).collect(),
        Value::Object(object) => object.iter().map(|(k, v)| (k.to_owned(), to_serde(v))).collect(),
    }
}

proptest! {
    #[test]
    fn canonical_is_idempotent_and_wire_round_trips(v in value(true)) {
        let canonical = v.canonical();
        prop_assert_eq!(&parse(&canonical).unwrap().canonical(), &canonical);
        prop_assert_eq!(&parse(&v.wire()).unwrap(), &v);
        prop_assert_eq!(&sorted(&v).wire(), &canonical);
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&canonical).is_ok());
    }

    #[test]
    fn serde_json_reads_the_same_structure(v in value(false)) {
        let canonical = v.canonical();
        let theirs: serde_json::Value = serde_json::from_slice(&canonical).unwrap();
        prop_assert_eq!(&theirs, &to_serde(&v));
        // serde_json escapes exactly like Python here; its maps come back in key order.
        prop_assert_eq!(serde_json::to_vec(&theirs).unwrap(), canonical);
    }

    #[test]
    fn float_repr_round_trips_exactly(f in finite_float()) {
        let repr = python_float_repr(f);
        prop_assert_eq!(repr.parse::<f64>().unwrap().to_bits(), f.to_bits());
        prop_assert_eq!(&parse(repr.as_bytes()).unwrap(), &Value::Float(f));
    }
}
