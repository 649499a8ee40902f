//! What an unquoted scalar means, as PyYAML's `safe_load` resolves it (YAML 1.1): the
//! reader turns plain text into values with it, the writer quotes every string it would
//! not give back as a string.

use crate::json::{Int, Value};

/// A plain scalar's value: null, bool, int, float, or else the text itself. Dates,
/// times and `1:30`-style sexagesimals stay strings (PyYAML would build other types).
pub(super) fn resolve(plain: &str) -> Value {
    match plain {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Value::Bool(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Value::Bool(false),
        _ => int(plain).or_else(|| float(plain)).unwrap_or_else(|| Value::String(plain.to_owned())),
    }
}

/// Whether PyYAML reads `text`, written unquoted, back as this same string.
pub(super) fn reads_back_as_string(text: &str) -> bool {
    matches!(resolve(text), Value::String(_))
        && int_syntax(text).is_none()
        && !float_syntax(text)
        && !is_sexagesimal(text)
        && !looks_like_timestamp(text)
        && text != "<<"
        && text != "="
}

/// Characters a YAML stream may hold at all (PyYAML's reader refuses the others).
pub(super) fn is_allowed_in_stream(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}') || is_printable_beyond_ascii(c)
}

/// What PyYAML's writer, with `allow_unicode=True`, puts down as itself.
pub(super) fn is_printable(c: char) -> bool {
    matches!(c, ' '..='~') || (is_printable_beyond_ascii(c) && c != '\u{feff}')
}

fn is_printable_beyond_ascii(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

fn all_in(text: &str, allowed: impl Fn(u8) -> bool) -> bool {
    !text.is_empty() && text.bytes().all(allowed)
}

/// `[-+]?(0b[01_]+ | 0x[0-9a-fA-F_]+ | 0[0-7_]+ | 0 | [1-9][0-9_]*)`: the digits and radix.
fn int_syntax(text: &str) -> Option<(bool, &str, u32)> {
    let (negative, body) = split_sign(text);
    let underscore_or = |f: fn(&u8) -> bool| move |b: u8| b == b'_' || f(&b);
    let (digits, radix, ok) = if let Some(d) = body.strip_prefix("0b") {
        (d, 2, all_in(d, underscore_or(|b| matches!(b, b'0' | b'1'))))
    } else if let Some(d) = body.strip_prefix("0x") {
        (d, 16, all_in(d, underscore_or(u8::is_ascii_hexdigit)))
    } else if body == "0" {
        (body, 10, true)
    } else if let Some(d) = body.strip_prefix('0') {
        (d, 8, all_in(d, underscore_or(|b| matches!(b, b'0'..=b'7'))))
    } else {
        (
            body,
            10,
            body.starts_with(|c: char| c.is_ascii_digit()) && all_in(body, underscore_or(u8::is_ascii_digit)),
        )
    };
    ok.then_some((negative, digits, radix))
}

fn int(text: &str) -> Option<Value> {
    let (negative, digits, radix) = int_syntax(text)?;
    let digits = digits.replace('_', "");
    let magnitude = if radix == 10 {
        digits
    } else {
        let folded = digits
            .chars()
            .try_fold(0u128, |n, d| n.checked_mul(radix.into())?.checked_add(d.to_digit(radix)?.into()));
        folded?.to_string()
    };
    let sign = if negative { "-" } else { "" };
    let text = format!("{sign}{}", magnitude.trim_start_matches('0'));
    match text.as_str() {
        "" | "-" => Some(Value::Int(0i64.into())),
        _ => text.parse::<Int>().ok().map(Value::Int),
    }
}

/// `[-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? | \.[0-9][0-9_]*([eE][-+][0-9]+)?`, or
/// `[-+]?.inf` / `.nan` in three spellings each: PyYAML's float (`1e5` is a string).
fn float_syntax(text: &str) -> bool {
    let (_, body) = split_sign(text);
    if matches!(body, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let Some((whole, fraction)) = mantissa.split_once('.') else { return false };
    let digits_or_underscore = |s: &str| s.bytes().all(|b| b == b'_' || b.is_ascii_digit());
    let whole_ok = if whole.is_empty() {
        body.len() == text.len() && fraction.starts_with(|c: char| c.is_ascii_digit())
    } else {
        whole.starts_with(|c: char| c.is_ascii_digit()) && digits_or_underscore(whole)
    };
    let exponent_ok = exponent
        .is_none_or(|e| e.strip_prefix(['+', '-']).is_some_and(|d| all_in(d, |b| b.is_ascii_digit())));
    whole_ok && digits_or_underscore(fraction) && exponent_ok
}

fn float(text: &str) -> Option<Value> {
    if !float_syntax(text) {
        return None;
    }
    let (negative, body) = split_sign(text);
    let magnitude = match body.to_ascii_lowercase().as_str() {
        ".inf" => f64::INFINITY,
        ".nan" => f64::NAN,
        digits => digits.replace('_', "").parse().ok()?,
    };
    Some(Value::Float(if negative { -magnitude } else { magnitude }))
}

/// `1:30` (int, base 60) or `1:30.5` (float) as YAML 1.1 reads them.
fn is_sexagesimal(text: &str) -> bool {
    let (_, body) = split_sign(text);
    let Some((head, rest)) = body.split_once(':') else { return false };
    let (groups, fraction) = rest.split_once('.').map_or((rest, None), |(g, f)| (g, Some(f)));
    let base_60 = |g: &str| match g.as_bytes() {
        [d] => d.is_ascii_digit(),
        [t, d] => matches!(t, b'0'..=b'5') && d.is_ascii_digit(),
        _ => false,
    };
    let first_digit = if fraction.is_some() { b'0' } else { b'1' };
    head.as_bytes().first().is_some_and(|&d| (first_digit..=b'9').contains(&d))
        && all_in(head, |b| b == b'_' || b.is_ascii_digit())
        && groups.split(':').all(base_60)
        && fraction.is_none_or(|f| f.bytes().all(|b| b == b'_' || b.is_ascii_digit()))
}

/// `2024-01-31…`: the start of every YAML timestamp (a little wider, so never missed).
fn looks_like_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 6 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_value(text: &str) -> Value {
        Value::Int(text.parse().unwrap())
    }

    #[test]
    fn nulls_and_yaml_1_1_booleans() {
        for null in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(resolve(null), Value::Null, "{null:?}");
        }
        for (text, b) in
            [("yes", true), ("On", true), ("TRUE", true), ("no", false), ("OFF", false), ("False", false)]
        {
            assert_eq!(resolve(text), Value::Bool(b), "{text}");
        }
        for text in ["y", "n", "nULL", "tRUE", "Yes!"] {
            assert_eq!(resolve(text), Value::from(text), "{text}");
        }
    }

    #[test]
    fn ints_in_every_radix_pyyaml_reads() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("+7", "7"),
            ("1_000", "1000"),
            ("-42", "-42"),
            ("017", "15"),
            ("0x1F", "31"),
            ("-0x10", "-16"),
            ("0b101", "5"),
            ("00", "0"),
            ("18446744073709551616", "18446744073709551616"),
        ];
        for (text, decimal) in cases {
            assert_eq!(resolve(text), int_value(decimal), "{text}");
        }
        for text in ["08", "0o17", "1_", "0x", "1e5", "12:30", "1,000", "0xG"] {
            assert!(matches!(resolve(text), Value::String(_) | Value::Int(_)), "{text}");
            assert!(!matches!(resolve(text), Value::Float(_)), "{text}");
        }
        assert_eq!(resolve("08"), Value::from("08"));
        assert_eq!(resolve("1e5"), Value::from("1e5"));
    }

    #[test]
    fn floats_need_a_dot_and_a_signed_exponent() {
        let cases = [
            ("1.5", 1.5),
            ("1.", 1.0),
            ("-2.5e+3", -2500.0),
            (".5", 0.5),
            ("1_0.0_1", 10.01),
            ("1.0e-05", 1e-5),
        ];
        for (text, f) in cases {
            assert_eq!(resolve(text), Value::Float(f), "{text}");
        }
        assert_eq!(resolve("-.inf"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(resolve(".Inf"), Value::Float(f64::INFINITY));
        assert!(resolve(".NaN").as_f64().is_some_and(f64::is_nan));
        for text in ["1.0e5", "-.5", "._", ".", "-.nan", "1.2.3", "e+5"] {
            assert_eq!(resolve(text), Value::from(text), "{text}");
        }
    }

    #[test]
    fn strings_that_need_quotes_to_stay_strings() {
        for text in [
            "yes",
            "123",
            "",
            "~",
            "1.5",
            "0b_",
            "1:30",
            "-1:30.5",
            "2024-01-31",
            "2024-01-31T10:00:00Z",
            "<<",
            "=",
            ".inf",
        ] {
            assert!(!reads_back_as_string(text), "{text:?}");
        }
        for text in ["hello", "100.64.0.2:7423", "12:61", "1e5", "-.5", "._", "0o17", "1.0e5", "y", "2024-x"]
        {
            assert!(reads_back_as_string(text), "{text:?}");
        }
    }
}
