//! A small regular-expression engine for the `search` tool: the pattern is parsed to a
//! tree, compiled to a Thompson NFA and run as a Pike VM (every thread in lock-step, each
//! instruction at most once per position), so matching a line costs O(line × pattern)
//! whatever the pattern — `(a*)*b` cannot blow up. Only match / no match is needed, so
//! there are no captures and lazy quantifiers behave like greedy ones.
//!
//! Syntax: literals, `.`, `[a-z]` `[^…]`, `\d \w \s \D \W \S`, `\b \B`, `\n \t \r \xHH`,
//! `\` before punctuation, `^ $`, `( )` `(?: )`, `|`, `* + ? {m} {m,} {m,n}` (optionally
//! followed by `?`), and a leading `(?i)`. A `{` that does not start a count is a literal.
//! Case folding is ASCII only.

/// Limits that keep a hostile pattern cheap: length, nesting, counts and program size.
const MAX_PATTERN: usize = 2000;
const MAX_DEPTH: usize = 64;
const MAX_COUNT: u32 = 1000;
const MAX_PROGRAM: usize = 20_000;
/// Thread steps one pattern may take over all the text it is matched against: linear
/// time can still be long for a big program over megabytes.
const STEP_BUDGET: u64 = 1 << 31;

#[derive(Debug, Clone)]
enum Inst {
    Char(char),
    Any,
    Set(Set),
    Bol,
    Eol,
    /// `\b` (true) or `\B` (false).
    Word(bool),
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// A bracket class or shorthand: inclusive code point ranges, possibly negated.
#[derive(Debug, Clone)]
struct Set {
    neg: bool,
    ranges: Vec<(u32, u32)>,
}

impl Set {
    fn matches(&self, c: char, icase: bool) -> bool {
        let hit = |c: char| self.ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)));
        (hit(c) || (icase && (hit(c.to_ascii_lowercase()) || hit(c.to_ascii_uppercase())))) != self.neg
    }
}

#[derive(Debug)]
enum Node {
    Leaf(Inst),
    Cat(Vec<Node>),
    Alt(Vec<Node>),
    Rep(Box<Node>, u32, Option<u32>),
}

/// A compiled pattern.
#[derive(Debug)]
pub struct Regex {
    prog: Vec<Inst>,
    icase: bool,
    budget: std::cell::Cell<u64>,
}

impl Regex {
    /// Compiles `pattern`; `icase` ignores ASCII case (as does a leading `(?i)`). The
    /// error says what is wrong and where, for the model to fix its pattern.
    pub fn new(pattern: &str, icase: bool) -> Result<Regex, String> {
        if pattern.len() > MAX_PATTERN {
            return Err(format!("longer than {MAX_PATTERN} characters"));
        }
        let (icase, body) = match pattern.strip_prefix("(?i)") {
            Some(rest) => (true, rest),
            None => (icase, pattern),
        };
        let mut p = Parser { s: body.chars().collect(), pos: 0 };
        let tree = p.alt(0)?;
        if p.pos < p.s.len() {
            return Err(format!("unbalanced ) at {}", p.pos));
        }
        let mut prog = Vec::new();
        emit(&mut prog, &tree)?;
        prog.push(Inst::Match);
        Ok(Regex { prog, icase, budget: STEP_BUDGET.into() })
    }

    /// Whether the step budget ran out; every later match fails.
    pub fn exhausted(&self) -> bool {
        self.budget.get() == 0
    }

    /// Whether the pattern matches anywhere in `text` (false once [`Self::exhausted`]).
    pub fn is_match(&self, text: &str) -> bool {
        let s: Vec<char> = text.chars().collect();
        let n = self.prog.len();
        let (mut cur, mut next) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut seen = vec![usize::MAX; n];
        let mut stack = Vec::new();
        for pos in 0..=s.len() {
            let left = self.budget.get().saturating_sub(cur.len() as u64 + 1);
            self.budget.set(left);
            if left == 0 {
                return false;
            }
            if self.add(&mut cur, &mut seen, &mut stack, 0, pos, &s) {
                return true;
            }
            let Some(&c) = s.get(pos) else { break };
            next.clear();
            for &pc in &cur {
                let step = match &self.prog[pc] {
                    Inst::Char(x) => *x == c || (self.icase && x.eq_ignore_ascii_case(&c)),
                    Inst::Any => true,
                    Inst::Set(set) => set.matches(c, self.icase),
                    _ => false,
                };
                if step && self.add(&mut next, &mut seen, &mut stack, pc + 1, pos + 1, &s) {
                    return true;
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
        false
    }

    /// Adds the thread at `pc` and everything reachable from it without consuming input
    /// to `list`; true when that reaches `Match`. `seen[pc] == pos` marks a visited pc.
    fn add(
        &self,
        list: &mut Vec<usize>,
        seen: &mut [usize],
        stack: &mut Vec<usize>,
        pc: usize,
        pos: usize,
        s: &[char],
    ) -> bool {
        let word = |i: usize| i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == '_');
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            if seen[pc] == pos {
                continue;
            }
            seen[pc] = pos;
            let pass = match self.prog[pc] {
                Inst::Match => {
                    stack.clear();
                    return true;
                }
                Inst::Jmp(t) => {
                    stack.push(t);
                    continue;
                }
                Inst::Split(a, b) => {
                    stack.extend([b, a]);
                    continue;
                }
                Inst::Bol => pos == 0,
                Inst::Eol => pos == s.len(),
                Inst::Word(want) => ((pos > 0 && word(pos - 1)) != word(pos)) == want,
                _ => {
                    list.push(pc);
                    continue;
                }
            };
            if pass {
                stack.push(pc + 1);
            }
        }
        false
    }
}

fn emit(prog: &mut Vec<Inst>, node: &Node) -> Result<(), String> {
    if prog.len() > MAX_PROGRAM {
        return Err("too large once repetitions are expanded".into());
    }
    match node {
        Node::Leaf(inst) => prog.push(inst.clone()),
        Node::Cat(items) => items.iter().try_for_each(|n| emit(prog, n))?,
        Node::Alt(arms) => {
            let mut jumps = Vec::new();
            for arm in &arms[..arms.len() - 1] {
                let split = prog.len();
                prog.push(Inst::Jmp(0));
                emit(prog, arm)?;
                jumps.push(prog.len());
                prog.push(Inst::Jmp(0));
                prog[split] = Inst::Split(split + 1, prog.len());
            }
            emit(prog, &arms[arms.len() - 1])?;
            for j in jumps {
                prog[j] = Inst::Jmp(prog.len());
            }
        }
        Node::Rep(n, min, max) => {
            for _ in 0..*min {
                emit(prog, n)?;
            }
            // `{m,}` loops; `{m,n}` is n − m optional copies.
            for _ in *min..max.unwrap_or(min + 1) {
                let split = prog.len();
                prog.push(Inst::Jmp(0));
                emit(prog, n)?;
                if max.is_none() {
                    prog.push(Inst::Jmp(split));
                }
                prog[split] = Inst::Split(split + 1, prog.len());
            }
        }
    }
    Ok(())
}

struct Parser {
    s: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        self.pos += usize::from(hit);
        hit
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }

    fn alt(&mut self, depth: usize) -> Result<Node, String> {
        let mut arms = vec![self.cat(depth)?];
        while self.eat('|') {
            arms.push(self.cat(depth)?);
        }
        Ok(if arms.len() == 1 { arms.remove(0) } else { Node::Alt(arms) })
    }

    fn cat(&mut self, depth: usize) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek().filter(|c| !matches!(c, '|' | ')')) {
            let at = self.pos;
            self.pos += 1;
            let atom = match c {
                '(' if depth >= MAX_DEPTH => return Err(format!("groups nested deeper than {MAX_DEPTH}")),
                '(' => {
                    if self.eat('?') && !self.eat(':') {
                        return Err(format!(
                            "unsupported group syntax (? at {at}: only ( ), (?: ) and a leading (?i) are supported"
                        ));
                    }
                    let inner = self.alt(depth + 1)?;
                    if !self.eat(')') {
                        return Err(format!("missing ) for the ( at {at}"));
                    }
                    inner
                }
                '[' => self.class(at)?,
                '.' => Node::Leaf(Inst::Any),
                '^' => Node::Leaf(Inst::Bol),
                '$' => Node::Leaf(Inst::Eol),
                '\\' => self.escape(at)?,
                '*' | '+' | '?' => return Err(format!("nothing to repeat before {c} at {at}")),
                c => Node::Leaf(Inst::Char(c)),
            };
            items.push(self.quantified(atom)?);
        }
        Ok(Node::Cat(items))
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let at = self.pos;
        let Some((min, max)) = self.quantifier() else { return Ok(atom) };
        if max.is_some_and(|m| m < min) {
            return Err(format!("repetition at {at} has min > max"));
        }
        if min.max(max.unwrap_or(0)) > MAX_COUNT {
            return Err(format!("repetition count at {at} is over {MAX_COUNT}"));
        }
        self.eat('?');
        let again = self.pos;
        if self.quantifier().is_some() {
            return Err(format!("multiple repeat at {again}; wrap the first in (?: ) to repeat it"));
        }
        Ok(Node::Rep(Box::new(atom), min, max))
    }

    /// Consumes `* + ? {m} {m,} {m,n}`; a `{` that is not a count stays unconsumed.
    fn quantifier(&mut self) -> Option<(u32, Option<u32>)> {
        let q = match self.peek()? {
            '*' => (0, None),
            '+' => (1, None),
            '?' => (0, Some(1)),
            '{' => {
                let close = self.s[self.pos..].iter().position(|&c| c == '}')? + self.pos;
                let body: String = self.s[self.pos + 1..close].iter().collect();
                let num = |t: &str| t.parse::<u32>().ok();
                let q = match body.split_once(',') {
                    None => num(&body).map(|m| (m, Some(m))),
                    Some((m, "")) => num(m).map(|m| (m, None)),
                    Some((m, n)) => num(m).zip(num(n)).map(|(m, n)| (m, Some(n))),
                }?;
                self.pos = close;
                q
            }
            _ => return None,
        };
        self.pos += 1;
        Some(q)
    }

    /// After a `\` at `at`: a literal, a shorthand class or a word-boundary assertion.
    fn escape(&mut self, at: usize) -> Result<Node, String> {
        let c = self.next().ok_or("the pattern ends with a lone \\")?;
        let ranges: &[(u32, u32)] = match c.to_ascii_lowercase() {
            'd' => &[(48, 57)],
            'w' => &[(48, 57), (65, 90), (95, 95), (97, 122)],
            's' => &[(9, 13), (32, 32)],
            _ => &[],
        };
        if !ranges.is_empty() {
            return Ok(Node::Leaf(Inst::Set(Set { neg: c.is_ascii_uppercase(), ranges: ranges.to_vec() })));
        }
        let lit = match c {
            'b' => return Ok(Node::Leaf(Inst::Word(true))),
            'B' => return Ok(Node::Leaf(Inst::Word(false))),
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'f' => '\x0c',
            'v' => '\x0b',
            '0' => '\0',
            'x' => {
                let hex: String = self.s.iter().skip(self.pos).take(2).collect();
                self.pos += 2;
                u8::from_str_radix(&hex, 16).map_err(|_| format!("\\x at {at} needs two hex digits"))? as char
            }
            c if c.is_ascii_alphanumeric() => return Err(format!("unknown escape \\{c} at {at}")),
            c => c,
        };
        Ok(Node::Leaf(Inst::Char(lit)))
    }

    /// After a `[` at `at`, up to and including its `]`.
    fn class(&mut self, at: usize) -> Result<Node, String> {
        let neg = self.eat('^');
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let lo = match self.next().ok_or_else(|| format!("missing ] for the [ at {at}"))? {
                ']' if !first => break,
                '\\' => match self.escape(at)? {
                    Node::Leaf(Inst::Char(c)) => c,
                    Node::Leaf(Inst::Set(set)) => {
                        ranges.extend(if set.neg { complement(set.ranges) } else { set.ranges });
                        first = false;
                        continue;
                    }
                    _ => return Err(format!("\\b and \\B cannot be inside [ ] (at {at})")),
                },
                c => c,
            };
            first = false;
            let mut hi = lo;
            if self.peek() == Some('-') && self.s.get(self.pos + 1).is_some_and(|&c| c != ']') {
                self.pos += 1;
                hi = match self.next() {
                    Some('\\') => match self.escape(at)? {
                        Node::Leaf(Inst::Char(c)) => c,
                        _ => return Err(format!("a class range in the [ at {at} ends in a shorthand")),
                    },
                    c => c.unwrap_or(lo),
                };
                if hi < lo {
                    return Err(format!("range {lo}-{hi} in the [ at {at} is reversed"));
                }
            }
            ranges.push((lo as u32, hi as u32));
        }
        Ok(Node::Leaf(Inst::Set(Set { neg, ranges })))
    }
}

/// Every code point outside `ranges`.
fn complement(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for (lo, hi) in ranges {
        if lo > from {
            out.push((from, lo - 1));
        }
        from = from.max(hi + 1);
    }
    out.push((from, char::MAX as u32));
    out
}

#[cfg(test)]
mod tests {
    use super::Regex;

    #[test]
    fn matches_like_a_regex_should() {
        let table: &[(&str, &str, bool)] = &[
            ("abc", "xxabcxx", true),
            ("abc", "ab", false),
            ("", "anything", true),
            ("a.c", "abc", true),
            ("a.c", "ac", false),
            ("^abc", "abcd", true),
            ("^abc", "xabc", false),
            ("abc$", "xabc", true),
            ("abc$", "abcx", false),
            ("^$", "", true),
            ("^$", "x", false),
            ("[a-c]+x", "zzbcax", true),
            ("[a-c]+x", "zzdx", false),
            ("[^a-c]x", "ax", false),
            ("[^a-c]x", "dx", true),
            ("[]a]", "]", true),
            ("[a-]", "-", true),
            (r"[\d_]", "_", true),
            (r"[\D]", "5", false),
            (r"\d{3}-\d{4}", "call 555-1234 now", true),
            (r"\d{3}-\d{4}", "call 55-1234 now", false),
            (r"\w+@\w+\.com", "mail bob@example.com", true),
            (r"\s", "nospace", false),
            (r"\S\s\S", "a b", true),
            (r"\W", "abc_123", false),
            (r"\bfoo\b", "a foo b", true),
            (r"\bfoo\b", "foobar", false),
            (r"\Boo", "foo", true),
            (r"a\.b", "a.b", true),
            (r"a\.b", "axb", false),
            (r"\(x\)", "f(x)", true),
            (r"\x41", "A", true),
            ("\\t", "a\tb", true),
            ("colou?r", "color", true),
            ("colou?r", "colour", true),
            ("colou?r", "colouur", false),
            ("ab*c", "ac", true),
            ("ab+c", "ac", false),
            ("ab{2}c", "abbc", true),
            ("ab{2}c", "abbbc", false),
            ("ab{2,}c", "abbbbc", true),
            ("ab{2,3}c", "abbbbc", false),
            ("ab{0,1}c", "ac", true),
            ("x{,2}", "x{,2}", true),
            (r"fn main\(\) {", "fn main() {", true),
            ("fn main() {", "fn main {", true),
            ("a{", "a{", true),
            ("cat|dog", "hotdog", true),
            ("cat|dog", "bird", false),
            ("^(cat|dog)s?$", "dogs", true),
            ("^(?:cat|dog)s?$", "cats!", false),
            ("(ab)+$", "xababab", true),
            ("gr(a|e)y", "grey", true),
            ("a(|b)c", "ac", true),
            ("(?i)HELLO", "say hello", true),
            ("(?i)[A-C]x", "bX", true),
            ("(?i)[^a]", "A", false),
            ("HELLO", "say hello", false),
            ("a*?b", "aab", true),
            ("é.", "café!", true),
            ("(a*)*b", "aaab", true),
        ];
        for &(pattern, text, want) in table {
            let re = Regex::new(pattern, false).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(re.is_match(text), want, "{pattern:?} on {text:?}");
        }
        assert!(Regex::new("hello", true).unwrap().is_match("HeLLo"));
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (pattern, says) in [
            ("(abc", "missing )"),
            ("abc)", "unbalanced )"),
            ("[abc", "missing ]"),
            ("*a", "nothing to repeat"),
            ("a**", "multiple repeat"),
            ("a{3,1}", "min > max"),
            ("a{5000}", "over 1000"),
            (r"\q", "unknown escape"),
            ("abc\\", "lone \\"),
            ("[z-a]", "reversed"),
            ("(?P<n>x)", "unsupported group"),
            ("((a{1000}){1000}){1000}", "too large"),
        ] {
            let err = Regex::new(pattern, false).unwrap_err();
            assert!(err.contains(says), "{pattern}: {err}");
        }
        let deep = "(".repeat(100) + &")".repeat(100);
        assert!(Regex::new(&deep, false).unwrap_err().contains("nested"));
    }

    #[test]
    fn pathological_patterns_stay_linear() {
        let text = "a".repeat(100_000);
        let started = std::time::Instant::now();
        for pattern in ["(a*)*b", "(a|a)*b", "(a+)+$x", "(?:a?){30}a{30}b"] {
            assert!(!Regex::new(pattern, false).unwrap().is_match(&text), "{pattern}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        let costly = Regex::new("(?:a?){500}a{500}b", false).unwrap();
        costly.budget.set(1_000_000);
        assert!(!costly.is_match(&text) && costly.exhausted());
        assert!(!costly.is_match("ab"), "no more work once exhausted");
    }
}
