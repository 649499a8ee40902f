//! Globs for the `search` tool, translated to an anchored [`Regex`]: `*` and `?` stay
//! within one path segment, `**` crosses segments (`**/` also matches none), `[…]` and
//! `[!…]` are classes, `{a,b}` alternatives (nestable), `\` quotes the next character.

use super::regex::Regex;

/// The glob as a regex matching a whole name or `/`-separated path.
pub fn compile(glob: &str, icase: bool) -> Result<Regex, String> {
    Regex::new(&translate(glob)?, icase)
}

fn translate(glob: &str) -> Result<String, String> {
    let s: Vec<char> = glob.chars().collect();
    let mut out = String::from("^");
    let mut braces = 0;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            '*' if s.get(i + 1) == Some(&'*') => {
                i += 1;
                if s.get(i + 1) == Some(&'/') {
                    i += 1;
                    out.push_str("(?:.*/)?");
                } else {
                    out.push_str(".*");
                }
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                let start = i + 1 + usize::from(matches!(s.get(i + 1), Some('!' | '^')));
                match s.iter().skip(start + 1).position(|&c| c == ']') {
                    Some(len) => {
                        out.push('[');
                        if start > i + 1 {
                            out.push('^');
                        }
                        for &c in &s[start..=start + len] {
                            if c == '\\' || c == '[' {
                                out.push('\\');
                            }
                            out.push(c);
                        }
                        out.push(']');
                        i = start + len + 1;
                    }
                    None => out.push_str("\\["),
                }
            }
            '{' => {
                braces += 1;
                out.push_str("(?:");
            }
            ',' if braces > 0 => out.push('|'),
            '}' if braces > 0 => {
                braces -= 1;
                out.push(')');
            }
            c => {
                let c = if c == '\\' && i + 1 < s.len() {
                    i += 1;
                    s[i]
                } else {
                    c
                };
                if c.is_ascii_punctuation() {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        i += 1;
    }
    if braces > 0 {
        return Err("a { is never closed".into());
    }
    out.push('$');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::compile;

    #[test]
    fn globs_match_names_and_paths() {
        let table: &[(&str, &str, bool)] = &[
            ("*.rs", "main.rs", true),
            ("*.rs", "main.rs.bak", false),
            ("*.rs", "src/main.rs", false),
            ("*", ".env.example", true),
            ("?.md", "a.md", true),
            ("?.md", "ab.md", false),
            ("src/*.rs", "src/a.rs", true),
            ("src/*.rs", "src/x/a.rs", false),
            ("src/**/*.rs", "src/a.rs", true),
            ("src/**/*.rs", "src/x/y/a.rs", true),
            ("src/**/*.rs", "lib/a.rs", false),
            ("**/*.toml", "Cargo.toml", true),
            ("**/*.toml", "a/b/Cargo.toml", true),
            ("src/**", "src/a/b", true),
            ("*.{rs,toml}", "Cargo.toml", true),
            ("*.{rs,toml}", "README.md", false),
            ("{a,b{c,d}}.txt", "bd.txt", true),
            ("{a,b{c,d}}.txt", "b.txt", false),
            ("[abc].txt", "b.txt", true),
            ("[!abc].txt", "b.txt", false),
            ("[!abc].txt", "d.txt", true),
            ("[a-c]*", "config", true),
            ("file[1", "file[1", true),
            ("a+b(1).txt", "a+b(1).txt", true),
            ("a.b", "axb", false),
            ("\\*.md", "*.md", true),
            ("\\*.md", "x.md", false),
            ("x,y", "x,y", true),
            ("notes 2024.md", "notes 2024.md", true),
        ];
        for &(glob, name, want) in table {
            let re = compile(glob, false).unwrap_or_else(|e| panic!("{glob}: {e}"));
            assert_eq!(re.is_match(name), want, "{glob:?} on {name:?}");
        }
        assert!(compile("*readme*", true).unwrap().is_match("README.md"));
        assert!(compile("{a,b", false).unwrap_err().contains("never closed"));
    }
}
