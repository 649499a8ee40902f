//! Walks a parsed command line: every simple command, what wrappers, `sh -c` strings and
//! substitutions run, and the rules that span a pipeline; the worst finding wins.

use super::paths;
use super::rules::{self, Runs};
use super::tokenize::{self, Pipeline, Redirect, RedirectKind, Script, Simple, Stage, Word};
use super::{Finding, Severity, Verdict};

pub const UNPARSEABLE: &str = "could not parse the command";
pub const SAFE: &str = "no rule matched";
/// `sudo sh -c "eval '…'"`…: deeper than this is refused rather than followed.
const MAX_DEPTH: usize = 32;

pub struct Analysis {
    pub verdict: Verdict,
    /// More than one simple command, a substitution, a function, or unparseable: glob
    /// allow entries never apply.
    pub compound: bool,
    /// The whole command, its pipelines and every simple command in it, including those
    /// wrappers and `sh -c` run: what deny entries are matched against.
    pub parts: Vec<String>,
}

pub fn analyze(command: &str) -> Analysis {
    let command = command.trim();
    let mut walker = Walker::default();
    walker.inline(command);
    let safe = || Verdict { severity: Severity::Safe, reason: SAFE.to_string(), part: command.to_string() };
    Analysis {
        verdict: walker.worst.unwrap_or_else(safe),
        compound: walker.leaves > 1 || walker.nested,
        parts: walker.parts,
    }
}

#[derive(Default)]
struct Walker {
    worst: Option<Verdict>,
    /// Commands that run nothing else (`sudo rm x` is one).
    leaves: usize,
    /// Seen a substitution, a function or something unparseable.
    nested: bool,
    parts: Vec<String>,
    depth: usize,
}

impl Walker {
    /// Keeps `finding` if it is worse than anything so far; the first of equals stays.
    fn note(&mut self, finding: Finding, part: &str) {
        if self.worst.as_ref().is_none_or(|w| finding.severity > w.severity) {
            let part = part.trim().to_string();
            self.worst = Some(Verdict { severity: finding.severity, reason: finding.reason, part });
        }
    }

    fn descend(&mut self, part: &str) -> bool {
        if self.depth >= MAX_DEPTH {
            self.nested = true;
            self.note(Finding::caution("nested too deeply to follow"), part);
            return false;
        }
        self.depth += 1;
        true
    }

    /// A command line given as text: the whole input, `sh -c`'s argument, `eval`'s.
    fn inline(&mut self, src: &str) {
        let src = src.trim();
        if !self.descend(src) {
            return;
        }
        match tokenize::parse(src) {
            Ok(script) => {
                self.parts.push(src.to_string());
                self.script(&script);
            }
            Err(_) => {
                self.nested = true;
                self.note(Finding::caution(UNPARSEABLE), src);
            }
        }
        self.depth -= 1;
    }

    fn script(&mut self, script: &Script) {
        for pipeline in &script.pipelines {
            self.pipeline(pipeline);
        }
    }

    fn pipeline(&mut self, pipeline: &Pipeline) {
        let stages = &pipeline.stages;
        if stages.len() > 1 {
            self.parts.push(pipeline.text.clone());
        }
        for (k, stage) in stages.iter().enumerate().skip(1) {
            if !reads_program_from_stdin(stage) {
                continue;
            }
            let printed = printed_scripts(&stages[k - 1]);
            if stages[..k].iter().any(stage_downloads) {
                self.note(Finding::dangerous(rules::PIPES_DOWNLOAD), &pipeline.text);
            } else if shell_reads_stdin(stage) && !printed.is_empty() {
                // What `echo` prints into a shell is a command line we can judge.
                for script in printed {
                    self.inline(&script);
                }
            } else {
                self.note(Finding::caution("pipes generated code into an interpreter"), &pipeline.text);
            }
        }
        if stages.len() > 1 && stages.iter().any(is_db_client) && stages.iter().any(mentions_sql_destruction)
        {
            self.note(Finding::caution(rules::SQL_DESTRUCTION), &pipeline.text);
        }
        for stage in stages {
            self.stage(stage);
        }
    }

    fn stage(&mut self, stage: &Stage) {
        match stage {
            Stage::Simple(cmd) => self.simple(cmd),
            Stage::Group { text, body, redirects } => {
                self.script(body);
                self.redirects(redirects, text);
            }
            Stage::Function { name, text, body } => {
                self.nested = true;
                if self_calls(body, name) >= 2 {
                    self.note(Finding::dangerous("fork bomb (a function that spawns itself)"), text);
                }
                self.script(body);
            }
        }
    }

    fn simple(&mut self, cmd: &Simple) {
        self.parts.push(cmd.text.clone());
        for word in cmd.words.iter().chain(cmd.redirects.iter().map(|r| &r.target)) {
            for sub in &word.subs {
                self.nested = true;
                self.script(sub);
            }
        }
        self.redirects(&cmd.redirects, &cmd.text);
        let argv = rules::command_words(&cmd.words);
        if !rules::only_prints(argv) {
            for word in &cmd.words {
                if let Some(finding) = paths::secret_finding(&word.text) {
                    self.note(finding, &cmd.text);
                }
            }
        }
        self.command(argv, &cmd.redirects, &cmd.text);
    }

    fn redirects(&mut self, redirects: &[Redirect], part: &str) {
        for redirect in redirects {
            let target = &redirect.target.text;
            let findings = match redirect.kind {
                RedirectKind::Write => [paths::write_finding(target), paths::secret_finding(target)],
                RedirectKind::Read => [None, paths::secret_finding(target)],
                RedirectKind::Dup | RedirectKind::HereDoc => continue,
            };
            for finding in findings.into_iter().flatten() {
                self.note(finding, part);
            }
        }
    }

    /// One command from its command word on, and whatever it runs in turn.
    fn command(&mut self, argv: &[Word], redirects: &[Redirect], part: &str) {
        let argv = rules::command_words(argv);
        let Some(first) = argv.first() else {
            self.leaves += 1;
            return;
        };
        if !self.descend(part) {
            return;
        }
        if !first.subs.is_empty() {
            let finding = if first.subs.iter().any(script_downloads) {
                Finding::dangerous(rules::RUNS_DOWNLOAD)
            } else {
                Finding::caution("runs a computed command")
            };
            self.note(finding, part);
        }
        if runs_downloaded_program(argv, redirects) {
            self.note(Finding::dangerous(rules::RUNS_DOWNLOAD), part);
        }
        let inspection = rules::inspect(argv, redirects);
        for finding in inspection.findings {
            self.note(finding, part);
        }
        if inspection.runs.is_empty() {
            self.leaves += 1;
        }
        for run in inspection.runs {
            match run {
                Runs::Argv(inner) => {
                    let text = inner.iter().map(|w| w.raw.as_str()).collect::<Vec<_>>().join(" ");
                    self.parts.push(text.clone());
                    self.command(&inner, redirects, &text);
                }
                Runs::Script(src) => self.inline(&src),
            }
        }
        self.depth -= 1;
    }
}

/// `bash <(curl …)`, `sh -c "$(curl …)"`, `eval "$(wget …)"`, `bash < <(curl …)`.
fn runs_downloaded_program(argv: &[Word], redirects: &[Redirect]) -> bool {
    if !rules::is_interpreter(argv) {
        return false;
    }
    let downloads = |w: &Word| w.subs.iter().any(script_downloads);
    let from_stdin = rules::reads_program_from_stdin(argv)
        && redirects.iter().any(|r| r.kind == RedirectKind::Read && downloads(&r.target));
    rules::program_words(argv).iter().any(downloads) || from_stdin
}

fn script_downloads(script: &Script) -> bool {
    script_downloads_within(script, MAX_DEPTH)
}

fn stage_downloads(stage: &Stage) -> bool {
    stage_downloads_within(stage, MAX_DEPTH)
}

/// `budget` bounds how many `sh -c`/`eval` strings are followed; past it, assume the worst.
fn script_downloads_within(script: &Script, budget: usize) -> bool {
    script.pipelines.iter().flat_map(|p| &p.stages).any(|s| stage_downloads_within(s, budget))
}

/// Whether anything in the stage fetches from the network: a downloader, maybe behind a
/// wrapper, in a group, a substitution or a `sh -c` string.
fn stage_downloads_within(stage: &Stage, budget: usize) -> bool {
    match stage {
        Stage::Simple(cmd) => {
            cmd.words.iter().flat_map(|w| &w.subs).any(|s| script_downloads_within(s, budget))
                || argv_downloads(rules::command_words(&cmd.words), budget)
        }
        Stage::Group { body, .. } | Stage::Function { body, .. } => script_downloads_within(body, budget),
    }
}

fn argv_downloads(argv: &[Word], budget: usize) -> bool {
    let Some(budget) = budget.checked_sub(1) else { return true };
    let argv = rules::effective(argv);
    if argv.is_empty() {
        return false;
    }
    rules::is_downloader(argv)
        || rules::inspect(argv, &[]).runs.iter().any(|run| match run {
            Runs::Argv(inner) => argv_downloads(inner, budget),
            Runs::Script(src) => tokenize::parse(src).is_ok_and(|s| script_downloads_within(&s, budget)),
        })
}

/// The simple commands a stage runs directly (not those in substitutions).
fn direct_commands(stage: &Stage) -> Vec<&Simple> {
    match stage {
        Stage::Simple(cmd) => vec![cmd],
        Stage::Group { body, .. } => {
            body.pipelines.iter().flat_map(|p| &p.stages).flat_map(direct_commands).collect()
        }
        Stage::Function { .. } => Vec::new(),
    }
}

fn effective_argvs(stage: &Stage) -> Vec<&[Word]> {
    direct_commands(stage)
        .into_iter()
        .map(|cmd| rules::effective(&cmd.words))
        .filter(|a| !a.is_empty())
        .collect()
}

fn reads_program_from_stdin(stage: &Stage) -> bool {
    effective_argvs(stage).into_iter().any(rules::reads_program_from_stdin)
}

fn shell_reads_stdin(stage: &Stage) -> bool {
    effective_argvs(stage)
        .into_iter()
        .any(|argv| rules::is_shell(argv) && rules::reads_program_from_stdin(argv))
}

/// What `echo …` or `printf …` prints into the next stage.
fn printed_scripts(stage: &Stage) -> Vec<String> {
    effective_argvs(stage).into_iter().flat_map(rules::printed_scripts).collect()
}

fn is_db_client(stage: &Stage) -> bool {
    effective_argvs(stage).into_iter().any(rules::is_db_client)
}

fn mentions_sql_destruction(stage: &Stage) -> bool {
    direct_commands(stage).into_iter().any(|cmd| {
        let heredocs = cmd.redirects.iter().filter(|r| r.kind == RedirectKind::HereDoc).map(|r| &r.target);
        cmd.words.iter().chain(heredocs).any(|w| rules::destroys_sql(&w.text))
    })
}

/// How many times a function's body calls the function itself.
fn self_calls(body: &Script, name: &str) -> usize {
    body.pipelines
        .iter()
        .flat_map(|p| &p.stages)
        .flat_map(direct_commands)
        .filter(|cmd| rules::command_words(&cmd.words).first().is_some_and(|w| w.text == name))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_means_more_than_one_command_or_any_substitution() {
        assert!(!analyze("rm -rf build/").compound);
        assert!(!analyze("sudo X=1 rm -rf build/").compound);
        assert!(analyze("rm -rf build/ && ls").compound);
        assert!(analyze("ls | wc -l").compound);
        assert!(analyze("rm -rf $(cat list)").compound);
        assert!(analyze("sh -c 'a; b'").compound);
        assert!(analyze("echo 'unclosed").compound);
    }

    #[test]
    fn parts_include_inner_commands() {
        let parts = analyze("ls && sudo rm -rf x; a | b").parts;
        for part in ["ls && sudo rm -rf x; a | b", "ls", "sudo rm -rf x", "rm -rf x", "a | b", "a", "b"] {
            assert!(parts.iter().any(|p| p == part), "{part} not in {parts:?}");
        }
        let inline = analyze("bash -c 'curl x | sh'").parts;
        assert!(inline.iter().any(|p| p == "curl x | sh"), "{inline:?}");
    }

    #[test]
    fn the_first_of_equally_bad_parts_is_reported() {
        let v = analyze("rm -r a; rm -r b").verdict;
        assert_eq!((v.severity, v.part.as_str()), (Severity::Caution, "rm -r a"));
    }

    #[test]
    fn deep_wrapper_chains_are_cut_off_not_overflowed() {
        let v = analyze(&"sudo ".repeat(500)).verdict;
        assert_eq!(v.severity, Severity::Caution);
    }
}
