//! The HAProxy line tokenizer: splits one configuration line into words.
//!
//! Rules (HAProxy's): words are separated by unquoted, unescaped blanks; `#` outside quotes
//! starts a comment; a backslash escapes the next character (`\ `, `\#`, `\\`, `\'`, `\"`)
//! and `\t`, `\n`, `\r`, `\xNN` produce control bytes; inside double quotes escapes and
//! `${VAR}` are processed, inside single quotes nothing is. Leading indentation means
//! nothing. `${NAME}` is replaced by the environment variable `NAME`; `${NAME-default}`
//! gives `default` when it is not set, `${NAME:-default}` also when it is empty; a
//! variable not set and without a default gives nothing.

/// One word of a line, with the column (1-based) where it starts, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub col: usize,
}

/// Why a line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub col: usize,
    pub reason: String,
}

/// Splits `line` into words. `env` resolves `${NAME}`.
pub fn split_line(line: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Word>, LexError> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    // Whether the word has a quote or a character of its own: a word made only of
    // unquoted variables that expand to nothing is no word (as in HAProxy).
    let mut kept = false;
    let mut start = 0usize;
    let mut quote: Option<char> = None;
    let mut i = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some('\'') => {
                if c == '\'' {
                    quote = None;
                } else {
                    cur.push(c);
                }
                i += 1;
                continue;
            }
            Some(_) => {
                if c == '"' {
                    quote = None;
                    i += 1;
                    continue;
                }
            }
            None => {
                if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
                    if in_word && (kept || !cur.is_empty()) {
                        words.push(Word {
                            text: std::mem::take(&mut cur),
                            col: start + 1,
                        });
                    }
                    in_word = false;
                    kept = false;
                    i += 1;
                    continue;
                }
                if c == '#' {
                    break;
                }
                if !in_word {
                    in_word = true;
                    start = i;
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    kept = true;
                    i += 1;
                    continue;
                }
            }
        }
        // Here: inside a word (unquoted) or inside double quotes.
        if c == '\\' {
            kept = true;
            let Some(&n) = chars.get(i + 1) else {
                return Err(LexError {
                    col: i + 1,
                    reason: "a backslash ends the line".into(),
                });
            };
            match n {
                't' => cur.push('\t'),
                'n' => cur.push('\n'),
                'r' => cur.push('\r'),
                'x' => {
                    let hex: String = chars.iter().skip(i + 2).take(2).collect();
                    let v = u8::from_str_radix(&hex, 16).map_err(|_| LexError {
                        col: i + 1,
                        reason: format!("`\\x{hex}` is not a hexadecimal byte"),
                    })?;
                    cur.push(v as char);
                    i += 4;
                    continue;
                }
                '\\' | ' ' | '\'' | '"' | '#' | '$' => cur.push(n),
                // Other pairs stay as written (`\1`, `\?` in regular expressions),
                // as HAProxy leaves them.
                other => {
                    cur.push('\\');
                    cur.push(other);
                }
            }
            i += 2;
            continue;
        }
        if c == '$' && chars.get(i + 1) == Some(&'{') {
            let rest: String = chars[i + 2..].iter().collect();
            let Some(end) = rest.find('}') else {
                return Err(LexError {
                    col: i + 1,
                    reason: "`${` without a closing `}`".into(),
                });
            };
            let inner = &rest[..end];
            // `${NAME-default}`: the default when NAME is not set (HAProxy's form);
            // `${NAME:-default}`: also when it is empty (the shell's).
            let (name, default, or_empty) = match inner.find(['-', ':']) {
                Some(k) if inner[k..].starts_with(":-") => {
                    (&inner[..k], Some(&inner[k + 2..]), true)
                }
                Some(k) if inner[k..].starts_with('-') => {
                    (&inner[..k], Some(&inner[k + 1..]), false)
                }
                _ => (inner, None, false),
            };
            match (env(name).filter(|v| !(or_empty && v.is_empty())), default) {
                (Some(v), _) => cur.push_str(&v),
                (None, Some(d)) => cur.push_str(d),
                // Not set, no default: nothing, as HAProxy expands it.
                (None, None) => {}
            }
            i += 2 + inner.chars().count() + 1;
            continue;
        }
        cur.push(c);
        kept = true;
        i += 1;
    }
    if let Some(q) = quote {
        return Err(LexError {
            col: chars.len(),
            reason: format!("unterminated {q} quote"),
        });
    }
    if in_word && (kept || !cur.is_empty()) {
        words.push(Word {
            text: cur,
            col: start + 1,
        });
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let env = |n: &str| match n {
            "PORT" => Some("8080".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        split_line(line, &env)
            .expect("lexes")
            .into_iter()
            .map(|w| w.text)
            .collect()
    }

    #[test]
    fn blanks_comments_quotes_escapes() {
        assert_eq!(words("   listen   x  # comment"), ["listen", "x"]);
        assert_eq!(
            words("\tstats realm OpenStack\\ Haproxy"),
            ["stats", "realm", "OpenStack Haproxy"]
        );
        assert_eq!(words("a 'b c' \"d e\" f\\#g"), ["a", "b c", "d e", "f#g"]);
        assert_eq!(words("x \"a\\\"b\" 'c\\d'"), ["x", "a\"b", "c\\d"]);
        assert_eq!(words("bind :${PORT}"), ["bind", ":8080"]);
        assert_eq!(words("timeout \"${T-5s}\""), ["timeout", "5s"]);
        assert_eq!(words("bind :${PORT-80}"), ["bind", ":8080"]);
        assert_eq!(
            words("x ${EMPTY-a} ${EMPTY:-b} ${PORT:-c}"),
            ["x", "b", "8080"]
        );
        assert_eq!(
            words("x \"${EMPTY-a}\" ${NOPE} \"${NOPE}\" y${NOPE}"),
            ["x", "", "", "y"]
        );
        assert_eq!(words("x \"${NOPE-a-b c}\""), ["x", "a-b c"]);
        assert_eq!(words("# only a comment"), Vec::<String>::new());
        assert_eq!(words("a\"b c\"d"), ["ab cd"]);
        assert_eq!(words("x \\x41"), ["x", "A"]);
        // `\$` is a dollar sign, not the start of a variable.
        assert_eq!(
            words("x \"\\$4\\r\\n\" \\${PORT}"),
            ["x", "$4\r\n", "${PORT}"]
        );
    }

    #[test]
    fn lexing_errors_name_the_column() {
        let env = |_: &str| None;
        let e = split_line("bind \"abc", &env).expect_err("unterminated");
        assert!(e.reason.contains("unterminated"));
        let e = split_line("bind :${NOPE", &env).expect_err("unclosed");
        assert_eq!(e.col, 7);
    }
}
