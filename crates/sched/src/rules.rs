//! Evaluating location rules against node attributes.

use halo_model::{AttrExpr, Attrs, BoolOp, ExprOp, Rule, RuleExpr, ValueSource, ValueType};

/// Resource data a rule expression may refer to (`value-source`).
pub struct RscData<'a> {
    pub params: &'a Attrs,
    pub meta: &'a Attrs,
    /// The scheduler's clock (seconds since the epoch), for date expressions.
    pub now: i64,
}

/// Whether `rule` holds for a node with `attrs`.
pub fn rule_matches(rule: &Rule, attrs: &Attrs, rsc: &RscData) -> bool {
    if rule.exprs.is_empty() {
        // An empty rule passes (Pacemaker treats a rule without expressions as true).
        return true;
    }
    let mut results = rule.exprs.iter().map(|e| match e {
        RuleExpr::Attr(a) => expr_matches(a, attrs, rsc),
        RuleExpr::Rule(r) => rule_matches(r, attrs, rsc),
        RuleExpr::Date(d) => d.holds(rsc.now),
    });
    match rule.bool_op {
        BoolOp::And => results.all(|x| x),
        BoolOp::Or => results.any(|x| x),
    }
}

fn expr_matches(e: &AttrExpr, attrs: &Attrs, rsc: &RscData) -> bool {
    let have = attrs.get(&e.attribute);
    let want: Option<String> = match e.value_source {
        ValueSource::Literal => e.value.clone(),
        ValueSource::Param => e.value.as_ref().and_then(|k| rsc.params.get(k).cloned()),
        ValueSource::Meta => e.value.as_ref().and_then(|k| rsc.meta.get(k).cloned()),
    };
    match e.op {
        ExprOp::Defined => return have.is_some(),
        ExprOp::NotDefined => return have.is_none(),
        _ => {}
    }
    let (Some(have), Some(want)) = (have, want) else {
        // Comparison with a missing side fails, except "ne".
        return e.op == ExprOp::Ne;
    };
    let vtype = e.value_type.unwrap_or_else(|| match e.op {
        ExprOp::Lt | ExprOp::Lte | ExprOp::Gt | ExprOp::Gte => {
            if have.contains('.') || want.contains('.') {
                ValueType::Number
            } else {
                ValueType::Integer
            }
        }
        _ => ValueType::String,
    });
    let ord = compare(have, &want, vtype);
    match e.op {
        ExprOp::Lt => ord.is_lt(),
        ExprOp::Lte => ord.is_le(),
        ExprOp::Gt => ord.is_gt(),
        ExprOp::Gte => ord.is_ge(),
        ExprOp::Eq => ord.is_eq(),
        ExprOp::Ne => !ord.is_eq(),
        ExprOp::Defined | ExprOp::NotDefined => false,
    }
}

fn compare(a: &str, b: &str, t: ValueType) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match t {
        ValueType::String => a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()),
        ValueType::Integer => match (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
                (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                _ => a.cmp(b),
            },
        },
        ValueType::Number => match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
            (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => a.cmp(b),
        },
        ValueType::Version => {
            let pa: Vec<i64> = a.split('.').map(|x| x.parse().unwrap_or(0)).collect();
            let pb: Vec<i64> = b.split('.').map(|x| x.parse().unwrap_or(0)).collect();
            let n = pa.len().max(pb.len());
            for i in 0..n {
                let x = pa.get(i).copied().unwrap_or(0);
                let y = pb.get(i).copied().unwrap_or(0);
                if x != y {
                    return x.cmp(&y);
                }
            }
            Ordering::Equal
        }
    }
}
