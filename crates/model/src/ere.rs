//! Syntax check of POSIX extended regular expressions, as glibc's
//! `regcomp(REG_EXTENDED)` decides it: Pacemaker's fencer compiles a fencing level's
//! `target-pattern` that way and silently skips a level whose pattern does not compile.
//!
//! Accepted: `.`, bracket expressions (`[a-z]`, `[^x]`, `[]x]`, `[[:digit:]]`,
//! `[[.x.]]`, `[[=x=]]`), groups (also empty), alternatives (also empty), `*`, `+`,
//! `?`, intervals `{n}`, `{n,}`, `{n,m}`, `{,m}` up to 32767, back-references `\1`-`\9`
//! to closed groups, anchors `^`, `$`, GNU's `\b \B \< \> \` \'` and classes
//! `\w \W \s \S`, any other escaped character as itself, and an unmatched `)` as
//! itself. Refused as glibc refuses them: a repetition with nothing to repeat (at the
//! start, after `(`, `|` or an anchor), unmatched `(`, `[` or `{`, bad intervals,
//! unknown character classes, ranges that run backwards or end in a class, a `-` that
//! is neither an end point nor next to a bracket, a trailing `\`, and a
//! back-reference to a group not closed yet. Collating symbols and equivalence classes
//! of more than one character are accepted (their meaning depends on the locale).

/// glibc's `RE_DUP_MAX`.
const DUP_MAX: u32 = 0x7fff;

const CLASSES: &[&str] = &[
    "alpha", "upper", "lower", "digit", "xdigit", "space", "print", "punct", "graph", "cntrl",
    "blank", "alnum",
];

/// Check `pattern`; the error says what is wrong and at which character (1-based).
pub fn check_ere(pattern: &str) -> Result<(), String> {
    let mut p = Parser {
        s: pattern.chars().collect(),
        i: 0,
        groups: 0,
        closed: 0,
    };
    p.alternation(0)
}

struct Parser {
    s: Vec<char>,
    i: usize,
    /// Groups opened so far (their numbers, in order of `(`).
    groups: u32,
    /// Bit n set: group n is closed and can be referred to by `\n`.
    closed: u32,
}

/// What one element of a bracket expression is.
enum Elem {
    Char(char),
    /// A collating symbol `[.x.]`: its character when it is one.
    Coll(Option<char>),
    /// `[=x=]` or `[:class:]`: cannot start or end a range.
    Class,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    fn err(&self, pos: usize, what: &str) -> Result<(), String> {
        Err(format!("{what} (at character {})", pos + 1))
    }

    fn alternation(&mut self, nest: u32) -> Result<(), String> {
        loop {
            self.branch(nest)?;
            if self.peek() == Some('|') {
                self.i += 1;
            } else {
                return Ok(());
            }
        }
    }

    fn branch(&mut self, nest: u32) -> Result<(), String> {
        while let Some(c) = self.peek() {
            if c == '|' || (nest > 0 && c == ')') {
                break;
            }
            self.expression(nest)?;
        }
        Ok(())
    }

    fn expression(&mut self, nest: u32) -> Result<(), String> {
        let start = self.i;
        let Some(c) = self.peek() else {
            return Ok(());
        };
        self.i += 1;
        match c {
            '*' | '+' | '?' | '{' => {
                return self.err(
                    start,
                    &format!("'{c}' has nothing to repeat: escape it (\\{c}) to mean itself"),
                )
            }
            // Anchors cannot be repeated.
            '^' | '$' => return Ok(()),
            '(' => {
                self.groups += 1;
                let n = self.groups;
                if self.peek() != Some(')') {
                    self.alternation(nest + 1)?;
                    if self.peek() != Some(')') {
                        return self.err(start, "unmatched '('");
                    }
                }
                self.i += 1;
                if n < 32 {
                    self.closed |= 1 << n;
                }
            }
            '[' => self.bracket(start)?,
            '\\' => {
                let Some(e) = self.peek() else {
                    return self.err(start, "trailing backslash");
                };
                self.i += 1;
                match e {
                    '1'..='9' => {
                        let n = e as u32 - '0' as u32;
                        if self.closed & (1 << n) == 0 {
                            return self.err(
                                start,
                                &format!(
                                    "back-reference \\{e} to a group that is not closed before it"
                                ),
                            );
                        }
                    }
                    'b' | 'B' | '<' | '>' | '`' | '\'' => return Ok(()),
                    _ => {}
                }
            }
            // `.`, an unmatched `)` at the top level, and every other character.
            _ => {}
        }
        // Repetitions of the atom.
        while let Some(r) = self.peek() {
            match r {
                '*' | '+' | '?' => self.i += 1,
                '{' => self.interval()?,
                _ => break,
            }
        }
        Ok(())
    }

    /// A number of an interval, read as glibc's `fetch_number`: `None` when there is
    /// no digit before the terminator, `Some(None)` when something else than digits
    /// came; and the terminator (`,` or `}`), `None` at the end of the pattern.
    fn number(&mut self) -> (Option<Option<u32>>, Option<char>) {
        let mut num: Option<Option<u32>> = None;
        loop {
            let Some(c) = self.peek() else {
                return (Some(None), None);
            };
            self.i += 1;
            if c == '}' || c == ',' {
                return (num, Some(c));
            }
            if c == '\\' && self.peek().is_some() {
                // An escaped character is one token, and not a digit.
                self.i += 1;
            }
            num = match (num, c.to_digit(10)) {
                (Some(None), _) | (_, None) => Some(None),
                (None, Some(d)) => Some(Some(d)),
                (Some(Some(n)), Some(d)) => Some(Some((n * 10 + d).min(DUP_MAX + 1))),
            };
        }
    }

    fn interval(&mut self) -> Result<(), String> {
        let open = self.i;
        self.i += 1;
        let (first, term) = self.number();
        let start = match first {
            None if term == Some(',') => Some(0),
            None => return self.err(open, "empty interval '{}': write {n}, {n,} or {n,m}"),
            Some(v) => v,
        };
        let (end, last) = match (start, term) {
            (Some(s), Some('}')) => (Some(Some(s)), term),
            (Some(_), Some(',')) => {
                let (e, t) = self.number();
                // No digits after the comma: no upper bound.
                (Some(e.unwrap_or(Some(u32::MAX))), t)
            }
            _ => (None, term),
        };
        let (Some(start), Some(Some(end))) = (start, end) else {
            return if last.is_none() {
                self.err(open, "unmatched '{'")
            } else {
                self.err(open, "an interval holds numbers: {n}, {n,} or {n,m}")
            };
        };
        if last != Some('}') {
            return self.err(open, "an interval holds numbers: {n}, {n,} or {n,m}");
        }
        if end != u32::MAX && start > end {
            return self.err(open, "the interval's minimum is greater than its maximum");
        }
        let bound = if end == u32::MAX { start } else { end };
        if bound > DUP_MAX {
            return self.err(open, &format!("interval bound above {DUP_MAX}"));
        }
        Ok(())
    }

    /// A bracket expression; `self.i` is just after its `[`.
    fn bracket(&mut self, open: usize) -> Result<(), String> {
        let unmatched = "unmatched '['";
        if self.peek() == Some('^') {
            self.i += 1;
        }
        let mut first = true;
        loop {
            if self.peek().is_none() {
                return self.err(open, unmatched);
            }
            let elem_at = self.i;
            let start = self.elem(first)?;
            first = false;
            let Some(next) = self.peek() else {
                return self.err(open, unmatched);
            };
            let mut range = false;
            if !matches!(start, Elem::Class) && next == '-' {
                match self.at(self.i + 1) {
                    None => return self.err(open, unmatched),
                    // A `-` before the closing bracket is itself.
                    Some(']') => {}
                    Some(_) => {
                        self.i += 1;
                        range = true;
                    }
                }
            }
            if range {
                let end = self.elem(true)?;
                let bounds = match (&start, &end) {
                    (Elem::Class, _) | (_, Elem::Class) => {
                        return self.err(elem_at, "a range cannot start or end with a class")
                    }
                    (Elem::Char(a) | Elem::Coll(Some(a)), Elem::Char(b) | Elem::Coll(Some(b))) => {
                        Some((*a, *b))
                    }
                    _ => None,
                };
                if let Some((a, b)) = bounds {
                    if a > b {
                        return self.err(elem_at, &format!("range '{a}-{b}' runs backwards"));
                    }
                }
            }
            match self.peek() {
                None => return self.err(open, unmatched),
                Some(']') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }

    /// One element of a bracket expression. `first`: the first element, where `]` is
    /// itself and `-` may start a range.
    fn elem(&mut self, first: bool) -> Result<Elem, String> {
        let at = self.i;
        let c = self.peek().unwrap_or(']');
        self.i += 1;
        if c == '[' {
            if let Some(delim @ ('.' | '=' | ':')) = self.peek() {
                self.i += 1;
                let mut name = String::new();
                loop {
                    let Some(ch) = self.peek() else {
                        return Err(format!("unmatched '[{delim}' (at character {})", at + 1));
                    };
                    self.i += 1;
                    if ch == delim && self.peek() == Some(']') {
                        self.i += 1;
                        break;
                    }
                    name.push(ch);
                    if name.len() >= 32 {
                        return Err(format!("unmatched '[{delim}' (at character {})", at + 1));
                    }
                }
                return match delim {
                    ':' if CLASSES.contains(&name.as_str()) => Ok(Elem::Class),
                    ':' => Err(format!(
                        "unknown character class '[:{name}:]' (at character {}): the classes are {}",
                        at + 1,
                        CLASSES.join(", ")
                    )),
                    _ if name.is_empty() => Err(format!(
                        "empty '[{delim}{delim}]' (at character {})",
                        at + 1
                    )),
                    '=' => Ok(Elem::Class),
                    _ => {
                        let mut chars = name.chars();
                        let one = chars.next().filter(|_| chars.next().is_none());
                        Ok(Elem::Coll(one))
                    }
                };
            }
        }
        if c == '-' && !first && self.peek() != Some(']') {
            return Err(format!(
                "'-' inside brackets must start or end the list or a range (at character {})",
                at + 1
            ));
        }
        Ok(Elem::Char(c))
    }
}

#[cfg(test)]
mod tests {
    use super::check_ere;

    #[test]
    fn what_glibc_accepts() {
        for p in [
            "",
            "node1",
            "^node[0-9]+$",
            "node(1|2|3)",
            "rhel7-[0-9]",
            "a|b||c",
            "()",
            "(a|)",
            "x)",
            "[]a]",
            "[^]a]",
            "[a-]",
            "[-a]",
            "[--z]",
            "[[:digit:][:alpha:]_.-]",
            "[[.a.]-z]",
            "[[=e=]]",
            "a{2}",
            "a{2,}",
            "a{,3}",
            "a{1,32767}",
            "a**",
            "a+?",
            "(a)\\1",
            "\\bnode\\>",
            "\\w+\\.example\\.com",
            "\\{",
            "a^b$c",
            "[\\]",
            "c[a-c]{1,2}(x|y)*",
        ] {
            assert_eq!(check_ere(p), Ok(()), "{p:?}");
        }
    }

    #[test]
    fn what_glibc_refuses() {
        for (p, why) in [
            (
                "*a",
                "'*' has nothing to repeat: escape it (\\*) to mean itself (at character 1)",
            ),
            ("a|+b", "'+' has nothing to repeat"),
            ("(?:a)", "'?' has nothing to repeat"),
            ("^*", "to mean itself (at character 2)"),
            ("{1}", "'{' has nothing to repeat"),
            ("(a", "unmatched '(' (at character 1)"),
            ("a(b(c)", "unmatched '(' (at character 2)"),
            ("[a", "unmatched '[' (at character 1)"),
            ("[]", "unmatched '['"),
            ("[^]", "unmatched '['"),
            ("[a-", "unmatched '['"),
            ("[[:alpha:]", "unmatched '['"),
            ("[[:alpha]", "unmatched '[:'"),
            ("[[:word:]]", "unknown character class '[:word:]'"),
            ("[z-a]", "range 'z-a' runs backwards (at character 2)"),
            ("[[:digit:]-z]", "'-' inside brackets"),
            ("[a-[:digit:]]", "a range cannot start or end with a class"),
            ("[a-c-e]", "'-' inside brackets must start or end"),
            ("a{", "unmatched '{' (at character 2)"),
            ("a{1", "unmatched '{'"),
            ("a{}", "empty interval"),
            ("a{x}", "an interval holds numbers"),
            ("a{1,2,3}", "an interval holds numbers"),
            ("a{3,2}", "minimum is greater than its maximum"),
            ("a{32768}", "interval bound above 32767"),
            ("a\\", "trailing backslash (at character 2)"),
            (
                "\\1(a)",
                "back-reference \\1 to a group that is not closed before it",
            ),
            ("(a\\1)", "back-reference \\1"),
        ] {
            let err = check_ere(p).expect_err(p);
            assert!(err.contains(why), "{p:?}: {err}");
        }
    }
}
