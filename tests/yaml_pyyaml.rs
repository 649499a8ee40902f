//! Our YAML against PyYAML, the original alpi's: what we write, `yaml.safe_load` reads
//! back as the same values, and what `yaml.safe_dump` writes in any of its styles
//! (wrapped lines, flow, other indents, forced quoting and block scalars) we read back
//! the same. Skipped with a note when python3 has no PyYAML (`pip install pyyaml`).

use std::io::Write;
use std::process::{Command, Stdio};

use alpi::json::{self, Value};
use alpi::yaml;

/// Tricky values of every kind, as JSON (which both sides read the same way).
const VALUES: &str = r##"{
  "plain": "hello world",
  "bools": ["yes", "no", "on", "off", "true", "False", "y", "n", "~", "null", "NULL", ""],
  "numbers": ["123", "-1", "+1", "0x1F", "017", "08", "0o17", "0b101", "1_000", "1.5", "1.", ".5", "-.5",
              "1e5", "1.0e+5", ".inf", "-.Inf", ".nan", "12:30", "12:61", "1:30.5", "._", "0b_"],
  "dates": ["2024-01-31", "2024-01-31T10:00:00Z", "2024-1-1 1:02:03", "20240131", "2024-x"],
  "indicators": ["- x", "-x", "? x", "?x", ": x", ":x", "a: b", "a:b", "a:", "#c", "a #c", "a#c", "[a]",
                 "{a}", "a, b", "a]", "&a", "*a", "!a", "|", ">", "'q'", "\"q\"", "%x", "@x", "`x", "---",
                 "...", "--- x", "<<", "=", "-", "?", ":"],
  "spaces": [" lead", "trail ", "  both  ", "a  b", "tab\tin", "\ttab", " "],
  "breaks": ["a\nb", "a\n\nb", "trailing\n", "\nleading", "a \nb", "a\n b", "line1\nline2\n\n", "\r\n",
             "para one\n\n  indented\nback"],
  "unicode": ["é", "日本語", "🚀 rocket", "\u00a0nbsp", "\u2028ls", "\u0085nel", "\ufeffbom", "\u007fdel",
              "\u0001ctl", "\\back\\slash", "quote's \"both\""],
  "long": "a fairly long sentence that PyYAML wraps at its default width of eighty characters, again and again, to test folding",
  "long_quoted": "'quoted' and long: it needs quotes for the colon and it runs past eighty characters for certain",
  "ints": [0, -7, 9223372036854775807, 18446744073709551616, -18446744073709551616],
  "floats": [0.0, -0.0, 1.5, 1e20, 1e-7, 123456789.123, 5e-324, 1.7976931348623157e308, Infinity, -Infinity],
  "special": [null, true, false, [], {}, [[]], [{}], [null]],
  "nested": {"a": {"b": [1, {"c": [2, [3, {"d": null}]]}]}, "e": [{"f": 1, "g": [{"h": 2}]}], "i": {}},
  "keys": {"yes": 1, "123": 2, "": 3, "a: b": 4, "- x": 5, "é": 6, "a\nb": 7, " sp": 8, "#": 9, "x:y": 10}
}"##;

/// `safe_dump` keyword arguments that keep every value's type without tags.
const STYLES: &[&str] = &[
    "",
    "width=20",
    "indent=4",
    "default_flow_style=True",
    "default_flow_style=True, width=30",
    "default_flow_style=None",
    "allow_unicode=False",
];

/// Styles that would tag non-strings, so only used on a list of strings.
const STRING_STYLES: &[&str] =
    &["default_style='\"'", "default_style=\"'\"", "default_style='|'", "default_style='>'"];

const SCRIPT: &str = r#"
import json, sys, yaml
data = sys.stdin.read()
if sys.argv[1] == "load":
    print(json.dumps(yaml.safe_load(data), ensure_ascii=False))
elif sys.argv[1] == "text":
    print(yaml.safe_dump(json.loads(data), sort_keys=False, allow_unicode=True, width=float("inf")), end="")
else:
    value = json.loads(data)
    dumps = []
    for style in sys.argv[2:]:
        options = eval("dict(" + style + ")")
        options.setdefault("allow_unicode", True)
        text = yaml.safe_dump(value, sort_keys=False, **options)
        dumps.append([text, json.dumps(yaml.safe_load(text), ensure_ascii=False)])
    print(json.dumps(dumps))
"#;

fn python(args: &[&str], stdin: &str) -> String {
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 {args:?} failed on:\n{stdin}");
    String::from_utf8(out.stdout).unwrap()
}

fn has_pyyaml() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import yaml"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("note: skipped, python3 has no PyYAML (pip install pyyaml)");
    }
    found
}

fn values() -> Value {
    json::parse(VALUES.as_bytes()).unwrap()
}

/// Every string in the values, keys included.
fn strings(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::String(_) => out.push(value.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(object) => object.iter().for_each(|(k, v)| {
            out.push(Value::from(k));
            strings(v, out);
        }),
        _ => {}
    }
}

/// The path to the first place `a` and `b` differ, and what each holds there.
fn difference(a: &Value, b: &Value) -> String {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            let mut pairs = x.iter().zip(y).enumerate();
            pairs
                .find(|(_, (p, q))| p != q)
                .map(|(i, (p, q))| format!("[{i}]{}", difference(p, q)))
                .unwrap_or_default()
        }
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
            let mut keys = x.iter().zip(y.iter());
            match keys.find(|(p, q)| p != q) {
                Some(((k, p), (l, q))) if k == l => format!(".{k}{}", difference(p, q)),
                Some(((k, _), (l, _))) => format!(": key {k:?} / {l:?}"),
                None => String::new(),
            }
        }
        _ => format!(": {a:?} / {b:?}"),
    }
}

/// Each style's `safe_dump` text, read by us and by `safe_load` (which is not always
/// the value dumped: PyYAML turns a NEL in single quotes into a space).
fn check_pyyaml_dumps_read_back(value: &Value, styles: &[&str]) {
    let dumps = json::parse(
        python(&[&["dump"], styles].concat(), &String::from_utf8(value.wire()).unwrap()).as_bytes(),
    );
    for (style, dump) in styles.iter().zip(dumps.unwrap().as_array().unwrap()) {
        let (text, loaded) =
            (dump.as_array().unwrap()[0].as_str().unwrap(), dump.as_array().unwrap()[1].as_str().unwrap());
        let theirs = json::parse(loaded.as_bytes()).unwrap();
        let ours = yaml::parse(text.as_bytes()).unwrap_or_else(|e| panic!("safe_dump({style}): {e}\n{text}"));
        assert!(ours == theirs, "safe_dump({style}) read differently{}:\n{text}", difference(&ours, &theirs));
    }
}

#[test]
fn what_we_write_pyyaml_reads_back() {
    if !has_pyyaml() {
        return;
    }
    let value = values();
    let text = yaml::dump(&value);
    let loaded = json::parse(python(&["load"], &text).as_bytes()).unwrap();
    assert!(value == loaded, "PyYAML read our output differently{}:\n{text}", difference(&value, &loaded));
}

/// `value` less every string (and key) holding a line break.
fn without_line_breaks(value: &Value) -> Value {
    let breaks = |s: &str| s.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']);
    match value {
        Value::Array(items) => Value::Array(
            items.iter().filter(|v| !v.as_str().is_some_and(breaks)).map(without_line_breaks).collect(),
        ),
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(k, v)| !breaks(k) && !v.as_str().is_some_and(breaks))
                .map(|(k, v)| (k.to_owned(), without_line_breaks(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn we_write_what_pyyaml_writes_but_for_line_breaks() {
    if !has_pyyaml() {
        return;
    }
    // Multi-line strings differ: we write "a\nb" where PyYAML folds single quotes.
    let value = without_line_breaks(&values());
    assert_eq!(yaml::dump(&value), python(&["text"], &String::from_utf8(value.wire()).unwrap()));
}

#[test]
fn what_pyyaml_writes_we_read_back() {
    if !has_pyyaml() {
        return;
    }
    let value = values();
    check_pyyaml_dumps_read_back(&value, STYLES);
    let mut all = Vec::new();
    strings(&value, &mut all);
    // In forced block scalars PyYAML writes U+2028 and NEL as raw line breaks; the
    // original never forces a style, and we read those only inside quotes.
    all.retain(|s| !s.as_str().unwrap().contains(['\u{85}', '\u{2028}', '\u{2029}']));
    check_pyyaml_dumps_read_back(&Value::Array(all), STRING_STYLES);
}

#[test]
fn we_read_hand_written_styles_as_pyyaml_does() {
    if !has_pyyaml() {
        return;
    }
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/yaml_config/styles"))
        .unwrap();
    let theirs = json::parse(python(&["load"], &text).as_bytes()).unwrap();
    let ours = yaml::parse(text.as_bytes()).unwrap();
    assert!(ours == theirs, "{}:\n{text}", difference(&ours, &theirs));
}
