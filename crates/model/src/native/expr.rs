//! The one-line rule expression of the native format, in pcs's vocabulary:
//!
//! ```text
//! expression := term (("and" | "or") term)*      -- one connective throughout
//! term       := "defined" ATTR | "not_defined" ATTR
//!             | ATTR OP [TYPE] VALUE
//! OP         := lt | gt | lte | gte | eq | ne
//! TYPE       := string | integer | number | version
//! ```
//!
//! Words are separated by spaces; a word with spaces or a keyword used as a value is
//! written in double quotes (`\"` and `\\` escape inside). Examples:
//! `#uname eq controller1`, `rack ne "row 2" and defined ssd`, `cores gte integer 8`.

use crate::config::{BoolOp, ExprOp, ValueType};

/// One comparison of an expression, without an id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Term {
    pub attribute: String,
    pub op: ExprOp,
    pub value: Option<String>,
    pub value_type: Option<ValueType>,
}

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "defined",
    "not_defined",
    "lt",
    "gt",
    "lte",
    "gte",
    "eq",
    "ne",
    "string",
    "integer",
    "number",
    "version",
];

pub(crate) fn parse_value_type(s: &str) -> Option<ValueType> {
    match s {
        "string" => Some(ValueType::String),
        "integer" | "int" => Some(ValueType::Integer),
        "number" => Some(ValueType::Number),
        "version" => Some(ValueType::Version),
        _ => None,
    }
}

pub(crate) fn value_type_str(t: ValueType) -> &'static str {
    match t {
        ValueType::String => "string",
        ValueType::Integer => "integer",
        ValueType::Number => "number",
        ValueType::Version => "version",
    }
}

pub(crate) fn expr_op_str(op: ExprOp) -> &'static str {
    match op {
        ExprOp::Lt => "lt",
        ExprOp::Gt => "gt",
        ExprOp::Lte => "lte",
        ExprOp::Gte => "gte",
        ExprOp::Eq => "eq",
        ExprOp::Ne => "ne",
        ExprOp::Defined => "defined",
        ExprOp::NotDefined => "not_defined",
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    quoted: bool,
}

impl Token {
    fn is(&self, word: &str) -> bool {
        !self.quoted && self.text == word
    }
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    None => return Err("a quoted word is not closed (missing \")".to_string()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e @ ('"' | '\\')) => text.push(e),
                        _ => return Err("inside quotes, \\ may only escape \" or \\".to_string()),
                    },
                    Some(ch) => text.push(ch),
                }
            }
            out.push(Token { text, quoted: true });
        } else {
            let mut text = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '"' {
                    break;
                }
                text.push(ch);
                chars.next();
            }
            out.push(Token {
                text,
                quoted: false,
            });
        }
    }
    Ok(out)
}

/// Parse a one-line expression into its connective and terms.
pub(crate) fn parse_expression(s: &str) -> Result<(BoolOp, Vec<Term>), String> {
    let tokens = tokenize(s)?;
    if tokens.is_empty() {
        return Err("the expression is empty".to_string());
    }
    let mut i = 0;
    let mut terms = Vec::new();
    let mut conn: Option<BoolOp> = None;
    loop {
        let word = |i: usize| tokens.get(i);
        let Some(t) = word(i) else {
            return Err(
                "the expression ends after 'and'/'or': a comparison is missing".to_string(),
            );
        };
        if t.is("defined") || t.is("not_defined") {
            let op = if t.is("defined") {
                ExprOp::Defined
            } else {
                ExprOp::NotDefined
            };
            let attr = word(i + 1).ok_or(format!("'{}' needs an attribute name", t.text))?;
            terms.push(Term {
                attribute: attr.text.clone(),
                op,
                value: None,
                value_type: None,
            });
            i += 2;
        } else {
            if t.is("and") || t.is("or") {
                return Err(format!("'{}' where an attribute name was expected", t.text));
            }
            let attribute = t.text.clone();
            let op_tok = word(i + 1).ok_or(format!(
                "'{attribute}' needs an operator (lt, gt, lte, gte, eq, ne) and a value"
            ))?;
            let op = match (op_tok.quoted, op_tok.text.as_str()) {
                (false, "lt") => ExprOp::Lt,
                (false, "gt") => ExprOp::Gt,
                (false, "lte") => ExprOp::Lte,
                (false, "gte") => ExprOp::Gte,
                (false, "eq") => ExprOp::Eq,
                (false, "ne") => ExprOp::Ne,
                _ => {
                    return Err(format!(
                        "'{}' is not an operator: write lt, gt, lte, gte, eq or ne",
                        op_tok.text
                    ))
                }
            };
            let v1 = word(i + 2).ok_or(format!("'{attribute} {}' needs a value", op_tok.text))?;
            let typed = if v1.quoted {
                None
            } else {
                parse_value_type(&v1.text)
            };
            match (typed, word(i + 3)) {
                (Some(vt), Some(v2)) => {
                    terms.push(Term {
                        attribute,
                        op,
                        value: Some(v2.text.clone()),
                        value_type: Some(vt),
                    });
                    i += 4;
                }
                _ => {
                    terms.push(Term {
                        attribute,
                        op,
                        value: Some(v1.text.clone()),
                        value_type: None,
                    });
                    i += 3;
                }
            }
        }
        let Some(c) = tokens.get(i) else { break };
        let this = if c.is("and") {
            BoolOp::And
        } else if c.is("or") {
            BoolOp::Or
        } else {
            return Err(format!("expected 'and' or 'or' before '{}'", c.text));
        };
        if conn.is_some_and(|prev| prev != this) {
            return Err(
                "mixing 'and' and 'or' is ambiguous: use `expr` tables with a nested rule"
                    .to_string(),
            );
        }
        conn = Some(this);
        i += 1;
    }
    Ok((conn.unwrap_or_default(), terms))
}

fn word(s: &str) -> String {
    let plain = !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\')
        && !KEYWORDS.contains(&s);
    if plain {
        s.to_string()
    } else {
        let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    }
}

/// Write terms as one line, or `None` if they cannot be (a unary operator with a value).
pub(crate) fn format_expression(op: BoolOp, terms: &[Term]) -> Option<String> {
    let mut parts = Vec::new();
    for t in terms {
        match t.op {
            ExprOp::Defined | ExprOp::NotDefined => {
                if t.value.is_some() || t.value_type.is_some() {
                    return None;
                }
                parts.push(format!("{} {}", expr_op_str(t.op), word(&t.attribute)));
            }
            _ => {
                let value = t.value.as_ref()?;
                let mut s = format!("{} {}", word(&t.attribute), expr_op_str(t.op));
                if let Some(vt) = t.value_type {
                    s.push(' ');
                    s.push_str(value_type_str(vt));
                }
                s.push(' ');
                s.push_str(&word(value));
                parts.push(s);
            }
        }
    }
    if parts.is_empty() {
        return None;
    }
    let sep = match op {
        BoolOp::And => " and ",
        BoolOp::Or => " or ",
    };
    Some(parts.join(sep))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(a: &str, op: ExprOp, v: Option<&str>, t: Option<ValueType>) -> Term {
        Term {
            attribute: a.to_string(),
            op,
            value: v.map(str::to_string),
            value_type: t,
        }
    }

    #[test]
    fn parses_pcs_style_expressions() {
        assert_eq!(
            parse_expression("#uname eq controller1").unwrap(),
            (
                BoolOp::And,
                vec![term("#uname", ExprOp::Eq, Some("controller1"), None)]
            )
        );
        assert_eq!(
            parse_expression("rack ne \"row 2\" or defined ssd or cores gte integer 8").unwrap(),
            (
                BoolOp::Or,
                vec![
                    term("rack", ExprOp::Ne, Some("row 2"), None),
                    term("ssd", ExprOp::Defined, None, None),
                    term("cores", ExprOp::Gte, Some("8"), Some(ValueType::Integer)),
                ]
            )
        );
        // A type word at the end is the value.
        assert_eq!(
            parse_expression("kind eq version").unwrap().1,
            vec![term("kind", ExprOp::Eq, Some("version"), None)]
        );
    }

    #[test]
    fn rejects_bad_expressions_with_a_reason() {
        for (text, why) in [
            ("", "empty"),
            ("a eq", "needs a value"),
            ("a is b", "not an operator"),
            ("a eq b and", "ends after"),
            ("a eq b and c eq d or e eq f", "mixing"),
            ("a eq b c", "expected 'and' or 'or'"),
            ("a eq \"b", "not closed"),
            ("defined", "needs an attribute"),
        ] {
            let err = parse_expression(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn format_parses_back() {
        let cases = vec![
            (
                BoolOp::And,
                vec![term("#uname", ExprOp::Eq, Some("c1"), None)],
            ),
            (
                BoolOp::Or,
                vec![
                    term("a b", ExprOp::Lt, Some("and"), Some(ValueType::Number)),
                    term("x", ExprOp::NotDefined, None, None),
                    term("q\"uote", ExprOp::Ne, Some("back\\slash"), None),
                    term("v", ExprOp::Eq, Some("string"), None),
                    term("w", ExprOp::Eq, Some(""), None),
                ],
            ),
        ];
        for (op, terms) in cases {
            let text = format_expression(op, &terms).unwrap();
            assert_eq!(parse_expression(&text).unwrap(), (op, terms), "{text}");
        }
        assert_eq!(
            format_expression(BoolOp::And, &[term("x", ExprOp::Defined, Some("v"), None)]),
            None
        );
    }
}
