//! Path rules: which targets are `/` or home, which directories belong to the system,
//! which devices hold filesystems, and which files hold secrets. Paths are judged as
//! written (lexically); nothing here touches the filesystem.

use super::Finding;

/// Writing anywhere under these is refused.
const SYSTEM_DIRS: &[&str] =
    &["etc", "usr", "boot", "sys", "proc", "var", "bin", "sbin", "lib", "lib32", "lib64"];
/// Scratch space inside a system directory, as freely writable as `/tmp`.
const SCRATCH_DIRS: &[&str] = &["/var/tmp"];
/// Devices a write cannot harm.
const HARMLESS_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/stdin",
    "/dev/stdout",
    "/dev/stderr",
    "/dev/tty",
];
const HARMLESS_DEVICE_DIRS: &[&str] = &["/dev/fd/", "/dev/pts/", "/dev/shm/"];
/// SSH private keys by their default names, wherever they lie.
const PRIVATE_KEYS: &[&str] = &["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"];
const CREDENTIAL_FILES: &[&str] = &[".netrc", ".git-credentials", ".pgpass"];
/// `.env.example` and friends are committed templates, not secrets.
const ENV_TEMPLATES: &[&str] = &[".example", ".sample", ".template", ".dist"];
const HOME_PREFIXES: &[&str] = &["~", "$HOME", "${HOME}"];
/// Brace expansion beyond this many words is not followed.
const MAX_EXPANSIONS: usize = 64;

pub const ENV_DUMP: &str = "dumps the environment";

/// `/`, `/*`, `~`, `~/*`, `$HOME`… (after brace expansion and `.`/`..`), or a path that
/// climbs out of home.
pub fn is_root_or_home(path: &str) -> bool {
    expansions(path).iter().any(|p| {
        let n = normalize(p);
        matches!(n.as_str(), "/" | "/*" | "/.*" | "~" | "~/*" | "~/.*") || n.starts_with("~/..")
    })
}

/// Why writing to `target` is dangerous, if it is: a device, or a system directory.
pub fn write_finding(target: &str) -> Option<Finding> {
    expansions(target).iter().find_map(|path| {
        let n = normalize(path);
        if is_device(&n) {
            Some(Finding::dangerous("writes to a block device"))
        } else {
            system_dir(&n).map(|dir| Finding::dangerous(format!("writes into {dir}")))
        }
    })
}

/// Why a word naming a secret is sensitive, if it does. Words like `--key=PATH` and
/// `of=PATH` are judged by their value too, and `@PATH` (curl's upload) by its path.
pub fn secret_finding(word: &str) -> Option<Finding> {
    let value = word.split_once('=').map(|(_, v)| v);
    std::iter::once(word)
        .chain(value)
        .map(|w| w.strip_prefix('@').unwrap_or(w))
        .flat_map(expansions)
        .filter_map(|path| secret(&path))
        .max_by_key(|f| f.severity)
}

/// Names are compared lowercased: on a case-insensitive file system (macOS, Windows
/// shares) `.ENV` and `ID_RSA` are the same files.
fn secret(path: &str) -> Option<Finding> {
    let path = path.to_lowercase();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let last = *parts.last()?;
    if last == "environ" && parts.contains(&"proc") {
        return Some(Finding::dangerous(ENV_DUMP));
    }
    if parts.windows(2).any(|w| w == ["alp", "secrets"]) {
        return Some(Finding::dangerous("touches the profile's secret keys"));
    }
    if let Some(k) = parts.iter().position(|p| *p == ".ssh") {
        return Some(match parts.get(k + 1) {
            Some(file) if is_ssh_private(file) => Finding::dangerous("touches an SSH private key"),
            _ => Finding::caution("touches ~/.ssh"),
        });
    }
    if PRIVATE_KEYS.contains(&last) {
        return Some(Finding::dangerous("touches an SSH private key"));
    }
    if is_dotenv(last) {
        return Some(Finding::dangerous("touches a .env secrets file"));
    }
    let aws = parts.len() >= 2 && parts[parts.len() - 2] == ".aws" && last == "credentials";
    if aws || CREDENTIAL_FILES.contains(&last) {
        return Some(Finding::dangerous("touches a credentials file"));
    }
    None
}

/// Inside `~/.ssh`: `id_*` but not `*.pub`, `*.pem`/`*.key`, or a glob that may match them.
fn is_ssh_private(file: &str) -> bool {
    (file.starts_with("id_") && !file.ends_with(".pub"))
        || file.ends_with(".pem")
        || file.ends_with(".key")
        || has_glob(file)
}

fn is_dotenv(name: &str) -> bool {
    name == ".env" || (name.starts_with(".env.") && !ENV_TEMPLATES.iter().any(|t| name.ends_with(t)))
}

fn is_device(normalized: &str) -> bool {
    normalized.starts_with("/dev/")
        && !HARMLESS_DEVICES.contains(&normalized)
        && !HARMLESS_DEVICE_DIRS.iter().any(|d| normalized.starts_with(d))
}

/// The system directory an absolute path lies in. A glob in the first component (`/e*`)
/// may match one, so it counts.
fn system_dir(normalized: &str) -> Option<String> {
    let rest = normalized.strip_prefix('/')?;
    let first = rest.split('/').next().filter(|f| !f.is_empty())?;
    if SCRATCH_DIRS.iter().any(|d| normalized == *d || normalized.starts_with(&format!("{d}/"))) {
        return None;
    }
    (SYSTEM_DIRS.contains(&first) || has_glob(first)).then(|| format!("/{first}"))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Lexical normalisation: `//` and `.` dropped, `..` resolved, home spelled `~`.
/// Climbing out of home keeps a leading `~/..`.
pub fn normalize(path: &str) -> String {
    let home = HOME_PREFIXES
        .iter()
        .find_map(|h| path.strip_prefix(h).filter(|rest| rest.is_empty() || rest.starts_with('/')));
    let (base, rest) = match home {
        Some(rest) => ("~", rest),
        None => match path.strip_prefix('/') {
            Some(rest) => ("/", rest),
            None => ("", path),
        },
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if base == "/" => {}
                _ => parts.push(".."),
            },
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match base {
        "/" => format!("/{joined}"),
        "~" if joined.is_empty() => "~".to_string(),
        "~" => format!("~/{joined}"),
        _ if joined.is_empty() => ".".to_string(),
        _ => joined,
    }
}

/// Brace expansion, so `rm -rf {/,x}` is seen as `rm -rf / x`. Stops expanding past
/// [`MAX_EXPANSIONS`] words, keeping the rest as written.
pub fn expansions(word: &str) -> Vec<String> {
    let mut done = Vec::new();
    let mut todo = vec![word.to_string()];
    while let Some(w) = todo.pop() {
        match split_braces(&w) {
            Some(alternatives) if done.len() + todo.len() + alternatives.len() <= MAX_EXPANSIONS => {
                todo.extend(alternatives);
            }
            _ => done.push(w),
        }
    }
    done
}

/// The words the first `{a,b,…}` in `word` expands to; `None` when there is none.
fn split_braces(word: &str) -> Option<Vec<String>> {
    for (open, _) in word.match_indices('{') {
        let mut depth = 0;
        let mut cuts = vec![open];
        for (i, c) in word[open..].char_indices().map(|(i, c)| (open + i, c)) {
            match c {
                '{' => depth += 1,
                ',' if depth == 1 => cuts.push(i),
                '}' => {
                    depth -= 1;
                    if depth > 0 {
                        continue;
                    }
                    if cuts.len() == 1 {
                        break;
                    }
                    cuts.push(i);
                    let (prefix, suffix) = (&word[..open], &word[i + 1..]);
                    return Some(
                        cuts.windows(2)
                            .map(|w| format!("{prefix}{}{suffix}", &word[w[0] + 1..w[1]]))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::approval::Severity;

    #[test]
    fn normalize_resolves_dots_and_spells_home_as_tilde() {
        assert_eq!(normalize("//tmp/./x/../"), "/tmp");
        assert_eq!(normalize("/tmp/../.."), "/");
        assert_eq!(normalize("$HOME/"), "~");
        assert_eq!(normalize("${HOME}/a"), "~/a");
        assert_eq!(normalize("~/.."), "~/..");
        assert_eq!(normalize("a/../../b"), "../b");
        assert_eq!(normalize("./"), ".");
        assert_eq!(normalize("$HOMEDIR"), "$HOMEDIR");
    }

    #[test]
    fn root_and_home_in_their_spellings() {
        for p in ["/", "//", "/.", "/*", "/tmp/..", "~", "~/", "~/*", "$HOME", "${HOME}/", "~/..", "{/,x}"] {
            assert!(is_root_or_home(p), "{p}");
        }
        for p in ["/tmp", "./build", ".", "~/x", "$HOMEDIR", "*"] {
            assert!(!is_root_or_home(p), "{p}");
        }
    }

    #[test]
    fn writes_into_system_directories_and_devices() {
        assert_eq!(write_finding("/etc/passwd").unwrap().reason, "writes into /etc");
        assert_eq!(write_finding("/tmp/../usr/bin/x").unwrap().reason, "writes into /usr");
        assert_eq!(write_finding("/dev/sda").unwrap().reason, "writes to a block device");
        assert!(write_finding("/e*/passwd").is_some());
        for p in
            ["/dev/null", "/dev/stderr", "/dev/fd/3", "/var/tmp/x", "./etc/x", "/etcetera", "/tmp/x", "/"]
        {
            assert!(write_finding(p).is_none(), "{p}");
        }
    }

    #[test]
    fn secrets_by_path() {
        let severity = |w: &str| secret_finding(w).map(|f| f.severity);
        assert_eq!(severity("~/.ssh/id_ed25519"), Some(Severity::Dangerous));
        assert_eq!(severity("/home/me/.ssh/id_*"), Some(Severity::Dangerous));
        assert_eq!(severity("--identity=~/.ssh/id_rsa"), Some(Severity::Dangerous));
        assert_eq!(severity("@.env"), Some(Severity::Dangerous));
        assert_eq!(severity("file=@/home/me/.ssh/id_ed25519"), Some(Severity::Dangerous));
        assert_eq!(severity("id_rsa"), Some(Severity::Dangerous));
        assert_eq!(severity("~/.ssh/known_hosts"), Some(Severity::Caution));
        assert_eq!(severity("~/.ssh/id_ed25519.pub"), Some(Severity::Caution));
        assert_eq!(severity("~/.ssh"), Some(Severity::Caution));
        assert_eq!(severity("~/.alpi/default/alp/secrets/key.pem"), Some(Severity::Dangerous));
        assert_eq!(severity(".env"), Some(Severity::Dangerous));
        assert_eq!(severity("app/.env.local"), Some(Severity::Dangerous));
        assert_eq!(severity(".env.example"), None);
        assert_eq!(severity("/proc/1/environ"), Some(Severity::Dangerous));
        assert_eq!(severity("~/.aws/credentials"), Some(Severity::Dangerous));
        assert_eq!(severity("README.md"), None);
        assert_eq!(severity("id_map.json"), None);
    }

    #[test]
    fn brace_expansion_is_followed_and_bounded() {
        let mut words = expansions("a{b,c{d,e}}f");
        words.sort();
        assert_eq!(words, ["abf", "acdf", "acef"]);
        assert_eq!(expansions("{}"), ["{}"]);
        assert_eq!(expansions("${HOME}"), ["${HOME}"]);
        assert!(expansions(&"{a,b}".repeat(20)).len() <= MAX_EXPANSIONS);
    }
}
