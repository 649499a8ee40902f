//! A shell parser just deep enough for approval: quotes, escapes, comments, the list and
//! pipe operators, `$(…)`, backticks, `<(…)`, subshells, `{ …; }`, functions, here-docs
//! and redirections, down to the simple commands a line would run. It expands nothing.

/// Substitutions in substitutions in…: deeper than this is refused rather than followed.
const MAX_NESTING: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unclosed {0}")]
    Unclosed(&'static str),
    #[error("unexpected `{0}`")]
    Unexpected(char),
    #[error("incomplete {0}")]
    Incomplete(&'static str),
    #[error("a redirection without a target")]
    MissingTarget,
    #[error("nested too deeply")]
    TooDeep,
}

/// Pipelines in the order they appear; `;`, `&&`, `||`, `&` and newlines all just
/// separate them, since any of them may run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub pipelines: Vec<Pipeline>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub text: String,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    Simple(Simple),
    /// `( … )` or `{ …; }`, with the redirections that follow it.
    Group {
        text: String,
        body: Script,
        redirects: Vec<Redirect>,
    },
    /// `name() body` or `function name body`.
    Function {
        name: String,
        text: String,
        body: Script,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simple {
    pub text: String,
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Word {
    /// After quote removal; substitutions and `$VAR` are kept as written.
    pub text: String,
    /// As written.
    pub raw: String,
    /// What `$(…)`, backticks and `<(…)` inside the word run.
    pub subs: Vec<Script>,
}

impl Word {
    pub fn literal(text: &str) -> Self {
        Self { text: text.to_string(), raw: text.to_string(), subs: Vec::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `>`, `>>`, `>|`, `&>`, `<>`, `2>`…: the target is a file written.
    Write,
    /// `<`: the target is a file read.
    Read,
    /// `>&2`, `<&0`, `>&-`: the target is a descriptor.
    Dup,
    /// `<<`, `<<-`, `<<<`: the target's text is the document itself.
    HereDoc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub target: Word,
}

pub fn parse(src: &str) -> Result<Script, ParseError> {
    Parser::new(src, 0).list(Close::End)
}

/// Longest first, so `>>` is not read as `>` `>`.
const REDIRECT_OPS: [&str; 12] = ["&>>", "<<<", "<<-", "&>", ">>", ">|", ">&", "<<", "<&", "<>", ">", "<"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    End,
    Paren,
    Brace,
}

impl Close {
    fn what(self) -> &'static str {
        match self {
            Close::End => "input",
            Close::Paren => "parenthesis",
            Close::Brace => "brace group",
        }
    }
}

struct Parser {
    s: Vec<char>,
    i: usize,
    depth: usize,
}

impl Parser {
    fn new(src: &str, depth: usize) -> Self {
        Self { s: src.chars().collect(), i: 0, depth }
    }

    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn text(&self, from: usize, to: usize) -> String {
        let len = self.s.len();
        self.s[from.min(len)..to.min(len)].iter().collect()
    }

    fn starts_with(&self, op: &str) -> bool {
        op.chars().enumerate().all(|(k, c)| self.peek_at(k) == Some(c))
    }

    fn nest(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING { Err(ParseError::TooDeep) } else { Ok(()) }
    }

    fn list(&mut self, close: Close) -> Result<Script, ParseError> {
        self.nest()?;
        let mut script = Script::default();
        loop {
            self.skip_separators();
            match self.peek() {
                None if close == Close::End => break,
                None => return Err(ParseError::Unclosed(close.what())),
                Some(')') if close == Close::Paren => {
                    self.i += 1;
                    break;
                }
                Some(')') => return Err(ParseError::Unexpected(')')),
                Some('}') if close == Close::Brace && self.ends_word(1) => {
                    self.i += 1;
                    break;
                }
                Some(c) => {
                    let before = self.i;
                    script.pipelines.push(self.pipeline()?);
                    if self.i == before {
                        return Err(ParseError::Unexpected(c));
                    }
                }
            }
        }
        self.depth -= 1;
        Ok(script)
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let start = self.i;
        let mut stages = vec![self.stage()?];
        loop {
            self.skip_blanks();
            if self.peek() != Some('|') || self.peek_at(1) == Some('|') {
                break;
            }
            self.i += 1;
            if self.peek() == Some('&') {
                self.i += 1;
            }
            self.skip_line_breaks();
            stages.push(self.stage()?);
        }
        Ok(Pipeline { text: self.text(start, self.i).trim().to_string(), stages })
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        self.skip_blanks();
        let start = self.i;
        let body = match self.peek() {
            Some('(') => {
                self.i += 1;
                self.list(Close::Paren)?
            }
            Some('{') if self.peek_at(1).is_some_and(char::is_whitespace) => {
                self.i += 1;
                self.list(Close::Brace)?
            }
            _ => return self.simple(start),
        };
        let redirects = self.trailing_redirects()?;
        Ok(Stage::Group { text: self.text(start, self.i).trim().to_string(), body, redirects })
    }

    fn trailing_redirects(&mut self) -> Result<Vec<Redirect>, ParseError> {
        let mut redirects = Vec::new();
        loop {
            self.skip_blanks();
            if !self.at_redirect() {
                return Ok(redirects);
            }
            redirects.push(self.redirect()?);
        }
    }

    fn simple(&mut self, start: usize) -> Result<Stage, ParseError> {
        let mut cmd = Simple::default();
        let mut end = start;
        loop {
            self.skip_blanks();
            let Some(c) = self.peek() else { break };
            if self.at_redirect() {
                cmd.redirects.push(self.redirect()?);
            } else if self.at_process_sub() {
                cmd.words.push(self.process_sub()?);
            } else {
                match c {
                    '#' => {
                        self.skip_comment();
                        break;
                    }
                    ';' | '&' | '|' | '\n' | ')' => break,
                    '(' if cmd.words.len() == 1 && cmd.redirects.is_empty() => {
                        let name = cmd.words.remove(0).text;
                        return self.function(start, name);
                    }
                    '(' => return Err(ParseError::Unexpected('(')),
                    _ => {
                        let word = self.word()?;
                        if cmd.words.is_empty() && cmd.redirects.is_empty() && word.raw == "function" {
                            return self.function_keyword(start);
                        }
                        cmd.words.push(word);
                    }
                }
            }
            end = self.i;
        }
        cmd.text = self.text(start, end).trim().to_string();
        Ok(Stage::Simple(cmd))
    }

    /// `name()` has been read up to the `(`.
    fn function(&mut self, start: usize, name: String) -> Result<Stage, ParseError> {
        self.i += 1;
        self.skip_blanks();
        if self.peek() != Some(')') {
            return Err(ParseError::Unexpected('('));
        }
        self.i += 1;
        self.function_body(start, name)
    }

    /// `function` has been read; then come the name, an optional `()` and the body.
    fn function_keyword(&mut self, start: usize) -> Result<Stage, ParseError> {
        self.skip_blanks();
        let name = self.word()?.text;
        if name.is_empty() {
            return Err(ParseError::Incomplete("function definition"));
        }
        self.skip_blanks();
        if self.peek() == Some('(') {
            self.i += 1;
            self.skip_blanks();
            if self.peek() != Some(')') {
                return Err(ParseError::Unexpected('('));
            }
            self.i += 1;
        }
        self.function_body(start, name)
    }

    fn function_body(&mut self, start: usize, name: String) -> Result<Stage, ParseError> {
        self.skip_line_breaks();
        if self.peek().is_none() {
            return Err(ParseError::Incomplete("function definition"));
        }
        self.nest()?;
        let body = self.stage()?;
        self.depth -= 1;
        let text = self.text(start, self.i).trim().to_string();
        let body = Script { pipelines: vec![Pipeline { text: text.clone(), stages: vec![body] }] };
        Ok(Stage::Function { name, text, body })
    }

    fn at_redirect(&self) -> bool {
        let mut k = 0;
        while self.peek_at(k).is_some_and(|c| c.is_ascii_digit()) {
            k += 1;
        }
        match (self.peek_at(k), self.peek_at(k + 1)) {
            (Some('<' | '>'), Some('(')) => false,
            (Some('<' | '>'), _) => true,
            (Some('&'), Some('>')) => k == 0,
            _ => false,
        }
    }

    fn at_process_sub(&self) -> bool {
        matches!((self.peek(), self.peek_at(1)), (Some('<' | '>'), Some('(')))
    }

    fn redirect(&mut self) -> Result<Redirect, ParseError> {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let op = REDIRECT_OPS.into_iter().find(|op| self.starts_with(op)).unwrap_or(">");
        self.i += op.len();
        if op == "<<" || op == "<<-" {
            return self.heredoc(op == "<<-");
        }
        self.skip_blanks();
        let target = if self.at_process_sub() { self.process_sub()? } else { self.word()? };
        if target.raw.is_empty() {
            return Err(ParseError::MissingTarget);
        }
        let kind = match op {
            "<<<" => RedirectKind::HereDoc,
            ">&" | "<&" if is_descriptor(&target.text) => RedirectKind::Dup,
            "<" | "<&" => RedirectKind::Read,
            _ => RedirectKind::Write,
        };
        Ok(Redirect { kind, target })
    }

    /// The body starts on the line after the operator; it is cut out of the input so
    /// parsing resumes on that line as if it were not there.
    fn heredoc(&mut self, strip_tabs: bool) -> Result<Redirect, ParseError> {
        self.skip_blanks();
        let delimiter = self.word()?;
        if delimiter.raw.is_empty() {
            return Err(ParseError::MissingTarget);
        }
        // Quoting any part of the delimiter turns expansion in the body off.
        let expands = delimiter.raw == delimiter.text;
        let body_start = match self.s[self.i..].iter().position(|&c| c == '\n') {
            Some(p) => self.i + p + 1,
            None => self.s.len(),
        };
        let (body_end, resume) = self.heredoc_end(body_start, &delimiter.text, strip_tabs);
        let body = self.text(body_start, body_end);
        self.s.drain(body_start..resume);
        let mut target = Word::literal(&body);
        if expands {
            let mut scratch = Word::default();
            Parser::new(&body, self.depth).double_quoted(&mut scratch, None)?;
            target.subs = scratch.subs;
        }
        Ok(Redirect { kind: RedirectKind::HereDoc, target })
    }

    /// Where a here-doc body starting at `from` ends, and where input resumes after its
    /// delimiter line (the end of input when the delimiter never comes, as bash allows).
    fn heredoc_end(&self, from: usize, delimiter: &str, strip_tabs: bool) -> (usize, usize) {
        let len = self.s.len();
        let mut line = from;
        while line < len {
            let end = self.s[line..].iter().position(|&c| c == '\n').map_or(len, |p| line + p);
            let text: String = self.s[line..end].iter().collect();
            let text = if strip_tabs { text.trim_start_matches('\t') } else { text.as_str() };
            if text.trim_end_matches('\r') == delimiter {
                return (line, (end + 1).min(len));
            }
            line = end + 1;
        }
        (len, len)
    }

    fn process_sub(&mut self) -> Result<Word, ParseError> {
        let start = self.i;
        self.i += 2;
        let sub = self.list(Close::Paren)?;
        let raw = self.text(start, self.i);
        Ok(Word { text: raw.clone(), raw, subs: vec![sub] })
    }

    fn word(&mut self) -> Result<Word, ParseError> {
        let start = self.i;
        let mut w = Word::default();
        while let Some(c) = self.peek() {
            match c {
                c if c.is_whitespace() || ";&|<>)".contains(c) => break,
                '(' if is_assignment_prefix(&self.text(start, self.i)) => self.array(&mut w)?,
                '(' => break,
                '\'' => self.single_quoted(&mut w)?,
                '"' => {
                    self.i += 1;
                    self.double_quoted(&mut w, Some('"'))?;
                }
                '\\' => self.escaped(&mut w),
                '$' => self.dollar(&mut w, false)?,
                '`' => self.backtick(&mut w)?,
                _ => {
                    w.text.push(c);
                    self.i += 1;
                }
            }
        }
        w.raw = self.text(start, self.i);
        Ok(w)
    }

    /// `name=(a b c)`: the elements are words, not a command.
    fn array(&mut self, w: &mut Word) -> Result<(), ParseError> {
        self.nest()?;
        let start = self.i;
        self.i += 1;
        loop {
            self.skip_line_breaks();
            match self.peek() {
                None => return Err(ParseError::Unclosed("array")),
                Some(')') => {
                    self.i += 1;
                    break;
                }
                Some(c) => {
                    let element = self.word()?;
                    if element.raw.is_empty() {
                        return Err(ParseError::Unexpected(c));
                    }
                    w.subs.extend(element.subs);
                }
            }
        }
        w.text.push_str(&self.text(start, self.i));
        self.depth -= 1;
        Ok(())
    }

    fn escaped(&mut self, w: &mut Word) {
        match self.peek_at(1) {
            Some('\n') => {}
            Some(c) => w.text.push(c),
            None => w.text.push('\\'),
        }
        self.i = (self.i + 2).min(self.s.len());
    }

    fn single_quoted(&mut self, w: &mut Word) -> Result<(), ParseError> {
        let open = self.i + 1;
        let len =
            self.s[open..].iter().position(|&c| c == '\'').ok_or(ParseError::Unclosed("single quote"))?;
        w.text.push_str(&self.text(open, open + len));
        self.i = open + len + 1;
        Ok(())
    }

    /// `$'…'`: backslash escapes are decoded, so `$'\x2f'` is seen as `/`.
    fn ansi_c_quoted(&mut self, w: &mut Word) -> Result<(), ParseError> {
        self.i += 2;
        loop {
            match self.peek() {
                None => return Err(ParseError::Unclosed("$'…' quote")),
                Some('\'') => {
                    self.i += 1;
                    return Ok(());
                }
                Some('\\') => {
                    self.i += 1;
                    self.ansi_c_escape(w);
                }
                Some(c) => {
                    w.text.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn ansi_c_escape(&mut self, w: &mut Word) {
        let Some(c) = self.peek() else { return };
        self.i += 1;
        let (radix, max_digits) = match c {
            'x' => (16, 2),
            'u' => (16, 4),
            'U' => (16, 8),
            '0'..='7' => {
                self.i -= 1;
                (8, 3)
            }
            _ => {
                w.text.push(match c {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'e' | 'E' => '\u{1b}',
                    'f' => '\u{c}',
                    'v' => '\u{b}',
                    other => other,
                });
                return;
            }
        };
        let mut code = 0u32;
        let mut digits = 0;
        while digits < max_digits {
            let Some(d) = self.peek().and_then(|d| d.to_digit(radix)) else { break };
            code = code * radix + d;
            digits += 1;
            self.i += 1;
        }
        match char::from_u32(code) {
            Some(decoded) if digits > 0 => w.text.push(decoded),
            _ => {
                w.text.push('\\');
                w.text.push(c);
            }
        }
    }

    /// Inside `"…"` (or a here-doc body when `closing` is `None`): only `$`, backticks and
    /// a few backslash escapes are special.
    fn double_quoted(&mut self, w: &mut Word, closing: Option<char>) -> Result<(), ParseError> {
        loop {
            let Some(c) = self.peek() else {
                return match closing {
                    Some(_) => Err(ParseError::Unclosed("double quote")),
                    None => Ok(()),
                };
            };
            if Some(c) == closing {
                self.i += 1;
                return Ok(());
            }
            match c {
                '\\' => match self.peek_at(1) {
                    Some(n @ ('$' | '`' | '"' | '\\')) => {
                        w.text.push(n);
                        self.i += 2;
                    }
                    Some('\n') => self.i += 2,
                    _ => {
                        w.text.push('\\');
                        self.i += 1;
                    }
                },
                '$' => self.dollar(w, true)?,
                '`' => self.backtick(w)?,
                _ => {
                    w.text.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn dollar(&mut self, w: &mut Word, quoted: bool) -> Result<(), ParseError> {
        let start = self.i;
        match (self.peek_at(1), self.peek_at(2)) {
            (Some('('), Some('(')) => {
                self.i += 3;
                self.balanced(w, '(', ')', 2, "$((…))")?;
            }
            (Some('('), _) => {
                self.i += 2;
                let sub = self.list(Close::Paren)?;
                w.subs.push(sub);
            }
            (Some('{'), _) => {
                self.i += 2;
                self.balanced(w, '{', '}', 1, "${…}")?;
            }
            (Some('\''), _) if !quoted => return self.ansi_c_quoted(w),
            // `$"…"` is a translatable string: an ordinary double-quoted one here.
            (Some('"'), _) if !quoted => {
                self.i += 1;
                return Ok(());
            }
            _ => self.i += 1,
        }
        w.text.push_str(&self.text(start, self.i));
        Ok(())
    }

    /// Skips to the bracket closing `${…}` or `$((…))`, collecting the command
    /// substitutions inside (`${x:-$(cmd)}` runs `cmd`).
    fn balanced(
        &mut self,
        w: &mut Word,
        open: char,
        close: char,
        mut depth: usize,
        what: &'static str,
    ) -> Result<(), ParseError> {
        self.nest()?;
        while depth > 0 {
            let c = self.peek().ok_or(ParseError::Unclosed(what))?;
            match c {
                '\\' => self.i = (self.i + 2).min(self.s.len()),
                '\'' => {
                    let mut scratch = Word::default();
                    self.single_quoted(&mut scratch)?;
                }
                '"' => {
                    let mut scratch = Word::default();
                    self.i += 1;
                    self.double_quoted(&mut scratch, Some('"'))?;
                    w.subs.extend(scratch.subs);
                }
                '$' if self.peek_at(1) == Some('(') && self.peek_at(2) != Some('(') => {
                    self.i += 2;
                    let sub = self.list(Close::Paren)?;
                    w.subs.push(sub);
                }
                '`' => {
                    let mut scratch = Word::default();
                    self.backtick(&mut scratch)?;
                    w.subs.extend(scratch.subs);
                }
                c if c == open => {
                    depth += 1;
                    self.i += 1;
                }
                c if c == close => {
                    depth -= 1;
                    self.i += 1;
                }
                _ => self.i += 1,
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// `` `…` ``: inside, `` \` ``, `\\` and `\$` are escapes; the rest is a script.
    fn backtick(&mut self, w: &mut Word) -> Result<(), ParseError> {
        let start = self.i;
        self.i += 1;
        let mut inner = String::new();
        loop {
            match self.peek() {
                None => return Err(ParseError::Unclosed("backquote")),
                Some('`') => {
                    self.i += 1;
                    break;
                }
                Some('\\') if matches!(self.peek_at(1), Some('`' | '\\' | '$')) => {
                    inner.push(self.s[self.i + 1]);
                    self.i += 2;
                }
                Some(c) => {
                    inner.push(c);
                    self.i += 1;
                }
            }
        }
        self.nest()?;
        let sub = Parser::new(&inner, self.depth).list(Close::End)?;
        self.depth -= 1;
        w.subs.push(sub);
        w.text.push_str(&self.text(start, self.i));
        Ok(())
    }

    fn ends_word(&self, k: usize) -> bool {
        self.peek_at(k).is_none_or(|c| c.is_whitespace() || ";&|()<>".contains(c))
    }

    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => self.i += 1,
                Some('\\') if self.peek_at(1) == Some('\n') => self.i += 2,
                _ => return,
            }
        }
    }

    fn skip_line_breaks(&mut self) {
        loop {
            self.skip_blanks();
            match self.peek() {
                Some('\n') => self.i += 1,
                Some('#') => self.skip_comment(),
                _ => return,
            }
        }
    }

    fn skip_separators(&mut self) {
        loop {
            self.skip_line_breaks();
            match self.peek() {
                Some(';' | '&' | '|') => self.i += 1,
                _ => return,
            }
        }
    }

    fn skip_comment(&mut self) {
        while !matches!(self.peek(), None | Some('\n')) {
            self.i += 1;
        }
    }
}

fn is_descriptor(target: &str) -> bool {
    let digits = target.strip_suffix('-').unwrap_or(target);
    target == "-" || (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
}

/// `name=` or `name+=`, unquoted: what comes next is the value of an assignment.
fn is_assignment_prefix(raw: &str) -> bool {
    raw.strip_suffix('=').map(|name| name.strip_suffix('+').unwrap_or(name)).is_some_and(is_name)
}

pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(src: &str) -> Vec<Stage> {
        parse(src).unwrap().pipelines.into_iter().flat_map(|p| p.stages).collect()
    }

    /// The words of each top-level simple command.
    fn commands(src: &str) -> Vec<Vec<String>> {
        stages(src)
            .into_iter()
            .map(|s| match s {
                Stage::Simple(cmd) => cmd.words.into_iter().map(|w| w.text).collect(),
                other => panic!("not a simple command: {other:?}"),
            })
            .collect()
    }

    fn simple(src: &str) -> Simple {
        match stages(src).remove(0) {
            Stage::Simple(cmd) => cmd,
            other => panic!("not a simple command: {other:?}"),
        }
    }

    #[test]
    fn quotes_and_escapes_are_removed() {
        assert_eq!(
            commands(r#"echo 'a b' "c d" e\ f "g\"h" 'i\j'"#),
            [["echo", "a b", "c d", "e f", "g\"h", "i\\j"]]
        );
        assert_eq!(commands(r"r''m -r\f"), [["rm", "-rf"]]);
        assert_eq!(commands(r"echo $'\x2f' $'a\tb'"), [["echo", "/", "a\tb"]]);
    }

    #[test]
    fn operators_separate_commands_but_not_inside_quotes() {
        assert_eq!(commands("a; b && c || d & e\nf"), [["a"], ["b"], ["c"], ["d"], ["e"], ["f"]]);
        assert_eq!(commands(r#"echo "a; rm -rf ~" 'x | y'"#), [["echo", "a; rm -rf ~", "x | y"]]);
        let script = parse("a | b |& c").unwrap();
        assert_eq!(script.pipelines.len(), 1);
        assert_eq!(script.pipelines[0].stages.len(), 3);
    }

    #[test]
    fn comments_start_only_at_a_word() {
        assert_eq!(commands("echo a#b # rm -rf /\nls"), [vec!["echo", "a#b"], vec!["ls"]]);
    }

    #[test]
    fn substitutions_are_parsed_as_scripts() {
        let cmd = simple("echo $(curl x | sh) `id` <(ls) \"$(a $(b))\"");
        assert_eq!(cmd.words.len(), 5);
        assert_eq!(cmd.words[1].subs[0].pipelines[0].stages.len(), 2);
        assert_eq!(cmd.words[1].text, "$(curl x | sh)");
        assert_eq!(cmd.words[2].subs.len(), 1);
        assert_eq!(cmd.words[3].subs.len(), 1);
        let nested = &cmd.words[4].subs[0].pipelines[0].stages[0];
        let Stage::Simple(inner) = nested else { panic!() };
        assert_eq!(inner.words[1].subs.len(), 1);
        assert!(simple("echo '$(rm -rf ~)'").words[1].subs.is_empty());
    }

    #[test]
    fn substitutions_hide_inside_parameter_expansions_and_arithmetic() {
        assert_eq!(simple("echo ${x:-$(rm -rf ~)}").words[1].subs.len(), 1);
        assert_eq!(simple("echo $(( $(id -u) + 1 ))").words[1].subs.len(), 1);
    }

    #[test]
    fn redirections_and_their_targets() {
        let cmd = simple("cmd >out 2>>err <in 2>&1 &>all >| clobber 3<>rw");
        let kinds: Vec<_> = cmd.redirects.iter().map(|r| (r.kind, r.target.text.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (RedirectKind::Write, "out"),
                (RedirectKind::Write, "err"),
                (RedirectKind::Read, "in"),
                (RedirectKind::Dup, "1"),
                (RedirectKind::Write, "all"),
                (RedirectKind::Write, "clobber"),
                (RedirectKind::Write, "rw"),
            ]
        );
        assert_eq!(cmd.words.len(), 1);
        assert_eq!(simple("> /dev/sda").redirects[0].target.text, "/dev/sda");
        assert_eq!(parse("echo >"), Err(ParseError::MissingTarget));
    }

    #[test]
    fn here_documents_are_cut_out_and_kept() {
        let script = parse("cat <<EOF > f\nrm -rf ~\nEOF\nls").unwrap();
        assert_eq!(script.pipelines.len(), 2);
        let Stage::Simple(cat) = &script.pipelines[0].stages[0] else { panic!() };
        assert_eq!(cat.redirects[0].kind, RedirectKind::HereDoc);
        assert_eq!(cat.redirects[0].target.text, "rm -rf ~\n");
        assert_eq!(cat.redirects[1].target.text, "f");
        let expanding = simple("cat <<EOF\n$(id)\nEOF");
        assert_eq!(expanding.redirects[0].target.subs.len(), 1);
        let quoted = simple("cat <<'EOF'\n$(id)\nEOF");
        assert!(quoted.redirects[0].target.subs.is_empty());
        assert_eq!(simple("bash <<< 'ls'").redirects[0].target.text, "ls");
    }

    #[test]
    fn groups_subshells_and_functions() {
        match &stages("( cd x && rm y ) > log")[0] {
            Stage::Group { body, redirects, .. } => {
                assert_eq!(body.pipelines.len(), 2);
                assert_eq!(redirects.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&stages("{ ls; pwd; }")[0], Stage::Group { body, .. } if body.pipelines.len() == 2));
        assert!(matches!(&stages(":(){ :|:& };:")[0], Stage::Function { name, .. } if name == ":"));
        assert!(matches!(&stages("function f { f|f& }; f")[0], Stage::Function { name, .. } if name == "f"));
        assert_eq!(commands("echo {a,b} {x"), [["echo", "{a,b}", "{x"]]);
    }

    #[test]
    fn assignments_and_arrays_stay_words() {
        assert_eq!(commands("X=1 Y='a b' cmd"), [["X=1", "Y=a b", "cmd"]]);
        assert_eq!(commands("arr=(rm -rf /) ; ls"), [vec!["arr=(rm -rf /)"], vec!["ls"]]);
    }

    #[test]
    fn line_continuations_join_lines() {
        assert_eq!(commands("rm \\\n -rf x"), [["rm", "-rf", "x"]]);
    }

    #[test]
    fn unbalanced_input_is_an_error() {
        assert_eq!(parse("echo \"hi"), Err(ParseError::Unclosed("double quote")));
        assert_eq!(parse("echo 'hi"), Err(ParseError::Unclosed("single quote")));
        assert_eq!(parse("echo $(ls"), Err(ParseError::Unclosed("parenthesis")));
        assert_eq!(parse("echo `ls"), Err(ParseError::Unclosed("backquote")));
        assert_eq!(parse("( ls"), Err(ParseError::Unclosed("parenthesis")));
        assert_eq!(parse("{ ls; "), Err(ParseError::Unclosed("brace group")));
        assert_eq!(parse("ls )"), Err(ParseError::Unexpected(')')));
        assert_eq!(parse("echo a (b)"), Err(ParseError::Unexpected('(')));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}x{}", "$(".repeat(200), ")".repeat(200));
        assert_eq!(parse(&deep), Err(ParseError::TooDeep));
        assert_eq!(parse(&"f() ".repeat(200)), Err(ParseError::TooDeep));
        assert_eq!(parse(&"a=(".repeat(200)), Err(ParseError::TooDeep));
        assert_eq!(parse(&"echo \"${".repeat(200)), Err(ParseError::TooDeep));
    }

    #[test]
    fn texts_are_kept_for_reporting() {
        let script = parse("  ls -l | grep x ;  rm -rf y # gone").unwrap();
        assert_eq!(script.pipelines[0].text, "ls -l | grep x");
        let Stage::Simple(rm) = &script.pipelines[1].stages[0] else { panic!() };
        assert_eq!(rm.text, "rm -rf y");
    }
}
