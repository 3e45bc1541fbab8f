//! pcs's words for rule and set constraints, parsed into the model (no I/O):
//! `location R rule [id=ID] [role=ROLE] [score=S|score-attribute=A] EXPRESSION` and
//! `colocation|order set R... [OPTIONS] [set R... [OPTIONS]]... [setoptions OPTIONS]`.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use halo_model::{
    Action, AttrExpr, BoolOp, DateExpr, DateOp, ExprOp, OrderKind, ResourceSet, Role, Rule,
    RuleExpr, Score, SetOrdering, ValueSource, ValueType,
};

/// A location rule: its options (`id` of the constraint, `role`, `score` or
/// `score-attribute`, `resource-discovery`) before the expression, then the expression.
/// The constraint's id (`location-RSC` by default; the rule's is `ID-rule`), the rule
/// and the options.
pub fn parse_rule(
    rsc: &str,
    words: &[String],
) -> anyhow::Result<(String, Rule, BTreeMap<String, String>)> {
    let mut opts = BTreeMap::new();
    let mut i = 0;
    while let Some((k, v)) = words.get(i).and_then(|w| w.split_once('=')) {
        if !matches!(
            k,
            "id" | "role" | "score" | "score-attribute" | "resource-discovery"
        ) {
            break;
        }
        opts.insert(k.to_string(), v.to_string());
        i += 1;
    }
    let id = opts
        .get("id")
        .cloned()
        .unwrap_or_else(|| format!("location-{rsc}"));
    let rule_id = format!("{id}-rule");
    let mut p = Parser {
        words: &words[i..],
        at: 0,
        id: &rule_id,
        n: 0,
    };
    let expr = p.or()?;
    if let Some(w) = p.words.get(p.at) {
        bail!("rule: unexpected {w:?} (expressions join with `and`/`or`)");
    }
    let mut rule = match expr {
        RuleExpr::Rule(r) => r,
        e @ (RuleExpr::Attr(_) | RuleExpr::Date(_)) => Rule {
            exprs: vec![e],
            ..Rule::default()
        },
    };
    rule.id = rule_id;
    match (opts.get("score"), opts.get("score-attribute")) {
        (Some(_), Some(_)) => bail!("rule: give score or score-attribute, not both"),
        (Some(s), None) => {
            rule.score = Some(Score::parse(s).map_err(|e| anyhow::anyhow!("score={s}: {e}"))?)
        }
        (None, Some(a)) => rule.score_attribute = Some(a.clone()),
        (None, None) => rule.score = Some(Score::INFINITY),
    }
    if let Some(r) = opts.get("role") {
        rule.role = Some(Role::parse(r).with_context(|| format!("role={r}: not a role"))?);
    }
    Ok((id, rule, opts))
}

/// A recursive-descent parser of pcs's rule expressions: `or` binds loosest, then
/// `and`, then a comparison, `defined|not_defined ATTR` or a parenthesised expression.
struct Parser<'a> {
    words: &'a [String],
    at: usize,
    id: &'a str,
    n: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.words.get(self.at).map(String::as_str)
    }

    fn next(&mut self, what: &str) -> anyhow::Result<String> {
        let w = self
            .words
            .get(self.at)
            .with_context(|| format!("rule: expected {what} at the end"))?;
        self.at += 1;
        Ok(w.clone())
    }

    fn join(
        &mut self,
        op: BoolOp,
        word: &str,
        next: fn(&mut Self) -> anyhow::Result<RuleExpr>,
    ) -> anyhow::Result<RuleExpr> {
        let first = next(self)?;
        if self.peek() != Some(word) {
            return Ok(first);
        }
        let mut exprs = vec![first];
        while self.peek() == Some(word) {
            self.at += 1;
            exprs.push(next(self)?);
        }
        self.n += 1;
        Ok(RuleExpr::Rule(Rule {
            id: format!("{}-{}", self.id, self.n),
            bool_op: op,
            exprs,
            ..Rule::default()
        }))
    }

    fn or(&mut self) -> anyhow::Result<RuleExpr> {
        self.join(BoolOp::Or, "or", Self::and)
    }

    fn and(&mut self) -> anyhow::Result<RuleExpr> {
        self.join(BoolOp::And, "and", Self::term)
    }

    fn term(&mut self) -> anyhow::Result<RuleExpr> {
        let w = self.next("an expression")?;
        if w == "(" {
            let e = self.or()?;
            if self.next("`)`")? != ")" {
                bail!("rule: expected `)`");
            }
            return Ok(e);
        }
        if w == "date-spec" || w == "duration" {
            bail!("rule: {w} expressions are not supported by halo yet (date gt|lt|in_range are)");
        }
        self.n += 1;
        let id = format!("{}-expr-{}", self.id, self.n);
        if w == "date" {
            return self.date(id);
        }
        if let Some(op @ (ExprOp::Defined | ExprOp::NotDefined)) = ExprOp::parse(&w) {
            let attribute = self.next("an attribute after `defined`")?;
            return Ok(RuleExpr::Attr(AttrExpr {
                id,
                attribute,
                op,
                value: None,
                value_type: None,
                value_source: ValueSource::Literal,
            }));
        }
        let attribute = w;
        let op_word = self.next("a comparison (lt, gt, lte, gte, eq, ne)")?;
        let op = ExprOp::parse(&op_word)
            .filter(|o| !matches!(o, ExprOp::Defined | ExprOp::NotDefined))
            .with_context(|| {
                format!("rule: {attribute} {op_word}: expected lt, gt, lte, gte, eq or ne")
            })?;
        let mut value = self.next("a value")?;
        let value_type = match value.as_str() {
            "string" => Some(ValueType::String),
            "integer" => Some(ValueType::Integer),
            "number" => Some(ValueType::Number),
            "version" => Some(ValueType::Version),
            _ => None,
        };
        if value_type.is_some() {
            value = self.next("a value after its type")?;
        }
        Ok(RuleExpr::Attr(AttrExpr {
            id,
            attribute,
            op,
            value: Some(value),
            value_type,
            value_source: ValueSource::Literal,
        }))
    }

    /// `date gt DATE`, `date lt DATE`, `date in_range [DATE] to [DATE]`.
    fn date(&mut self, id: String) -> anyhow::Result<RuleExpr> {
        let time = |w: &str| {
            halo_model::datetime::parse_datetime(w).with_context(|| {
                format!("rule: {w:?} is not an ISO 8601 date (e.g. 2026-12-31T23:00:00Z)")
            })
        };
        let op = self.next("gt, lt or in_range after `date`")?;
        let (op, start, end) = match op.as_str() {
            "gt" => (DateOp::Gt, Some(time(&self.next("a date")?)?), None),
            "lt" => (DateOp::Lt, None, Some(time(&self.next("a date")?)?)),
            "in_range" => {
                let mut start = None;
                if self.peek() != Some("to") {
                    start = Some(time(&self.next("a date or `to`")?)?);
                }
                if self.next("`to`")? != "to" {
                    bail!("rule: date in_range START to END");
                }
                let end = match self.peek() {
                    Some("and" | "or" | ")") | None => None,
                    Some("duration") => {
                        bail!("rule: a duration in a date range is not supported by halo yet")
                    }
                    Some(w) => Some(time(w)?),
                };
                if end.is_some() {
                    self.at += 1;
                }
                if start.is_none() && end.is_none() {
                    bail!("rule: date in_range needs a start or an end");
                }
                (DateOp::InRange, start, end)
            }
            other => bail!("rule: date {other}: expected gt, lt or in_range"),
        };
        Ok(RuleExpr::Date(DateExpr { id, op, start, end }))
    }
}

/// Resource sets and the constraint's own options (`setoptions`): `R... [k=v...]`
/// after the first `set`, further sets each after `set`.
pub fn parse_sets(
    id_base: &str,
    words: &[String],
) -> anyhow::Result<(Vec<ResourceSet>, BTreeMap<String, String>)> {
    let mut sets: Vec<ResourceSet> = Vec::new();
    let mut setoptions = BTreeMap::new();
    let mut in_setoptions = false;
    let finish = |s: Option<ResourceSet>, sets: &mut Vec<ResourceSet>| -> anyhow::Result<()> {
        if let Some(s) = s {
            if s.resources.is_empty() {
                bail!("set: a set names at least one resource");
            }
            sets.push(s);
        }
        Ok(())
    };
    let mut words = words.iter().map(String::as_str).peekable();
    // The first `set` may be implied: `colocation set A B` arrives as `A B`.
    if words.peek() == Some(&"set") {
        words.next();
    }
    let new_set = |n: usize| ResourceSet {
        id: format!("{id_base}-set-{n}"),
        resources: Vec::new(),
        sequential: true,
        require_all: true,
        role: None,
        action: None,
        score: None,
        kind: None,
        ordering: SetOrdering::default(),
    };
    let mut current = Some(new_set(0));
    for w in words {
        match w {
            "set" if !in_setoptions => {
                finish(current.take(), &mut sets)?;
                current = Some(new_set(sets.len()));
            }
            "setoptions" => {
                finish(current.take(), &mut sets)?;
                in_setoptions = true;
            }
            _ if in_setoptions => {
                let (k, v) = w
                    .split_once('=')
                    .with_context(|| format!("setoptions: {w:?}: expected key=value"))?;
                setoptions.insert(k.to_string(), v.to_string());
            }
            _ => {
                let Some(set) = current.as_mut() else {
                    bail!("set: {w:?} before any set");
                };
                match w.split_once('=') {
                    None => set.resources.push(w.to_string()),
                    Some(("sequential", v)) => set.sequential = parse_bool("sequential", v)?,
                    Some(("require-all", v)) => set.require_all = parse_bool("require-all", v)?,
                    Some(("role", v)) => {
                        set.role =
                            Some(Role::parse(v).with_context(|| format!("role={v}: not a role"))?)
                    }
                    Some(("action", v)) => {
                        set.action = Some(
                            Action::parse(v)
                                .with_context(|| format!("action={v}: not an action"))?,
                        )
                    }
                    Some(("id", v)) => set.id = v.to_string(),
                    Some((k, _)) => {
                        bail!("set: unknown option {k} (sequential, require-all, role, action, id)")
                    }
                }
            }
        }
    }
    finish(current.take(), &mut sets)?;
    if sets.is_empty() {
        bail!("set: name the resources of at least one set");
    }
    Ok((sets, setoptions))
}

fn parse_bool(key: &str, v: &str) -> anyhow::Result<bool> {
    match v {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => bail!("{key}={v}: expected true or false"),
    }
}

/// `kind=` of an ordering's options, Mandatory when not given.
pub fn order_kind(opts: &mut BTreeMap<String, String>) -> anyhow::Result<OrderKind> {
    match opts.remove("kind") {
        Some(k) => OrderKind::parse(&k)
            .with_context(|| format!("kind={k}: expected Mandatory, Optional or Serialize")),
        None => Ok(OrderKind::Mandatory),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn rules_parse_with_precedence_and_options() {
        let (id, r, _) = parse_rule(
            "db",
            &words("score=100 rack eq a and ( defined ssd or disks gt integer 2 )"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (id.as_str(), r.id.as_str()),
            ("location-db", "location-db-rule")
        );
        assert_eq!(r.score, Some(Score::new(100)));
        assert_eq!(r.bool_op, BoolOp::And);
        assert_eq!(r.exprs.len(), 2);
        let RuleExpr::Rule(inner) = &r.exprs[1] else {
            panic!("the parenthesised part is a sub-rule: {r:?}")
        };
        assert_eq!(inner.bool_op, BoolOp::Or);
        let RuleExpr::Attr(disks) = &inner.exprs[1] else {
            panic!("{inner:?}")
        };
        assert_eq!(
            (disks.op, disks.value_type, disks.value.as_deref()),
            (ExprOp::Gt, Some(ValueType::Integer), Some("2"))
        );
        let (_, r, _) = parse_rule("db", &words("#uname eq n1")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.score, r.exprs.len()), (Some(Score::INFINITY), 1));
        for bad in [
            "",
            "rack eq",
            "rack is a",
            "( rack eq a",
            "date gt soon",
            "date-spec hours=9",
            "date in_range to",
            "rack eq a b",
        ] {
            assert!(parse_rule("db", &words(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sets_parse_with_their_options() {
        let (sets, opts) = parse_sets(
            "c",
            &words("a b sequential=false set c role=Promoted setoptions score=500 id=x"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].resources, ["a", "b"]);
        assert!(!sets[0].sequential);
        assert_eq!(sets[1].role, Some(Role::Promoted));
        assert_eq!(opts.get("score").map(String::as_str), Some("500"));
        assert!(parse_sets("c", &words("set setoptions score=1")).is_err());
        assert!(parse_sets("c", &words("a bogus=1")).is_err());
    }
}
