//! The rules for one command: what wrappers (`sudo`, `env`, `xargs`, `sh -c`, `find
//! -exec`…) run in turn, and which commands and arguments are cautionary or dangerous.
//! Paths are judged in `paths`.

use super::Finding;
use super::paths::{self, ENV_DUMP};
use super::tokenize::{Redirect, RedirectKind, Word, is_name};

pub const RUNS_DOWNLOAD: &str = "runs downloaded code";
pub const PIPES_DOWNLOAD: &str = "pipes a download into a shell";
pub const SQL_DESTRUCTION: &str = "drops or truncates SQL data";
const POWER: &str = "shuts down or reboots the machine";
const PUBLISH: &str = "publishes a package";
/// `sudo nice env …`: more wrappers than this are not peeled.
const MAX_WRAPPERS: usize = 32;

const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh"];
/// Besides the shells and `python*`: what runs a program given as a file or text.
const INTERPRETERS: &[&str] =
    &["perl", "ruby", "node", "nodejs", "php", "lua", "deno", "bun", "pwsh", "powershell"];
/// Builtins that run a file or text in the current shell.
const SOURCERS: &[&str] = &["source", ".", "eval"];
const DOWNLOADERS: &[&str] = &["curl", "wget", "fetch", "xh", "http", "https"];
const DB_CLIENTS: &[&str] =
    &["psql", "mysql", "mariadb", "sqlite3", "sqlite", "duckdb", "sqlcmd", "clickhouse-client", "cockroach"];
const PRINTERS: &[&str] = &["echo", "printf"];
/// Words that open or close a compound command: the command is what follows.
const RESERVED: &[&str] =
    &["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "esac"];
/// Loop and case headers run nothing themselves (their substitutions are still judged).
const HEADERS: &[&str] = &["for", "select", "case"];
const POWER_VERBS: &[&str] =
    &["poweroff", "reboot", "halt", "kexec", "suspend", "hibernate", "hybrid-sleep", "rescue", "emergency"];

/// What a command runs besides itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runs {
    Argv(Vec<Word>),
    Script(String),
}

#[derive(Debug, Default)]
pub struct Inspection {
    pub findings: Vec<Finding>,
    pub runs: Vec<Runs>,
}

/// The command words of a simple command: assignments and reserved words skipped.
pub fn command_words(words: &[Word]) -> &[Word] {
    let skip =
        words.iter().take_while(|w| RESERVED.contains(&w.raw.as_str()) || is_assignment(&w.raw)).count();
    let rest = &words[skip..];
    if rest.first().is_some_and(|w| HEADERS.contains(&w.raw.as_str())) { &[] } else { rest }
}

/// `NAME=value`, the name unquoted (`"A=1"` is a command name).
pub fn is_assignment(raw: &str) -> bool {
    raw.split_once('=').is_some_and(|(name, _)| is_name(name.strip_suffix('+').unwrap_or(name)))
}

/// Commands are matched by basename: `/bin/rm` is `rm`.
pub fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn name_of(argv: &[Word]) -> &str {
    argv.first().map_or("", |w| basename(&w.text))
}

fn texts(words: &[Word]) -> Vec<&str> {
    words.iter().map(|w| w.text.as_str()).collect()
}

/// The command that finally runs once wrappers (`sudo`, `env`, `nohup`…) are peeled;
/// past [`MAX_WRAPPERS`] the rest is taken as it stands.
pub fn effective(argv: &[Word]) -> &[Word] {
    let mut argv = command_words(argv);
    for _ in 0..MAX_WRAPPERS {
        match unwrap(argv) {
            Some(wrapped) if !wrapped.inner.is_empty() => argv = command_words(wrapped.inner),
            _ => break,
        }
    }
    argv
}

pub fn is_downloader(argv: &[Word]) -> bool {
    DOWNLOADERS.contains(&name_of(argv))
}

pub fn is_db_client(argv: &[Word]) -> bool {
    DB_CLIENTS.contains(&name_of(argv))
}

pub fn is_shell(argv: &[Word]) -> bool {
    SHELLS.contains(&name_of(argv))
}

pub fn is_interpreter(argv: &[Word]) -> bool {
    let name = name_of(argv);
    SHELLS.contains(&name) || INTERPRETERS.contains(&name) || SOURCERS.contains(&name) || is_python(name)
}

/// `echo` and `printf` only print their arguments: paths in them are not touched.
pub fn only_prints(argv: &[Word]) -> bool {
    PRINTERS.contains(&name_of(argv))
}

fn is_python(name: &str) -> bool {
    name.strip_prefix("python").is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// The argument an interpreter takes its program from: the first one not an option.
/// `eval` takes every argument as program text.
pub fn program_words(argv: &[Word]) -> &[Word] {
    let args = argv.get(1..).unwrap_or_default();
    if name_of(argv) == "eval" {
        return args;
    }
    match args.iter().position(|w| !w.text.starts_with('-')) {
        Some(k) => &args[k..=k],
        None => &[],
    }
}

/// Whether an interpreter reads the program it runs from standard input (so what is
/// piped into it is code, not data): `sh`, `bash -s`, `python -`, but not `python -m
/// json.tool` or `node -e '…'`.
pub fn reads_program_from_stdin(argv: &[Word]) -> bool {
    let name = name_of(argv);
    let args = texts(argv.get(1..).unwrap_or_default());
    if SHELLS.contains(&name) {
        return shell_invocation(&args) == Invocation::Stdin;
    }
    let (inline_flags, with_arg) = match name {
        n if is_python(n) => ("cm", "WXQ"),
        "perl" | "ruby" => ("eE", "IrxCF"),
        "node" | "nodejs" | "deno" | "bun" => ("ep", "r"),
        "php" => ("rBRFE", "dcz"),
        "lua" => ("e", "l"),
        "pwsh" | "powershell" => ("cCfFeE", ""),
        "source" | "." => {
            return args
                .first()
                .is_some_and(|a| matches!(*a, "-" | "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0"));
        }
        _ => return false,
    };
    let opts = getopt(&args, with_arg, &[], true);
    let inline = opts.shorts.iter().any(|c| inline_flags.contains(*c))
        || opts.longs.iter().any(|l| matches!(l.split('=').next(), Some("eval" | "print" | "command")));
    !inline && args.get(opts.first_operand).is_none_or(|a| *a == "-")
}

/// What `echo …`/`printf …` prints, as the script a shell reading it would run.
pub fn printed_scripts(argv: &[Word]) -> Vec<String> {
    let args = texts(argv.get(1..).unwrap_or_default());
    match name_of(argv) {
        "echo" => {
            let start = args.iter().take_while(|a| is_echo_flag(a)).count();
            vec![args[start..].join(" ").replace("\\n", "\n")]
        }
        "printf" => args.iter().map(|a| a.replace("\\n", "\n")).collect(),
        _ => Vec::new(),
    }
}

fn is_echo_flag(arg: &str) -> bool {
    arg.strip_prefix('-').is_some_and(|f| !f.is_empty() && f.chars().all(|c| matches!(c, 'n' | 'e' | 'E')))
}

/// Case-insensitive `DROP TABLE|DATABASE|SCHEMA` or `TRUNCATE`.
pub fn destroys_sql(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    words.iter().any(|w| w == "TRUNCATE")
        || words
            .windows(2)
            .any(|w| w[0] == "DROP" && matches!(w[1].as_str(), "TABLE" | "DATABASE" | "SCHEMA"))
}

/// What a command is judged to be and what it runs. `argv` starts at the command word.
pub fn inspect(argv: &[Word], redirects: &[Redirect]) -> Inspection {
    let mut out = Inspection::default();
    if let Some(wrapped) = unwrap(argv) {
        out.findings.extend(wrapped.finding);
        if !wrapped.inner.is_empty() {
            out.runs.push(Runs::Argv(wrapped.inner.to_vec()));
        }
        out.runs.extend(wrapped.script.map(Runs::Script));
        return out;
    }
    let name = name_of(argv);
    let args = texts(&argv[1..]);
    if SHELLS.contains(&name) {
        out.runs.extend(shell_scripts(&args, redirects));
        return out;
    }
    match name {
        "eval" => out.runs.push(Runs::Script(args.join(" "))),
        "su" => {
            out.findings.push(Finding::caution("switches user (su)"));
            let opts = getopt(&args, "cgGsw", &["command", "shell", "group", "supp-group"], false);
            let command = opts.value("c").or_else(|| opts.value("command"));
            out.runs.extend(command.map(|c| Runs::Script(c.to_string())));
        }
        "find" => find(argv, &mut out),
        // `trap 'cmd' EXIT` runs cmd later; `watch cmd…` runs it through `sh -c`.
        "trap" if args.len() >= 2 && !args[0].starts_with('-') => {
            out.runs.push(Runs::Script(args[0].to_string()))
        }
        "watch" => {
            let opts = getopt(&args, "nq", &["interval"], true);
            out.runs.push(Runs::Script(args[opts.first_operand..].join(" ")));
        }
        _ => out.findings.extend(leaf(name, &args, redirects)),
    }
    out
}

const SUDO_LONG_WITH_ARG: &[&str] = &[
    "user",
    "group",
    "prompt",
    "close-from",
    "chdir",
    "role",
    "type",
    "command-timeout",
    "other-user",
    "host",
];

/// A wrapper's inner command, and what running through the wrapper means in itself.
struct Wrapped<'a> {
    inner: &'a [Word],
    finding: Option<Finding>,
    /// `env -S 'cmd args'`: a command line given as one string.
    script: Option<String>,
}

fn unwrap(argv: &[Word]) -> Option<Wrapped<'_>> {
    let name = name_of(argv);
    let (with_arg, long_with_arg, finding): (&str, &[&str], _) = match name {
        "sudo" => ("ugpCDrtTUh", SUDO_LONG_WITH_ARG, Some(Finding::caution("runs as root (sudo)"))),
        "doas" => ("uC", &[], Some(Finding::caution("runs as root (doas)"))),
        "env" => ("uCS", &["unset", "chdir", "split-string"], None),
        "nohup" | "builtin" | "setsid" | "busybox" | "command" => ("", &[], None),
        "time" => ("fo", &["format", "output"], None),
        "nice" => ("n", &["adjustment"], None),
        "exec" => ("a", &[], None),
        "timeout" => ("sk", &["signal", "kill-after"], None),
        "stdbuf" => ("ioe", &["input", "output", "error"], None),
        "ionice" => ("cnpPu", &["class", "classdata", "pid", "pgid", "uid"], None),
        "xargs" => (
            "IdEsLnPa",
            &["max-args", "max-procs", "delimiter", "arg-file", "max-lines", "max-chars", "eof"],
            None,
        ),
        _ => return None,
    };
    let args = texts(&argv[1..]);
    let opts = getopt(&args, with_arg, long_with_arg, true);
    let mut start = 1 + opts.first_operand;
    match name {
        "env" => start += argv[start..].iter().take_while(|w| is_assignment(&w.raw)).count(),
        "timeout" => start += 1,
        "command" if opts.short('v') || opts.short('V') => start = argv.len(),
        _ => {}
    }
    let inner = &argv[start.min(argv.len())..];
    let script = match name {
        "env" => opts.value("S").or_else(|| opts.value("split-string")).map(str::to_string),
        _ => None,
    };
    let finding = match name {
        "env" if inner.is_empty() && script.is_none() => Some(Finding::dangerous(ENV_DUMP)),
        _ => finding,
    };
    Some(Wrapped { inner, finding, script })
}

#[derive(Debug, PartialEq, Eq)]
enum Invocation<'a> {
    /// `-c SCRIPT`
    Command(&'a str),
    /// No script file: the program comes from standard input.
    Stdin,
    /// A script file, or nothing to run.
    File,
}

fn shell_invocation<'a>(args: &[&'a str]) -> Invocation<'a> {
    let (mut with_c, mut with_s, mut operand) = (false, false, None);
    let mut it = args.iter();
    while let Some(&arg) = it.next() {
        if arg == "--" || arg == "-" {
            operand = it.next().copied();
            break;
        }
        if matches!(arg, "-o" | "+o" | "-O" | "+O" | "--rcfile" | "--init-file") {
            it.next();
            continue;
        }
        if arg.starts_with("--") || arg.starts_with('+') {
            continue;
        }
        match arg.strip_prefix('-') {
            Some(flags) => {
                with_c |= flags.contains('c');
                with_s |= flags.contains('s');
            }
            None => {
                operand = Some(arg);
                break;
            }
        }
    }
    match (with_c, operand) {
        (true, Some(script)) => Invocation::Command(script),
        (true, None) => Invocation::File,
        (false, None) => Invocation::Stdin,
        (false, Some(_)) if with_s => Invocation::Stdin,
        (false, Some(_)) => Invocation::File,
    }
}

/// `sh -c SCRIPT` runs SCRIPT; a shell reading its program from a here-doc runs that.
fn shell_scripts(args: &[&str], redirects: &[Redirect]) -> Vec<Runs> {
    match shell_invocation(args) {
        Invocation::Command(script) => vec![Runs::Script(script.to_string())],
        Invocation::Stdin => redirects
            .iter()
            .filter(|r| r.kind == RedirectKind::HereDoc)
            .map(|r| Runs::Script(r.target.text.clone()))
            .collect(),
        Invocation::File => Vec::new(),
    }
}

/// `find` deletes with `-delete` and runs `-exec`/`-ok` commands, `{}` standing for what it
/// finds (judged as the first starting point).
fn find(argv: &[Word], out: &mut Inspection) {
    let words = &argv[1..];
    let mut k = 0;
    while let Some(w) = words.get(k) {
        match w.text.as_str() {
            "-H" | "-L" | "-P" => k += 1,
            "-D" => k += 2,
            t if t.starts_with("-O") => k += 1,
            _ => break,
        }
    }
    let starts: Vec<&str> = words[k.min(words.len())..]
        .iter()
        .map(|w| w.text.as_str())
        .take_while(|t| !t.starts_with('-') && *t != "(" && *t != "!")
        .collect();
    let found = starts.first().copied().unwrap_or(".");
    let mut deletes = false;
    let mut deletes_by_exec = false;
    let mut i = k + starts.len();
    while i < words.len() {
        match words[i].text.as_str() {
            "-delete" => deletes = true,
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                let end = words[i + 1..]
                    .iter()
                    .position(|w| w.text == ";" || w.text == "+")
                    .map_or(words.len(), |p| i + 1 + p);
                let inner: Vec<Word> = words[i + 1..end]
                    .iter()
                    .map(|w| if w.text == "{}" { Word::literal(found) } else { w.clone() })
                    .collect();
                deletes_by_exec |= matches!(name_of(effective(&inner)), "rm" | "unlink" | "shred" | "rmdir");
                if !inner.is_empty() {
                    out.runs.push(Runs::Argv(inner));
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    if (deletes || deletes_by_exec) && starts.iter().any(|s| paths::is_root_or_home(s)) {
        out.findings.push(Finding::dangerous("find deletes under / or home"));
    } else if deletes {
        out.findings.push(Finding::caution("find -delete"));
    }
}

/// The rules for a command that runs nothing else.
fn leaf(name: &str, args: &[&str], redirects: &[Redirect]) -> Vec<Finding> {
    let specific = match name {
        "rm" => rm(args),
        "mv" => mv(args),
        "chmod" | "chown" | "chgrp" => ownership(name, args),
        "git" => git(args),
        "kill" => kill(args),
        "docker" | "podman" | "nerdctl" => docker(args),
        _ => None,
    };
    let mut findings: Vec<Finding> = specific.into_iter().chain(by_name(name, args)).collect();
    if DB_CLIENTS.contains(&name) && destroys_sql_in(args, redirects) {
        findings.push(Finding::caution(SQL_DESTRUCTION));
    }
    findings.extend(write_targets(name, args).into_iter().filter_map(paths::write_finding));
    findings
}

/// Rules decided by the command's name and a word or two.
fn by_name(name: &str, args: &[&str]) -> Option<Finding> {
    let caution = |reason: &str| Some(Finding::caution(reason));
    let verb = args.iter().find(|a| !a.starts_with('-')).copied().unwrap_or("");
    match name {
        "killall" | "pkill" => caution("kills processes by name"),
        "shutdown" | "reboot" | "poweroff" | "halt" => caution(POWER),
        "init" | "telinit" if matches!(verb, "0" | "6") => caution(POWER),
        "systemctl" if POWER_VERBS.contains(&verb) => caution(POWER),
        "crontab" if getopt(args, "u", &[], false).short('r') => caution("crontab -r deletes every cron job"),
        "dropdb" => caution("drops a database"),
        "redis-cli"
            if args.iter().any(|a| matches!(a.to_ascii_lowercase().as_str(), "flushall" | "flushdb")) =>
        {
            caution("flushes a Redis database")
        }
        "npm" | "pnpm" | "yarn" if matches!(verb, "publish" | "unpublish") => caution(PUBLISH),
        "cargo" if verb == "publish" => caution(PUBLISH),
        "twine" if verb == "upload" => caution(PUBLISH),
        "gem" if verb == "push" => caution(PUBLISH),
        _ if dumps_environment(name, args) => Some(Finding::dangerous(ENV_DUMP)),
        _ if formats_disk(name) => Some(Finding::dangerous("formats a filesystem")),
        _ => None,
    }
}

/// SQL in a database client's arguments or here-documents.
fn destroys_sql_in(args: &[&str], redirects: &[Redirect]) -> bool {
    let heredocs =
        redirects.iter().filter(|r| r.kind == RedirectKind::HereDoc).map(|r| r.target.text.as_str());
    args.iter().copied().chain(heredocs).any(destroys_sql)
}

fn rm(args: &[&str]) -> Option<Finding> {
    let opts = getopt(args, "", &[], false);
    let recursive = opts.short('r') || opts.short('R') || opts.long("recursive");
    if opts.long("no-preserve-root") {
        Some(Finding::dangerous("rm --no-preserve-root"))
    } else if recursive && opts.operands.iter().any(|p| paths::is_root_or_home(p)) {
        Some(Finding::dangerous("recursive rm of / or home"))
    } else if recursive {
        Some(Finding::caution("recursive rm"))
    } else {
        None
    }
}

fn mv(args: &[&str]) -> Option<Finding> {
    let opts = getopt(args, "tS", &["target-directory", "suffix"], false);
    if opts.operands.iter().any(|p| paths::is_root_or_home(p)) {
        Some(Finding::dangerous("moves / or home away"))
    } else {
        None
    }
}

/// `chmod`, `chown`, `chgrp`: the first operand is the mode or owner unless `--reference`.
fn ownership(name: &str, args: &[&str]) -> Option<Finding> {
    let opts = getopt(args, "", &[], false);
    let recursive = opts.short('R') || opts.long("recursive");
    let (spec, targets) = split_spec(&opts);
    if recursive && targets.iter().any(|p| paths::is_root_or_home(p)) {
        Some(Finding::dangerous(format!("recursive {name} of / or home")))
    } else if name == "chmod" && spec.is_some_and(world_writable) {
        Some(Finding::caution("makes files world-writable (chmod)"))
    } else {
        None
    }
}

fn split_spec<'a>(opts: &Parsed<'a>) -> (Option<&'a str>, Vec<&'a str>) {
    if opts.long("reference") {
        return (None, opts.operands.clone());
    }
    match opts.operands.split_first() {
        Some((spec, targets)) => (Some(spec), targets.to_vec()),
        None => (None, Vec::new()),
    }
}

/// Octal with the others' write bit (`777`, `0666`, `1777`), or symbolic `o+w`, `a=rwx`.
fn world_writable(mode: &str) -> bool {
    if !mode.is_empty() && mode.chars().all(|c| c.is_digit(8)) {
        return mode.chars().last().and_then(|c| c.to_digit(8)).is_some_and(|others| others & 2 != 0);
    }
    mode.split(',').any(|clause| {
        let who: String = clause.chars().take_while(|c| "ugoa".contains(*c)).collect();
        let mut op = '+';
        let grants_w = clause[who.len()..].chars().any(|c| {
            if "+-=".contains(c) {
                op = c;
                false
            } else {
                c == 'w' && op != '-'
            }
        });
        (who.contains('o') || who.contains('a')) && grants_w
    })
}

fn git(args: &[&str]) -> Option<Finding> {
    let global =
        getopt(args, "Cc", &["git-dir", "work-tree", "namespace", "super-prefix", "config-env"], true);
    let (sub, rest) = args[global.first_operand..].split_first()?;
    let opts = getopt(rest, "o", &["repo", "receive-pack", "exec", "push-option"], false);
    let force = opts.short('f')
        || opts.long("force")
        || opts.long("mirror")
        || opts.longs.iter().any(|l| l.starts_with("force-with-lease"))
        || opts.operands.iter().skip(1).any(|r| r.starts_with('+'));
    let delete =
        opts.short('d') || opts.long("delete") || opts.operands.iter().skip(1).any(|r| r.starts_with(':'));
    let finding = match *sub {
        "push" if force => "force push",
        "push" if delete => "deletes a remote branch",
        "reset" if opts.long("hard") => "git reset --hard discards changes",
        "clean" if (opts.short('f') || opts.long("force")) && !(opts.short('n') || opts.long("dry-run")) => {
            "git clean deletes untracked files"
        }
        _ => return None,
    };
    Some(Finding::caution(finding))
}

fn kill(args: &[&str]) -> Option<Finding> {
    let mut signals = Vec::new();
    let mut it = args.iter();
    while let Some(&arg) = it.next() {
        match arg {
            "-s" | "-n" | "--signal" => signals.extend(it.next().copied()),
            "--" => break,
            _ => {
                if let Some(signal) = arg.strip_prefix("--signal=") {
                    signals.push(signal);
                } else if let Some(signal) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
                    signals.push(signal);
                }
            }
        }
    }
    let sigkill = signals.iter().any(|s| {
        let s = s.to_ascii_uppercase();
        let s = s.strip_prefix("SIG").unwrap_or(&s);
        s == "9" || s == "KILL"
    });
    if sigkill { Some(Finding::caution("kill -9")) } else { None }
}

fn docker(args: &[&str]) -> Option<Finding> {
    let global = getopt(args, "Hcl", &["host", "context", "config", "log-level"], true);
    let words = &args[global.first_operand..];
    let object = match words.first() {
        Some(&o @ ("system" | "image" | "container" | "volume" | "network" | "builder" | "buildx")) => o,
        _ => "",
    };
    let verb_at = usize::from(!object.is_empty());
    let rest = words.get(verb_at + 1..).unwrap_or_default();
    let opts = getopt(rest, "", &[], false);
    let force = opts.short('f') || opts.long("force");
    let finding = match (object, words.get(verb_at).copied()) {
        (_, Some("prune")) => "docker prune deletes data",
        ("volume", Some("rm")) => "removes docker volumes",
        (_, Some("rm" | "rmi")) if force => "docker force-remove",
        _ => return None,
    };
    Some(Finding::caution(finding))
}

/// `env` with no command is judged with the wrappers; these are the others.
fn dumps_environment(name: &str, args: &[&str]) -> bool {
    match name {
        "printenv" => getopt(args, "", &[], false).operands.is_empty(),
        "set" => args.is_empty(),
        "export" => args.iter().all(|a| *a == "-p"),
        "declare" | "typeset" => {
            let opts = getopt(args, "", &[], false);
            opts.operands.is_empty() && !opts.short('f') && !opts.short('F')
        }
        _ => false,
    }
}

fn formats_disk(name: &str) -> bool {
    name.starts_with("mkfs") || matches!(name, "mke2fs" | "mkswap" | "wipefs" | "mkdosfs" | "mkntfs")
}

/// The files a command writes, creates, moves or removes.
fn write_targets<'a>(name: &str, args: &[&'a str]) -> Vec<&'a str> {
    let operands = |with_arg: &str, long: &[&str]| getopt(args, with_arg, long, false).operands;
    match name {
        "rm" | "rmdir" | "unlink" | "tee" => operands("", &[]),
        "touch" => operands("dtr", &["date", "reference"]),
        "mkdir" => operands("m", &["mode"]),
        "shred" => operands("ns", &["iterations", "size", "random-source"]),
        "truncate" => operands("sr", &["size", "reference"]),
        "chmod" | "chown" | "chgrp" => split_spec(&getopt(args, "", &[], false)).1,
        "mv" => {
            let opts = getopt(args, "tS", &["target-directory", "suffix"], false);
            opts.operands
                .iter()
                .copied()
                .chain(opts.value("t"))
                .chain(opts.value("target-directory"))
                .collect()
        }
        "cp" | "ln" | "install" | "rsync" => {
            let opts =
                getopt(args, "tSmog", &["target-directory", "suffix", "mode", "owner", "group"], false);
            if name == "install" && (opts.short('d') || opts.long("directory")) {
                return opts.operands;
            }
            match opts.value("t").or_else(|| opts.value("target-directory")) {
                Some(dir) => vec![dir],
                None if opts.operands.len() >= 2 => opts.operands.last().copied().into_iter().collect(),
                None => Vec::new(),
            }
        }
        "sed" => sed_in_place_files(args),
        "dd" => args.iter().filter_map(|a| a.strip_prefix("of=")).collect(),
        "curl" => {
            let opts = getopt(args, "oHdXuAeEbcTFxmwKrYyzCDQ", &["output"], false);
            opts.values.iter().filter(|(k, _)| k == "o" || k == "output").map(|(_, v)| *v).collect()
        }
        "wget" => {
            let opts = getopt(args, "OoaPeUtTwQlAR", &["output-document"], false);
            let outputs = opts.values.iter().filter(|(k, _)| k == "O" || k == "output-document");
            outputs.map(|(_, v)| *v).filter(|v| *v != "-").collect()
        }
        _ => Vec::new(),
    }
}

fn sed_in_place_files<'a>(args: &[&'a str]) -> Vec<&'a str> {
    // GNU sed reads the rest of a cluster after `i` as a backup suffix: `-i.bak`, `-ie`.
    let args: Vec<&str> = args
        .iter()
        .map(|a| match a.strip_prefix('-').filter(|f| !f.starts_with('-')).and_then(|f| f.find('i')) {
            Some(i) => &a[..i + 2],
            None => a,
        })
        .collect();
    let opts = getopt(&args, "efl", &["expression", "file", "line-length"], false);
    if !(opts.short('i') || opts.long("in-place")) {
        return Vec::new();
    }
    let script_given =
        opts.values.iter().any(|(k, _)| matches!(k.as_str(), "e" | "f" | "expression" | "file"));
    if script_given { opts.operands } else { opts.operands.get(1..).unwrap_or_default().to_vec() }
}

/// Arguments split the way getopt would.
#[derive(Debug, Default)]
struct Parsed<'a> {
    /// Short flags in order: `-rf` gives `r`, `f`.
    shorts: Vec<char>,
    /// Long options without their dashes, any `=value` included.
    longs: Vec<&'a str>,
    /// Options that take a value, with it: (`o` or `output`, value).
    values: Vec<(String, &'a str)>,
    operands: Vec<&'a str>,
    /// Where the first operand is (`args.len()` when none): a wrapped command starts there.
    first_operand: usize,
}

impl<'a> Parsed<'a> {
    fn short(&self, c: char) -> bool {
        self.shorts.contains(&c)
    }

    fn long(&self, name: &str) -> bool {
        self.longs.iter().any(|l| l.split('=').next() == Some(name))
    }

    fn value(&self, option: &str) -> Option<&'a str> {
        self.values.iter().find(|(k, _)| k == option).map(|(_, v)| *v)
    }
}

/// Splits `args` into options and operands. `with_arg` lists the short options taking a
/// value, `long_with_arg` the long ones; with `stop_at_operand` parsing stops at the first
/// operand (a wrapper's command), else options may follow operands, as with GNU tools.
fn getopt<'a>(args: &[&'a str], with_arg: &str, long_with_arg: &[&str], stop_at_operand: bool) -> Parsed<'a> {
    let mut parsed = Parsed { first_operand: args.len(), ..Parsed::default() };
    let mut i = 0;
    while i < args.len() {
        let arg = args[i];
        if arg == "--" {
            parsed.first_operand = parsed.first_operand.min(i + 1);
            if !stop_at_operand {
                parsed.operands.extend(&args[i + 1..]);
            }
            break;
        } else if let Some(long) = arg.strip_prefix("--") {
            parsed.longs.push(long);
            if let Some((key, value)) = long.split_once('=') {
                parsed.values.push((key.to_string(), value));
            } else if long_with_arg.contains(&long) && i + 1 < args.len() {
                parsed.values.push((long.to_string(), args[i + 1]));
                i += 1;
            }
        } else if let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) {
            for (k, c) in cluster.char_indices() {
                parsed.shorts.push(c);
                if with_arg.contains(c) {
                    let rest = &cluster[k + c.len_utf8()..];
                    if !rest.is_empty() {
                        parsed.values.push((c.to_string(), rest));
                    } else if i + 1 < args.len() {
                        parsed.values.push((c.to_string(), args[i + 1]));
                        i += 1;
                    }
                    break;
                }
            }
        } else {
            parsed.first_operand = parsed.first_operand.min(i);
            if stop_at_operand {
                break;
            }
            parsed.operands.push(arg);
        }
        i += 1;
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::approval::Severity;

    fn worst(finding: Option<Finding>) -> Severity {
        finding.map_or(Severity::Safe, |f| f.severity)
    }

    #[test]
    fn getopt_splits_clusters_values_and_operands() {
        let p = getopt(&["-rf", "--force", "-tdir", "a", "-o", "x", "--", "-b"], "to", &[], false);
        assert_eq!(p.shorts, ['r', 'f', 't', 'o']);
        assert_eq!(p.value("t"), Some("dir"));
        assert_eq!(p.value("o"), Some("x"));
        assert!(p.long("force"));
        assert_eq!(p.operands, ["a", "-b"]);
        let wrapper = getopt(&["-u", "root", "rm", "-rf", "/"], "u", &[], true);
        assert_eq!(wrapper.first_operand, 2);
    }

    #[test]
    fn world_writable_modes() {
        for m in ["777", "0777", "666", "1777", "2", "o+w", "a+rwx", "u+x,o=rw", "ugo+w"] {
            assert!(world_writable(m), "{m}");
        }
        for m in ["755", "644", "0775", "+x", "u+w", "go-w", "o-w", "a+r"] {
            assert!(!world_writable(m), "{m}");
        }
    }

    #[test]
    fn shell_invocations() {
        assert_eq!(shell_invocation(&["-c", "ls"]), Invocation::Command("ls"));
        assert_eq!(shell_invocation(&["-euxc", "ls", "name"]), Invocation::Command("ls"));
        assert_eq!(shell_invocation(&["-o", "pipefail", "-c", "ls"]), Invocation::Command("ls"));
        assert_eq!(shell_invocation(&[]), Invocation::Stdin);
        assert_eq!(shell_invocation(&["-s", "--", "--flag"]), Invocation::Stdin);
        assert_eq!(shell_invocation(&["-"]), Invocation::Stdin);
        assert_eq!(shell_invocation(&["script.sh", "-c"]), Invocation::File);
    }

    #[test]
    fn sql_destruction_is_found_case_insensitively() {
        assert!(destroys_sql("drop   table users;"));
        assert!(destroys_sql("DROP DATABASE IF EXISTS x"));
        assert!(destroys_sql("Truncate logs"));
        assert!(!destroys_sql("select drop_table from t; -- truncated_at"));
    }

    #[test]
    fn sed_in_place_targets_skip_the_script() {
        assert_eq!(sed_in_place_files(&["-i", "/etc/d", "f"]), ["f"]);
        assert_eq!(sed_in_place_files(&["-i.bak", "-e", "s/a/b/", "/etc/x"]), ["/etc/x"]);
        assert!(sed_in_place_files(&["s/a/b/", "/etc/x"]).is_empty());
    }

    #[test]
    fn kill_nine_in_its_spellings() {
        for args in [&["-9", "1"][..], &["-KILL", "1"], &["-s", "SIGKILL", "1"], &["--signal=kill", "1"]] {
            assert_eq!(worst(kill(args)), Severity::Caution, "{args:?}");
        }
        assert_eq!(worst(kill(&["1"])), Severity::Safe);
        assert_eq!(worst(kill(&["-TERM", "1"])), Severity::Safe);
    }
}
