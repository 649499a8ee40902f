use proptest::prelude::*;

use super::write::MAX_SIMPLE_KEY;
use super::*;
use crate::json::{self, Object};

/// YAML text to the compact JSON of what it reads as.
fn read(text: &str) -> String {
    let document = parse_document(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(document.marks.len(), node_count(&document.value), "{text:?}: one mark per node");
    String::from_utf8(document.value.wire()).unwrap()
}

fn error(text: &str) -> (usize, usize, &'static str) {
    let e = parse(text.as_bytes()).expect_err(text);
    (e.at.line, e.at.column, e.reason)
}

fn json(text: &str) -> Value {
    json::parse(text.as_bytes()).unwrap()
}

#[test]
fn empty_and_comment_only_documents_are_null() {
    for text in ["", "\n\n", "# only a comment\n", "---\n", "--- # c\n...\n", "\u{feff}"] {
        assert_eq!(read(text), "null", "{text:?}");
    }
}

#[test]
fn block_mappings_and_sequences() {
    assert_eq!(read("a: 1\nb:\n  c: x\n  d: [1, 2]\n"), r#"{"a":1,"b":{"c":"x","d":[1,2]}}"#);
    assert_eq!(read("- a\n- - b\n  - c\n-\n- d: 1\n  e: 2\n"), r#"["a",["b","c"],null,{"d":1,"e":2}]"#);
    assert_eq!(read("a:\n- x\n- y\nb: 1\n"), r#"{"a":["x","y"],"b":1}"#, "sequence at the key's indent");
    assert_eq!(read("a:\n    - x\n    - y\n"), r#"{"a":["x","y"]}"#);
    assert_eq!(read("- a:\n  - x\n  b:\n"), r#"[{"a":["x"],"b":null}]"#);
    assert_eq!(read("a:\n\n  # comment\n  b: 1   # trailing\nc: ~\n"), r#"{"a":{"b":1},"c":null}"#);
    assert_eq!(
        read("'quoted key': 1\n\"x: y\": 2\na b: 3\nurl: http://h:80/p\n"),
        r#"{"quoted key":1,"x: y":2,"a b":3,"url":"http://h:80/p"}"#
    );
    assert_eq!(read("1: x\ntrue: y\n"), r#"{"1":"x","true":"y"}"#, "keys are the text written");
}

#[test]
fn explicit_keys_as_pyyaml_writes_them() {
    let text = "? ''\n: empty\n? 'a\n\n  b'\n: - 1\n  - c: 2\n? long\n  key\n: a: 1\n  b:\n  - x\n? no value\nz: 1\n";
    assert_eq!(
        read(text),
        r#"{"":"empty","a\nb":[1,{"c":2}],"long key":{"a":1,"b":["x"]},"no value":null,"z":1}"#
    );
    let long_key = "k".repeat(MAX_SIMPLE_KEY + 1);
    let value = Value::from(Object::new().with(long_key.as_str(), Object::new().with("a", 1)).with("b", 2));
    assert_eq!(dump(&value), format!("? {long_key}\n: a: 1\nb: 2\n"));
    let odd_keys = Value::from(Object::new().with("", 1).with("a\nb", 2));
    assert_eq!(dump(&odd_keys), "? ''\n: 1\n? \"a\\nb\"\n: 2\n");
}

#[test]
fn crlf_and_document_markers() {
    assert_eq!(read("a: 1\r\nb:\r\n- x\r\n"), r#"{"a":1,"b":["x"]}"#);
    assert_eq!(read("---\na: 1\n...\n"), r#"{"a":1}"#);
    assert_eq!(read("--- |\n  text\n"), r#""text\n""#);
    assert_eq!(read("--- [a]\n"), r#"["a"]"#);
}

#[test]
fn flow_collections() {
    assert_eq!(read("[a, 'b', \"c\", 1, ~, [], {}]"), r#"["a","b","c",1,null,[],{}]"#);
    assert_eq!(read("{a: 1, b: [x, {c: d}], e, f: }"), r#"{"a":1,"b":["x",{"c":"d"}],"e":null,"f":null}"#);
    assert_eq!(read("{\"a\":1, url: http://h:1/x}"), r#"{"a":1,"url":"http://h:1/x"}"#);
    assert_eq!(read("a: [x,\n  y,  # c\n  z, ]\n"), r#"{"a":["x","y","z"]}"#);
    assert_eq!(read("a: [x\n  y]\n"), r#"{"a":["x y"]}"#);
    assert_eq!(read("{a:1}"), r#"{"a:1":null}"#, "as PyYAML: no space, no value");
}

#[test]
fn plain_scalars_fold_and_stop_at_comments() {
    assert_eq!(read("a: one\n  two\n\n  three\nb: x#y # c\n"), r#"{"a":"one two\nthree","b":"x#y"}"#);
    assert_eq!(read("- a\n  b\n- c\n"), r#"["a b","c"]"#);
    assert_eq!(
        read("key: value - with dash\n  - not an item\n"),
        r#"{"key":"value - with dash - not an item"}"#
    );
    assert_eq!(read("a: -x\nb: ?y\nc: :z\nd: 'it''s'\n"), r#"{"a":"-x","b":"?y","c":":z","d":"it's"}"#);
}

#[test]
fn quoted_scalars_fold_and_escape() {
    assert_eq!(read("a: 'x\n\n  y'\n"), r#"{"a":"x\ny"}"#, "PyYAML's multi-line single quotes");
    assert_eq!(read("a: 'one\n  two  '\n"), r#"{"a":"one two  "}"#);
    assert_eq!(read("a: \"x\\\n  y\"\n"), r#"{"a":"xy"}"#, "escaped line break");
    let escapes = r#""\0\a\b\t\	\n\v\f\r\e\ \"\/\\\N\_\L\P\x41\u00e9\U0001F680""#;
    let expected = "\0\u{7}\u{8}\t\t\n\u{b}\u{c}\r\u{1b} \"/\\\u{85}\u{a0}\u{2028}\u{2029}Aé🚀";
    assert_eq!(parse(escapes.as_bytes()).unwrap(), Value::from(expected));
    assert_eq!(read("'a\\n'"), r#""a\\n""#, "no escapes in single quotes");
    let unicode_breaks = "['a\u{2028}  b', 'c \u{85}\n  d', \"e\u{2029}\"]";
    assert_eq!(parse(unicode_breaks.as_bytes()).unwrap(), json(r#"["a\u2028b","c\nd","e\u2029"]"#));
}

#[test]
fn block_scalars_keep_or_fold_lines() {
    let text = "a: |\n  x\n   y\n\n  z\n\nb: >\n  x\n  y\n\n  z\n   w\n  v\nc: |-\n  s\n\nd: |+\n  k\n\ne: >2\n    n\nf: |\ng: 1\n";
    assert_eq!(
        read(text),
        r#"{"a":"x\n y\n\nz\n","b":"x y\nz\n w\nv\n","c":"s","d":"k\n\n","e":"  n\n","f":"","g":1}"#
    );
    assert_eq!(read("- |\n  one\n  # not a comment\n- two\n"), r##"["one\n# not a comment\n","two"]"##);
    assert_eq!(read("|\n text\n"), r#""text\n""#);
}

#[test]
fn scalars_resolve_like_pyyaml() {
    let text = "[~, null, '', yes, No, on, 'yes', 0x1F, 017, -3, +4, 1_000, 1.5, 1., .5, 1e5, 1.0e+5, -.inf, 2024-01-31, 12:30, 0o17]";
    assert_eq!(
        read(text),
        r#"[null,null,"",true,false,true,"yes",31,15,-3,4,1000,1.5,1.0,0.5,"1e5",100000.0,-Infinity,"2024-01-31","12:30","0o17"]"#
    );
}

#[test]
fn errors_name_line_and_column() {
    let cases = [
        ("a: [1\n", 1, 4, "a flow sequence is not closed"),
        ("a: 1\n\tb: 2\n", 2, 1, "tabs are not allowed in indentation"),
        ("a: 1\na: 2\n", 2, 1, "duplicate key"),
        ("a: &x 1\n", 1, 4, "anchors, aliases and tags are not supported"),
        ("a: *x\n", 1, 4, "anchors, aliases and tags are not supported"),
        ("a: !!str 1\n", 1, 4, "anchors, aliases and tags are not supported"),
        ("? [a]\n: b\n", 1, 3, "complex keys (`? key`) are not supported"),
        ("a: ? b\n", 1, 4, "complex keys (`? key`) are not supported"),
        ("a: b: c\n", 1, 4, "mapping values are not allowed here"),
        ("a: - b\n", 1, 4, "a sequence cannot start on its key's line"),
        ("a:\n  b: 1\n   c: 2\n", 3, 5, "mapping values are not allowed here"),
        ("a:\n    b: 1\n  c: 2\n", 3, 3, "bad indentation of a mapping entry"),
        ("a: [x] y\n", 1, 8, "unexpected text after the value"),
        ("- a\nb: 1\n", 2, 1, "unexpected text after the document"),
        ("a: 1\n---\nb: 2\n", 2, 1, "more than one document is not supported"),
        ("%YAML 1.1\n---\na: 1\n", 1, 1, "directives are not supported"),
        ("a: 'open\n", 1, 4, "a quoted value is not closed"),
        ("a: \"\\q\"\n", 1, 5, "invalid escape"),
        ("a: |x\n", 1, 5, "invalid block scalar header"),
        ("a: \u{1}\n", 1, 4, "control characters are not allowed"),
        ("é: [\"a\" b]\n", 1, 9, "expected ',' or ']'"),
        ("a: {b: \"1\" c}\n", 1, 12, "expected ',' or '}'"),
        ("a: [b: c]\n", 1, 6, "pairs inside a flow sequence are not supported"),
        ("a: @x\n", 1, 4, "a value cannot start with this character"),
        ("a\nb: 1\n", 2, 2, "mapping values are not allowed here"),
    ];
    for (text, line, column, reason) in cases {
        assert_eq!(error(text), (line, column, reason), "{text:?}");
    }
    assert_eq!(parse(b"a: \xff\n").unwrap_err().to_string(), "not UTF-8 at line 1 column 4");
}

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(parse(deep(MAX_DEPTH).as_bytes()).is_ok());
    assert_eq!(error(&deep(MAX_DEPTH + 1)).2, "nested too deeply");
    let block: String = (0..200).map(|i| format!("{}- \n", " ".repeat(2 * i))).collect();
    assert_eq!(error(&block).2, "nested too deeply");
    assert_eq!(error(&"- ".repeat(100_000)).2, "nested too deeply");
}

#[test]
fn a_long_line_of_many_nodes_reads_in_linear_time() {
    let items = vec!["é"; 200_000].join(", ");
    let text = format!("a: [{items}]\nb: [1, {{c: x}}]\n");
    let document = parse_document(text.as_bytes()).unwrap();
    assert_eq!(document.value.get("a").and_then(Value::as_array).map(<[Value]>::len), Some(200_000));
    assert_eq!(document.mark(&["b"]).map(|m| (m.line, m.column)), Some((2, 4)));
    let last = document.marks[200_001];
    assert_eq!((last.line, last.column), (1, 5 + 3 * 199_999));
}

#[test]
fn marks_find_nodes_by_key_path() {
    let document = parse_document(b"a: [1, {x: 2}]\nb:\n  c: |\n    text\n  d: x\ne:\n").unwrap();
    let at = |path: &[&str]| document.mark(path).map(|m| (m.line, m.column));
    assert_eq!(at(&[]), Some((1, 1)));
    assert_eq!(at(&["a"]), Some((1, 4)));
    assert_eq!(at(&["b"]), Some((3, 3)));
    assert_eq!(at(&["b", "c"]), Some((3, 6)));
    assert_eq!(at(&["b", "d"]), Some((5, 6)));
    assert_eq!(at(&["e"]), Some((6, 3)));
    assert_eq!(at(&["z"]), None);
    assert_eq!(at(&["a", "x"]), None);
}

#[test]
fn writes_block_style_like_pyyaml() {
    // python3 -c 'import yaml; print(yaml.safe_dump({...}, sort_keys=False, allow_unicode=True), end="")'
    let value =
        json(r#"{"k":[1,[2,3],{"a":null,"b":[]}],"e":[],"m":{},"n":{"x":{"y":true}},"f":1.5,"g":1e20}"#);
    let expected = "k:\n- 1\n- - 2\n  - 3\n- a: null\n  b: []\ne: []\nm: {}\nn:\n  x:\n    y: true\nf: 1.5\ng: 1.0e+20\n";
    assert_eq!(dump(&value), expected);
    assert_eq!(dump(&json("[[1,2],{\"a\":1}]")), "- - 1\n  - 2\n- a: 1\n");
    assert_eq!(dump(&json("{}")), "{}\n");
    assert_eq!(dump(&Value::Null), "null\n");
}

#[test]
fn strings_are_quoted_only_when_pyyaml_would_misread_them() {
    let cases = [
        ("plain", "plain"),
        ("100.64.0.2:7423", "100.64.0.2:7423"),
        ("yes", "'yes'"),
        ("123", "'123'"),
        ("", "''"),
        ("a: b", "'a: b'"),
        ("- x", "'- x'"),
        ("-x", "-x"),
        ("x #y", "'x #y'"),
        ("x#y", "x#y"),
        ("#x", "'#x'"),
        (" x", "' x'"),
        ("x ", "'x '"),
        ("it's", "it's"),
        ("'q'", "'''q'''"),
        ("2024-01-31T10:00:00Z", "'2024-01-31T10:00:00Z'"),
        ("1:30", "'1:30'"),
        ("---", "'---'"),
        ("é ü", "é ü"),
        ("a\tb", "\"a\\tb\""),
        ("a\nb", "\"a\\nb\""),
        ("\u{feff}\u{7f}\u{85}", "\"\\uFEFF\\x7F\\N\""),
        ("~", "'~'"),
        ("null", "'null'"),
        ("0b_", "'0b_'"),
    ];
    for (text, written) in cases {
        assert_eq!(dump(&Value::from(text)), format!("{written}\n"), "{text:?}");
        assert_eq!(parse(written.as_bytes()).unwrap(), Value::from(text), "{written}");
    }
}

#[test]
fn floats_are_written_so_yaml_1_1_reads_them_as_floats() {
    for (f, written) in [
        (1e16, "1.0e+16"),
        (5e-324, "5.0e-324"),
        (-0.0, "-0.0"),
        (f64::INFINITY, ".inf"),
        (f64::NEG_INFINITY, "-.inf"),
        (f64::NAN, ".nan"),
    ] {
        assert_eq!(dump(&Value::Float(f)), format!("{written}\n"));
    }
}

#[test]
fn text_of_accepts_strings_and_numbers() {
    assert_eq!(text_of(&Value::from("x")), Some("x".into()));
    assert_eq!(text_of(&json("7423")), Some("7423".into()));
    assert_eq!(text_of(&json("1.5")), Some("1.5".into()));
    assert_eq!(text_of(&Value::Bool(true)), None);
    assert_eq!(text_of(&Value::Null), None);
}

fn any_string() -> impl Strategy<Value = String> {
    let tricky = prop::sample::select(vec![
        "",
        "yes",
        "No",
        "~",
        "null",
        "0x1F",
        "1.5",
        ".inf",
        "1:30",
        "2024-01-31",
        "- x",
        "a: b",
        "#",
        " ",
        "'",
        "\"",
        "\\",
        "\n",
        "\t",
        "\u{85}",
        "\u{2028}",
        "\u{feff}",
        "é",
        "🚀",
        "---",
        "...",
        "<<",
        "=",
        "[a]",
        "{b}",
        "|",
        ">",
    ]);
    prop_oneof![
        "[ -~]{0,12}",
        "\\PC{0,8}",
        prop::collection::vec(tricky, 1..4).prop_map(|parts| parts.concat()),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("NaN is not equal to itself", |f| !f.is_nan()).prop_map(Value::Float),
        any_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any_string(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Object>())),
        ]
    })
}

proptest! {
    #[test]
    fn written_values_read_back_the_same(value in any_value()) {
        let text = dump(&value);
        let read = parse(text.as_bytes());
        prop_assert_eq!(read.as_ref(), Ok(&value), "written as:\n{}", text);
    }

    #[test]
    fn reading_never_panics(text in "[-:#'\"|>?\\[\\]{}, a-c0-2\n\t\\\\]{0,40}") {
        let _ = parse(text.as_bytes());
    }
}
