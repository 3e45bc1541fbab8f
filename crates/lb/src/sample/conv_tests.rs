//! Tests of the converters (`super`), against HAProxy's documented and regression-test
//! outputs.

use super::*;
use crate::sample::split_calls;
use std::io::Write as _;

type VarMap = HashMap<String, Value>;

/// A variable (the trait's `get`, not the map's).
fn get(vars: &VarMap, name: &str) -> Option<Value> {
    Vars::get(vars, name)
}

fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

/// Parses a chain of converters (`lower,field(2,/)`).
fn chain(text: &str) -> Vec<Conv> {
    split_calls(text)
        .unwrap()
        .iter()
        .map(|(n, a)| Conv::parse(n, a).unwrap_or_else(|e| panic!("{text}: {e}")))
        .collect()
}

/// Applies a chain with variables.
fn run_with(v: Value, text: &str, vars: &mut VarMap) -> Option<Value> {
    chain(text).iter().try_fold(v, |v, c| c.apply(v, vars))
}

/// Applies a chain without variables.
fn run(v: Value, text: &str) -> Option<Value> {
    run_with(v, text, &mut VarMap::new())
}

/// Applies a chain, the result as text ("<none>" without a value).
fn text(v: Value, c: &str) -> String {
    run(v, c).map_or("<none>".into(), |v| v.as_str().into_owned())
}

fn parse_err(text: &str) -> String {
    let (n, a) = &split_calls(text).unwrap()[0];
    Conv::parse(n, a).expect_err(text)
}

fn map_file(lines: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(lines.as_bytes()).unwrap();
    f
}

fn map_conv(name: &str, f: &tempfile::NamedTempFile, default: Option<&str>) -> Conv {
    let mut args = vec![f.path().to_str().unwrap().to_string()];
    args.extend(default.map(str::to_string));
    Conv::parse(name, &args).unwrap()
}

fn apply(c: &Conv, v: Value) -> Option<Value> {
    c.apply(v, &mut VarMap::new())
}

// ------------------------------------------------------------- text

#[test]
fn case_and_length_work_on_ascii_and_stop_binary_at_nul() {
    assert_eq!(text(s("HeLLo Ä"), "lower"), "hello Ä");
    assert_eq!(text(s("HeLLo ä"), "upper"), "HELLO ä");
    assert_eq!(run(Value::Int(-12), "upper"), Some(s("-12")));
    assert_eq!(run(s("héllo"), "length"), Some(Value::Int(6)));
    assert_eq!(run(Value::Int(1234), "length"), Some(Value::Int(4)));
    assert_eq!(
        run(Value::Bin(b"ab\0cd".to_vec()), "length"),
        Some(Value::Int(2))
    );
}

#[test]
fn trims_drop_listed_characters_at_one_end() {
    assert_eq!(text(s("  ,a b, "), "ltrim(' ,')"), "a b, ");
    assert_eq!(text(s("  ,a b, "), "rtrim(' ,')"), "  ,a b");
    assert_eq!(text(s(",,,"), "ltrim(',')"), "");
    assert_eq!(text(s(",,,"), "rtrim(',')"), "");
}

/// configuration.txt's examples and reg-tests/converter/field.vtc,
/// converters_ipmask_concat_strcmp_field_word.vtc.
#[test]
fn field_counts_every_delimiter() {
    let f = || s("f1_f2_f3__f5");
    assert_eq!(text(f(), "field(5,_)"), "f5");
    assert_eq!(text(f(), "field(2,_,0)"), "f2_f3__f5");
    assert_eq!(text(f(), "field(2,_,2)"), "f2_f3");
    assert_eq!(text(f(), "field(-2,_,3)"), "f2_f3_");
    assert_eq!(text(f(), "field(-3,_,0)"), "f1_f2_f3");
    assert_eq!(text(f(), "field(4,_)"), "");
    assert_eq!(text(f(), "field(2,_,99)"), "f2_f3__f5");
    assert_eq!(text(f(), "field(-2,_,99)"), "f1_f2_f3_");
    assert_eq!(text(s("/foo/bar/baz"), "field(3,/)"), "bar");
    assert_eq!(run(s("/foo"), "field(3,/)"), None);
    assert_eq!(run(f(), "field(6,_)"), None);
    assert_eq!(run(f(), "field(-6,_)"), None);
    assert_eq!(text(s("/is/this/Ok/or/not"), "lower,field(4,/,1)"), "ok");
    assert_eq!(text(s("Yes_It_Is"), "upper,field(2,_,2)"), "IT_IS");
    assert_eq!(text(s("a,b;c"), "field(3,';,')"), "c");
    assert_eq!(text(s(""), "field(1,_)"), "");
    assert_eq!(run(s("a_b"), &format!("field({},_)", i64::MAX)), None);
    assert_eq!(text(s("a_b"), &format!("field(1,_,{})", i64::MAX)), "a_b");
    assert_eq!(text(s("a_b"), &format!("field(-1,_,{})", i64::MAX)), "a_b");
}

#[test]
fn word_skips_runs_of_delimiters() {
    let f = || s("f1_f2_f3__f5");
    assert_eq!(text(f(), "word(4,_)"), "f5");
    assert_eq!(text(f(), "word(2,_,0)"), "f2_f3__f5");
    assert_eq!(text(f(), "word(3,_,2)"), "f3__f5");
    assert_eq!(text(f(), "word(-2,_,3)"), "f1_f2_f3");
    assert_eq!(text(f(), "word(-3,_,0)"), "f1_f2");
    assert_eq!(text(s("/f1/f2/f3/f4"), "word(1,/)"), "f1");
    assert_eq!(text(s("/is/this/Ok/or/not"), "upper,word(3,/,1)"), "OK");
    assert_eq!(text(s("Yes_It_Is"), "word(1,_,2)"), "Yes_It");
    // No such word: empty, not nothing.
    assert_eq!(run(f(), "word(5,_)"), Some(s("")));
    assert_eq!(run(f(), "word(-5,_)"), Some(s("")));
    assert_eq!(text(s("__a__b__"), "word(1,_)"), "a");
    assert_eq!(text(s("__a__b__"), "word(-1,_)"), "b");
    assert_eq!(text(s("__a__b__"), "word(1,_,5)"), "a__b__");
    assert_eq!(text(s("__a__b__"), "word(-1,_,0)"), "__a__b");
}

/// converters_ipmask_concat_strcmp_field_word.vtc.
#[test]
fn concat_and_strcmp_use_variables() {
    let mut vars = VarMap::new();
    vars.set("sess.field2", s("f3__f5"));
    let cat = run_with(s("f1_f2"), "concat(_,sess.field2,)", &mut vars).unwrap();
    assert_eq!(cat, s("f1_f2_f3__f5"));
    vars.set("sess.fieldconcat", cat);
    let cmp = |v: Value, var: &str, vars: &mut VarMap| run_with(v, &format!("strcmp({var})"), vars);
    assert_eq!(
        cmp(s("f1_f2_f3__f5"), "sess.fieldconcat", &mut vars),
        Some(Value::Int(0))
    );
    vars.set("sess.okfield", s("ok"));
    vars.set("sess.qsfield", s("IT_IS"));
    let qs = run_with(s("IT_IS"), "concat(_,sess.okfield,)", &mut vars);
    assert_eq!(qs, Some(s("IT_IS_ok")));
    assert_eq!(cmp(s("a"), "sess.okfield", &mut vars), Some(Value::Int(-1)));
    assert_eq!(cmp(s("z"), "sess.okfield", &mut vars), Some(Value::Int(1)));
    assert_eq!(
        cmp(s("okk"), "sess.okfield", &mut vars),
        Some(Value::Int(1))
    );
    assert_eq!(cmp(s("o"), "sess.okfield", &mut vars), Some(Value::Int(-1)));
    assert_eq!(cmp(s("o"), "txn.none", &mut vars), None);
    // A missing variable adds nothing; other types as text.
    assert_eq!(text(s("x"), "concat(<,txn.nope,>)"), "x<>");
    vars.set("txn.n", Value::Int(42));
    let r = run_with(s("n="), "concat(,txn.n)", &mut vars);
    assert_eq!(r, Some(s("n=42")));
    // The doc's way to build a value from nothing.
    vars.set("sess.ip", s("10.0.0.1"));
    let r = run_with(
        s(""),
        "concat('addr=(',sess.ip),concat(',',,')')",
        &mut vars,
    );
    assert_eq!(r, Some(s("addr=(10.0.0.1,)")));
}

/// reg-tests/converter/add_item.vtc.
#[test]
fn add_item_puts_the_delimiter_only_between_items() {
    let mut vars = VarMap::new();
    vars.set("txn.var", s("var_content"));
    let mut go = |input: &str, c: &str| run_with(s(input), c, &mut vars).unwrap();
    assert_eq!(
        go("", "add_item(',',txn.var,_suff_)"),
        s("var_content_suff_")
    );
    assert_eq!(go("", "add_item(',',txn.var)"), s("var_content"));
    assert_eq!(go("", "add_item(',',,_suff_)"), s("_suff_"));
    let i = "input_string";
    assert_eq!(
        go(i, "add_item(',',txn.var,_suff_)"),
        s("input_string,var_content_suff_")
    );
    assert_eq!(
        go(i, "add_item(',',txn.var)"),
        s("input_string,var_content")
    );
    assert_eq!(go(i, "add_item(',',,_suff_)"), s("input_string,_suff_"));
    // Nothing to add: no delimiter.
    assert_eq!(go(i, "add_item(',',txn.missing)"), s("input_string"));
}

#[test]
fn regsub_replaces_first_or_all_matches_with_groups() {
    assert_eq!(
        text(s("/////a///b/c/xzxyz/"), "regsub('/+','/','g')"),
        "/a/b/c/xzxyz/"
    );
    assert_eq!(text(s("?;&a=b&c"), "regsub([?;&]*,'')"), "a=b&c");
    assert_eq!(
        text(s("/bar12/foo"), r#"regsub("(foo|bar)([0-9]+)?","\2\1",i)"#),
        "/12bar/foo"
    );
    assert_eq!(
        text(
            s("/BAR12/foo"),
            r#"regsub("(foo|bar)([0-9]+)?","<\2\1>",gi)"#
        ),
        "/<12BAR>/<foo>"
    );
    // map_redirect.vtc, vars.vtc.
    assert_eq!(
        text(s("example.org:8443"), r"lower,regsub(:\d+$,,)"),
        "example.org"
    );
    assert_eq!(
        text(s("this is a string"), "regsub(is a,is also a)"),
        "this is also a string"
    );
    assert_eq!(text(s("updating"), "regsub(ing,ed)"), "updated");
    assert_eq!(text(s("aaa"), "regsub(a,b)"), "baa");
    assert_eq!(text(s("aaa"), "regsub(a,b,g)"), "bbb");
    assert_eq!(text(s("abc"), r"regsub(b,[\0\0])"), "a[bb]c");
    assert_eq!(text(s("abc"), r"regsub(b,\x41\9)"), "aAc");
    // Empty matches, as sed and PCRE.
    assert_eq!(text(s("baaa"), "regsub(a*,-,g)"), "-b--");
    assert_eq!(text(s("abc"), "regsub(x*,-,g)"), "-a-b-c-");
    assert_eq!(text(s("abc"), "regsub($,X,g)"), "abcX");
    assert_eq!(text(s("abc"), "regsub(^,X,g)"), "Xabc");
    assert_eq!(text(s("é"), "regsub(x*,-,g)"), "-é-");
    assert_eq!(text(s(""), "regsub(x*,-,g)"), "-");
    assert_eq!(
        run(Value::Bin(vec![b'a', 0xff, b'a']), "regsub(a,b,g)"),
        Some(Value::Bin(vec![b'b', 0xff, b'b']))
    );
}

/// reg-tests/converter/iif.vtc.
#[test]
fn iif_chooses_by_the_input_as_a_boolean() {
    assert_eq!(text(Value::Int(0), "iif(ok,ko)"), "ko");
    assert_eq!(text(Value::Int(1), "iif(ok,ko)"), "ok");
    assert_eq!(text(Value::Int(2), "iif(ok,ko)"), "ok");
    assert_eq!(text(Value::Bool(true), "iif(https,http)"), "https");
    assert_eq!(text(s("0"), "iif(ok,ko)"), "ko");
    assert_eq!(text(s("abc"), "iif(ok,ko)"), "ko");
    assert_eq!(run(s(""), "iif(ok,ko)"), None);
    assert_eq!(run(Value::Bin(vec![1]), "iif(ok,ko)"), None);
}

/// reg-tests/converter/json.vtc and configuration.txt.
#[test]
fn json_escapes_and_checks_utf8() {
    assert_eq!(text(s("foo 1/2"), "json"), r"foo 1\/2");
    assert_eq!(
        text(s(r#"Very "Ugly" UA 1/2"#), "json(utf8s)"),
        r#"Very \"Ugly\" UA 1\/2"#
    );
    assert_eq!(run(Value::Bin(vec![0xe0]), "json(utf8)"), None);
    assert_eq!(
        run(Value::Bin(b"-\xe0-".to_vec()), "json(utf8s)"),
        Some(s("--"))
    );
    assert_eq!(
        text(s("a\\b\n\t\r\u{8}\u{c}\u{1}"), "json"),
        r"a\\b\n\t\r\b\f\u0001"
    );
    assert_eq!(text(s("é€"), "json(utf8)"), r"\u00e9\u20ac");
    assert_eq!(text(s("é"), "json"), r"\u00c3\u00a9");
    assert_eq!(run(s("😀"), "json(utf8)"), None);
    assert_eq!(text(s("a😀b"), "json(utf8s)"), "ab");
    // Overlong "/" (c0 af): utf8p accepts it, utf8 refuses it.
    let overlong = Value::Bin(vec![b'a', 0xc0, 0xaf]);
    assert_eq!(run(overlong.clone(), "json(utf8)"), None);
    assert_eq!(run(overlong.clone(), "json(utf8p)"), Some(s(r"a\/")));
    assert_eq!(run(overlong, "json(utf8s)"), Some(s("a")));
    // A surrogate is out of range: utf8ps drops it, utf8p refuses.
    let surrogate = Value::Bin(vec![b'x', 0xed, 0xa0, 0x80]);
    assert_eq!(run(surrogate.clone(), "json(utf8p)"), None);
    assert_eq!(run(surrogate, "json(utf8ps)"), Some(s("x")));
}

/// reg-tests/converter/json_query.vtc.
#[test]
fn json_query_finds_strings_numbers_and_booleans() {
    let q = |doc: &str, c: &str| run(s(doc), c);
    let iss = r#"{"iss":"kubernetes.io/serviceaccount"}"#;
    assert_eq!(
        q(iss, "json_query('$.iss')"),
        Some(s("kubernetes.io/serviceaccount"))
    );
    assert_eq!(
        q(
            r#"{"integer":4}"#,
            r#"json_query('$.integer',"int"),add(1)"#
        ),
        Some(Value::Int(5))
    );
    assert_eq!(
        q(r#"{"integer":-4}"#, "json_query('$.integer',int),add(1)"),
        Some(Value::Int(-3))
    );
    assert_eq!(
        q(r#"{"double":4.5}"#, "json_query('$.double')"),
        Some(s("4.5"))
    );
    assert_eq!(
        q(r#"{"double":4.5}"#, "json_query('$.double',int)"),
        Some(Value::Int(4))
    );
    assert_eq!(
        q(r#"{"integer":4}"#, "json_query('$.integer')"),
        Some(s("4"))
    );
    assert_eq!(
        q(r#"{"n":1234567}"#, "json_query('$.n')"),
        Some(s("1.23457e+06"))
    );
    assert_eq!(q(r#"{"n":0.0001}"#, "json_query('$.n')"), Some(s("0.0001")));
    assert_eq!(q(r#"{"n":0.00001}"#, "json_query('$.n')"), Some(s("1e-05")));
    assert_eq!(
        q(r#"{"boolean-true":true}"#, "json_query('$.boolean-true')"),
        Some(Value::Bool(true))
    );
    let f = q(
        r#"{"boolean-false":false}"#,
        "json_query('$.boolean-false')",
    )
    .unwrap();
    assert_eq!(f.as_str(), "0");
    assert_eq!(
        q(r#"{"my.key":"myvalue"}"#, r"json_query('$.my\\.key')"),
        Some(s("myvalue"))
    );
    assert_eq!(
        q(r#"{"a":{"b":[1,{"c":"d"}]}}"#, "json_query('$.a.b[1].c')"),
        Some(s("d"))
    );
    assert_eq!(q(r#"{"a":null}"#, "json_query('$.a')"), None);
    assert_eq!(q(r#"{"a":[1]}"#, "json_query('$.a')"), None);
    assert_eq!(q(r#"{"a":1}"#, "json_query('$.b')"), None);
    assert_eq!(
        q(r#"{"a":9007199254740993}"#, "json_query('$.a',int)"),
        None
    );
    assert_eq!(q("not json", "json_query('$.a')"), None);
}

/// reg-tests/converter/url_dec.vtc and url_enc.vtc.
#[test]
fn url_decoding_and_encoding() {
    let url = || s("/bla+%20?foo%3Dbar%2B42+42%20");
    assert_eq!(text(url(), "url_dec"), "/bla+ ?foo=bar+42 42 ");
    assert_eq!(text(url(), "url_dec(1)"), "/bla  ?foo=bar+42 42 ");
    assert_eq!(run(s("a%2"), "url_dec"), None);
    assert_eq!(run(s("a%zz"), "url_dec"), None);
    assert_eq!(run(s("%e9"), "url_dec"), Some(Value::Bin(vec![0xe9])));
    let enc = text(s("foo=bar+42 42 "), "url_enc");
    assert_eq!(enc, "foo%3Dbar%2B42%2042%20");
    assert_eq!(
        text(s(&enc), "url_dec,url_enc(query)"),
        "foo%3Dbar%2B42%2042%20"
    );
    assert_eq!(text(s("aZ09-._~é"), "url_enc"), "aZ09-._~%C3%A9");
}

// --------------------------------------------------------- encodings

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==";

/// reg-tests/sample_fetches/hashes.vtc: bytes 0 to 255.
#[test]
fn hashes_of_all_byte_values() {
    let key = run(s(KEY_B64), "b64dec").unwrap();
    assert_eq!(key, Value::Bin((0..=255).collect()));
    let h = |c: &str| text(key.clone(), c);
    assert_eq!(h("length"), "0");
    assert_eq!(h("bytes(1),length"), "255");
    let hex: String = (0..=255u8).map(|b| format!("{b:02X}")).collect();
    assert_eq!(h("hex"), hex);
    assert_eq!(h("base64"), KEY_B64);
    assert_eq!(h("sha1,hex"), "4916D6BDB7F78E6803698CAB32D1586EA457DFC8");
    assert_eq!(h("crc32"), "688229491");
    assert_eq!(h("crc32(1)"), "4230317029");
    assert_eq!(h("djb2"), "2589693061");
    assert_eq!(h("djb2(1)"), "600622701");
    assert_eq!(h("sdbm"), "905707648");
    assert_eq!(h("sdbm(1)"), "3103804144");
    assert_eq!(h("wt6"), "4090277559");
    assert_eq!(h("wt6(1)"), "1192658767");
    assert_eq!(
        h("sha2,hex"),
        "40AFF2E9D2D8922E47AFD4648E6967497158785FBD1DA870E7110266BF944880"
    );
    assert_eq!(
        h("sha2(224),hex"),
        "88702E63237824C4EB0D0FCFE41469A462493E8BEB2A75BBE5981734"
    );
    assert_eq!(
        h("sha2(384),hex"),
        "FFDAEBFF65ED05CF400F0221C4CCFB4B2104FB6A51F87E40BE6C4309386BFDEC2892E9179B34632331A59592737DB5C5"
    );
}

/// reg-tests/sample_fetches/ubase64.vtc.
#[test]
fn base64url_without_padding() {
    for (plain, enc) in [
        ("f", "Zg"),
        ("fo", "Zm8"),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg"),
        ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(text(s(plain), "ub64enc"), enc);
        assert_eq!(text(s(enc), "ub64dec"), plain);
    }
    let bin = Value::Bin(unhex("14fb9c03d97f12d97e").unwrap());
    assert_eq!(text(bin, "ub64enc"), "FPucA9l_Etl-");
    assert_eq!(
        text(s("FPucA9l_Etl-"), "ub64dec,hex,lower"),
        "14fb9c03d97f12d97e"
    );
    assert_eq!(run(s("Zg=="), "ub64dec"), None);
    assert_eq!(run(s("Z"), "ub64dec"), None);
    assert_eq!(text(s("foo"), "base64"), "Zm9v");
    assert_eq!(text(s("fo"), "base64,b64dec"), "fo");
    assert_eq!(run(s("Zg"), "b64dec"), None);
    assert_eq!(run(s("Z!=="), "b64dec"), None);
    assert_eq!(run(s(""), "b64dec"), Some(Value::Bin(vec![])));
}

#[test]
fn hex_follows_haproxy_binary_casts() {
    assert_eq!(text(s("AB"), "hex"), "4142");
    assert_eq!(text(Value::Int(1), "hex"), "0000000000000001");
    assert_eq!(
        text(Value::Ip("192.168.1.1".parse().unwrap()), "hex"),
        "C0A80101"
    );
    assert_eq!(run(s("1F"), "hex2i"), Some(Value::Int(31)));
    assert_eq!(run(s("ff"), "hex2i"), Some(Value::Int(255)));
    assert_eq!(run(s(""), "hex2i"), Some(Value::Int(0)));
    assert_eq!(run(s("0x1"), "hex2i"), None);
    assert_eq!(run(s("ffffffffffffffffff"), "hex2i"), Some(Value::Int(-1)));
}

#[test]
fn bytes_slices_without_running_past_the_end() {
    assert_eq!(
        run(s("0123456789"), "bytes(2,3)"),
        Some(Value::Bin(b"234".to_vec()))
    );
    assert_eq!(
        run(s("0123456789"), "bytes(8)"),
        Some(Value::Bin(b"89".to_vec()))
    );
    assert_eq!(run(s("0123456789"), "bytes(20)"), Some(Value::Bin(vec![])));
    assert_eq!(
        run(s("01"), &format!("bytes({},{})", i64::MAX, i64::MAX)),
        Some(Value::Bin(vec![]))
    );
    assert_eq!(
        run(s("01"), &format!("bytes(0,{})", i64::MAX)),
        Some(Value::Bin(b"01".to_vec()))
    );
}

/// reg-tests/converter/be2dec.vtc and configuration.txt.
#[test]
fn be2dec_reads_big_endian_chunks() {
    assert_eq!(text(s(""), "be2dec(:,1)"), "");
    let d = || s("0123456789");
    assert_eq!(text(d(), "be2dec(:,1)"), "48:49:50:51:52:53:54:55:56:57");
    assert_eq!(text(d(), "be2dec(-,3)"), "3158322-3355701-3553080-57");
    assert_eq!(text(d(), "be2dec(::,3,1)"), "3158322::3355701::3553080");
    let a = || s("abcdefghijklmnopqrstuvwxyz");
    assert_eq!(
        text(a(), "be2dec(-,3)"),
        "6382179-6579558-6776937-6974316-7171695-7369074-7566453-7763832-31098"
    );
    assert_eq!(
        text(a(), "be2dec(::,3,1)"),
        "6382179::6579558::6776937::6974316::7171695::7369074::7566453::7763832"
    );
    let b = || Value::Bin(unhex("01020304050607").unwrap());
    assert_eq!(text(b(), "be2dec(:,2)"), "258:772:1286:7");
    assert_eq!(text(b(), "be2dec(-,2,1)"), "258-772-1286");
    assert_eq!(text(b(), "be2dec(,2,1)"), "2587721286");
    assert_eq!(
        text(Value::Bin(vec![127, 0, 0, 1]), "be2dec(.,1)"),
        "127.0.0.1"
    );
    assert_eq!(
        text(Value::Bin(vec![0xff; 8]), "be2dec(.,8)"),
        u64::MAX.to_string()
    );
    assert_eq!(text(s("ab"), "be2dec(.,3,1)"), "");
}

/// reg-tests/converter/be2hex.vtc and configuration.txt.
#[test]
fn be2hex_groups_bytes() {
    let d = || s("0123456789");
    assert_eq!(text(s(""), "be2hex(:,1)"), "");
    assert_eq!(text(d(), "be2hex,lower"), "30313233343536373839");
    assert_eq!(
        text(d(), "be2hex(:,1),lower"),
        "30:31:32:33:34:35:36:37:38:39"
    );
    assert_eq!(
        text(d(), "be2hex(--,3),lower"),
        "303132--333435--363738--39"
    );
    assert_eq!(text(d(), "be2hex(.,3,1),lower"), "303132.333435.363738");
    let a = || s("abcdefghijklmnopqrstuvwxyz");
    assert_eq!(
        text(a(), "be2hex(--,3),lower"),
        "616263--646566--676869--6a6b6c--6d6e6f--707172--737475--767778--797a"
    );
    let b = || Value::Bin(unhex("01020304050607").unwrap());
    assert_eq!(text(b(), "be2hex"), "01020304050607");
    assert_eq!(text(b(), "be2hex(:,2)"), "0102:0304:0506:07");
    assert_eq!(text(b(), "be2hex(--,2,1)"), "0102--0304--0506");
    assert_eq!(
        text(
            Value::Bin(unhex("0102030405060708").unwrap()),
            "be2hex(,3,1)"
        ),
        "010203040506"
    );
}

// --------------------------------------------------------- integers

#[test]
fn arithmetic_saturates_and_reads_variables() {
    let i = |x: i64| Value::Int(x);
    assert_eq!(run(i(4), "add(1)"), Some(i(5)));
    assert_eq!(run(i(4), "sub(10)"), Some(i(-6)));
    assert_eq!(run(i(4), "mul(-3)"), Some(i(-12)));
    assert_eq!(run(i(7), "div(2)"), Some(i(3)));
    assert_eq!(run(i(-7), "div(2)"), Some(i(-3)));
    assert_eq!(run(i(7), "mod(3)"), Some(i(1)));
    assert_eq!(run(i(6), "and(3)"), Some(i(2)));
    assert_eq!(run(i(6), "or(3)"), Some(i(7)));
    assert_eq!(run(i(6), "xor(3)"), Some(i(5)));
    assert_eq!(run(i(7), "div(0)"), Some(i(i64::MAX)));
    assert_eq!(run(i(7), "mod(0)"), Some(i(0)));
    assert_eq!(run(i(i64::MIN), "div(-1)"), Some(i(i64::MAX)));
    assert_eq!(run(i(i64::MIN), "mod(-1)"), Some(i(0)));
    assert_eq!(run(i(i64::MAX), "add(1)"), Some(i(i64::MAX)));
    assert_eq!(run(i(i64::MIN), "sub(1)"), Some(i(i64::MIN)));
    assert_eq!(run(i(0), &format!("sub({})", i64::MIN)), Some(i(i64::MAX)));
    assert_eq!(run(i(i64::MAX), "mul(2)"), Some(i(i64::MAX)));
    assert_eq!(run(i(i64::MAX), "mul(-2)"), Some(i(i64::MIN)));
    assert_eq!(run(i(i64::MIN), "neg"), Some(i(i64::MAX)));
    assert_eq!(run(i(5), "neg,add(3)"), Some(i(-2)));
    assert_eq!(run(i(0), "cpl"), Some(i(-1)));
    assert_eq!(run(i(0), "not"), Some(Value::Bool(true)));
    assert_eq!(run(i(3), "bool"), Some(Value::Bool(true)));
    assert_eq!(run(i(3), "odd"), Some(Value::Bool(true)));
    assert_eq!(run(i(-3), "even"), Some(Value::Bool(false)));
    assert_eq!(run(i(6), "and(4),bool"), Some(Value::Bool(true)));
    // Strings by their leading integer; an empty one has none.
    assert_eq!(run(s("12abc"), "add(1)"), Some(i(13)));
    assert_eq!(run(s("-12"), "add(1)"), Some(i(-11)));
    assert_eq!(run(s("abc"), "add(1)"), Some(i(1)));
    assert_eq!(run(s(""), "add(1)"), None);
    assert_eq!(run(Value::Bin(vec![1]), "add(1)"), None);
    assert_eq!(run(Value::Bool(true), "add(1)"), Some(i(2)));
    // vars.vtc: proc.int5 = var(proc.str60,60),div(proc.int12).
    let mut vars = VarMap::new();
    vars.set("proc.int12", i(12));
    assert_eq!(run_with(s("60"), "div(proc.int12)", &mut vars), Some(i(5)));
    vars.set("sess.int5", i(5));
    assert_eq!(run_with(i(5), "add(sess.int5)", &mut vars), Some(i(10)));
    assert_eq!(run_with(i(5), "add(sess.none)", &mut vars), None);
    vars.set("txn.e", s(""));
    assert_eq!(run_with(i(5), "add(txn.e)", &mut vars), None);
}

// -------------------------------------------------------- addresses

/// converters_ipmask_concat_strcmp_field_word.vtc.
#[test]
fn ipmask_masks_both_families() {
    let m = |a: &str, c: &str| text(Value::Ip(a.parse().unwrap()), c);
    assert_eq!(m("192.168.1.101", "ipmask(24)"), "192.168.1.0");
    assert_eq!(m("192.168.1.101", "ipmask(16)"), "192.168.0.0");
    assert_eq!(m("192.168.1.101", "ipmask(8)"), "192.0.0.0");
    assert_eq!(m("192.168.1.101", "ipmask(255.255.0.0)"), "192.168.0.0");
    assert_eq!(m("2001:db8::1", "ipmask(24,128)"), "2001:db8::1");
    let a2 = "2001:db8::bad:c0f:ffff";
    assert_eq!(m(a2, "ipmask(24,64)"), "2001:db8::");
    assert_eq!(m(a2, "ipmask(24,128)"), "2001:db8::bad:c0f:ffff");
    assert_eq!(m(a2, "ipmask(24,120)"), "2001:db8::bad:c0f:ff00");
    assert_eq!(
        m(a2, "ipmask(24,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00)"),
        "2001:db8::bad:c0f:ff00"
    );
    assert_eq!(
        m(a2, "ipmask(24,ffff:ffff:ffff:ffff:ffff:ffff:ffff:fee0)"),
        "2001:db8::bad:c0f:fee0"
    );
    let a3 = "2001:db8:c001:c01a:ffff:ffff:10:ffff";
    assert_eq!(m(a3, "ipmask(24,64)"), "2001:db8:c001:c01a::");
    assert_eq!(
        m(a3, "ipmask(24,ffff:ffff:ffff:ffff:0:0:0:0)"),
        "2001:db8:c001:c01a::"
    );
    assert_eq!(
        m(a3, "ipmask(24,ffff:ffff:ffff:ffff::)"),
        "2001:db8:c001:c01a::"
    );
    assert_eq!(
        m(a3, "ipmask(24,ffff:ffff:ffff:ffff:0:ffff:ffff:0)"),
        "2001:db8:c001:c01a:0:ffff:10:0"
    );
    assert_eq!(
        m(a3, "ipmask(24,ffff:ffff:ffff:ffff:c001:c001:0000:0000)"),
        "2001:db8:c001:c01a:c001:c001::"
    );
    assert_eq!(m("::FFFF:192.168.1.101", "ipmask(32,64)"), "192.168.1.101");
    assert_eq!(m("192.168.1.2", "ipmask(24)"), "192.168.1.0");
    assert_eq!(m("192.168.1.255", "ipmask(25)"), "192.168.1.128");
    assert_eq!(m("192.168.1.255", "ipmask(0)"), "0.0.0.0");
    // IPv6 without an IPv6 mask: no value.
    assert_eq!(
        run(Value::Ip("2001:db8::1".parse().unwrap()), "ipmask(24)"),
        None
    );
    assert_eq!(text(s("10.1.2.3"), "ipmask(8)"), "10.0.0.0");
    assert_eq!(run(s("nope"), "ipmask(8)"), None);
}

// -------------------------------------------- hashes and digests

/// reg-tests/converter/digest.vtc and sha2.vtc.
#[test]
fn digests_of_one_and_two() {
    let cases = [
        ("1", "sha1", "356a192b7913b04c54574d18c28d46e6395428ab"),
        ("1", "sha224", "e25388fde8290dc286a6164fa2d97e551b53498dcbf7bc378eb1f178"),
        ("1", "sha256", "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"),
        ("1", "sha384", "47f05d367b0c32e438fb63e6cf4a5f35c2aa2f90dc7543f8a41a0f95ce8a40a313ab5cf36134a2068c4c969cb50db776"),
        ("1", "sha512", "4dff4ea340f0a823f15d3f4f01ab62eae0e5da579ccb851f8db9dfe84c58b2b37b89903a740e1ee172da793a6e79d560e5f7f9bd058a12a280433ed6fa46510a"),
        ("2", "sha1", "da4b9237bacccdf19c0760cab7aec4a8359010b0"),
        ("2", "sha224", "58b2aaa0bfae7acc021b3260e941117b529b2e69de878fd7d45c61a9"),
        ("2", "sha256", "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35"),
        ("2", "sha384", "d063457705d66d6f016e4cdd747db3af8d70ebfd36badd63de6c8ca4a9d8bfb5d874e7fbd750aa804dcaddae7eeef51e"),
        ("2", "sha512", "40b244112641dd78dd4f93b6c9190dd46e0099194d5a44257b7efad6ef9ff4683da1eda0244448cb343aa688f5d3efd7314dafe580ac0bcbf115aeca9e8dc114"),
    ];
    for (input, alg, want) in cases {
        assert_eq!(
            text(s(input), &format!("digest({alg}),hex,lower")),
            want,
            "{alg}"
        );
        let sha2 = match alg {
            "sha1" => "sha1".to_string(),
            o => format!("sha2({})", &o[3..]),
        };
        assert_eq!(text(s(input), &format!("{sha2},hex,lower")), want, "{sha2}");
    }
    assert_eq!(text(s("1"), "sha2,hex,lower"), cases[2].2);
    assert_eq!(text(s("1"), "digest(SHA256),hex,lower"), cases[2].2);
}

/// reg-tests/converter/hmac.vtc.
#[test]
fn hmac_with_a_constant_or_a_variable_key() {
    let mut vars = VarMap::new();
    let key = run(s("my_super_secret_long_key"), "base64").unwrap();
    vars.set("txn.key", key);
    let cases = [
        (
            "1",
            "hmac(sha1,a2V5)",
            "e23feb105f9622241bf23db1638cd2b4208b1f53",
        ),
        (
            "1",
            "hmac(sha1,txn.key)",
            "87b10ddcf39e26f6bd7c3b0e38e0125997b255be",
        ),
        (
            "1",
            "hmac(sha256,a2V5)",
            "6da91fb91517be1f5cdcf3af91d7d40c717dd638a306157606fb2e584f7ae926",
        ),
        (
            "1",
            "hmac(sha256,txn.key)",
            "2fb3de6a462c54d1803f946b52202f3a8cd46548ffb3f789b4ac11a4361ffef2",
        ),
        (
            "2",
            "hmac(sha1,a2V5)",
            "311219c4a80c5ef81b1cee5505236c1d0ab1922c",
        ),
        (
            "2",
            "hmac(sha1,txn.key)",
            "c5758af565ba4b87b3db49c8b32d4a94d430cb78",
        ),
        (
            "2",
            "hmac(sha256,a2V5)",
            "ae7b3ee87b8c9214f714df1c2042c7a985b9d711e9938a063937ad1636775a88",
        ),
        (
            "2",
            "hmac(sha256,txn.key)",
            "c073191a2ebf29f510444b92c187d62199d84b58f58dceeadb91994c170a9a16",
        ),
    ];
    for (input, c, want) in cases {
        let got = run_with(s(input), &format!("{c},hex,lower"), &mut vars).unwrap();
        assert_eq!(got, s(want), "{c}");
    }
    // RFC 4231 test case 6: a key longer than the block.
    let got = run(
        s("Test Using Larger Than Block-Size Key - Hash Key First"),
        &format!("hmac(sha512,{}),hex,lower", B64.encode([0xaa; 131])),
    );
    assert_eq!(
        got.unwrap().as_str(),
        "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"
    );
    assert_eq!(run_with(s("1"), "hmac(sha1,txn.nokey)", &mut vars), None);
}

/// reg-tests/converter/secure_memcmp.vtc (both frontends).
#[test]
fn secure_memcmp_compares_binary() {
    let check = |raw: &str, hash: &str, b64_first: bool| {
        let mut vars = VarMap::new();
        if b64_first {
            vars.set("txn.hash", s(hash));
            run_with(s(raw), "sha1,base64,secure_memcmp(txn.hash)", &mut vars)
        } else {
            let h = run(s(hash), "b64dec").unwrap();
            vars.set("txn.hash", h);
            run_with(s(raw), "sha1,secure_memcmp(txn.hash)", &mut vars)
        }
    };
    for b64 in [true, false] {
        assert_eq!(
            check("1", "NWoZK3kTsExUV00Ywo1G5jlUKKs=", b64),
            Some(Value::Bool(true))
        );
        assert_eq!(
            check("2", "2kuSN7rMzfGcB2DKt67EqDWQELA=", b64),
            Some(Value::Bool(true))
        );
        assert_eq!(
            check("2", "2kuSN7rMzfGcB2DKt67EqDWQELX=", b64),
            Some(Value::Bool(false))
        );
        assert_eq!(
            check("3", "2kuSN7rMzfGcB2DKt67EqDWQELA=", b64),
            Some(Value::Bool(false))
        );
    }
    assert_eq!(
        check("6132845", "AAAAVaeL9nNcSok1j6sd40EEw8s=", false),
        Some(Value::Bool(true))
    );
    assert_eq!(
        check("49177200", "AAAA9GLglTNv2JoMv2n/w9Xadhc=", false),
        Some(Value::Bool(true))
    );
    assert_eq!(
        check("6132845", "AAAA9GLglTNv2JoMv2n/w9Xadhc=", false),
        Some(Value::Bool(false))
    );
    let mut vars = VarMap::new();
    vars.set("txn.t", s("ab"));
    assert_eq!(
        run_with(s("abc"), "secure_memcmp(txn.t)", &mut vars),
        Some(Value::Bool(false))
    );
    assert_eq!(
        run_with(s("abc"), "secure_memcmp(txn.none)", &mut vars),
        None
    );
}

// ------------------------------------------------------------ time

/// `http_date`: the header form of a date, with an offset, in seconds, ms or us.
#[test]
fn http_date_writes_header_dates() {
    let t = || Value::Int(1_405_009_430);
    assert_eq!(text(t(), "http_date"), "Thu, 10 Jul 2014 16:23:50 GMT");
    assert_eq!(
        text(t(), "http_date(3600)"),
        "Thu, 10 Jul 2014 17:23:50 GMT"
    );
    assert_eq!(
        text(Value::Int(1_405_009_430_500), "http_date(0,ms)"),
        "Thu, 10 Jul 2014 16:23:50 GMT"
    );
    assert!(crate::sample::Expr::parse("int(1),http_date(0,h)").is_err());
}

#[test]
fn utime_formats_in_utc() {
    let t = || Value::Int(1_405_009_430);
    assert_eq!(text(t(), "utime(%Y%m%d%H%M%S)"), "20140710162350");
    assert_eq!(
        text(t(), "utime(%a %A %b %B %e %j %y %C %u %w)"),
        "Thu Thursday Jul July 10 191 14 20 4 4"
    );
    assert_eq!(
        text(t(), "utime(%F %T %R %D %z %Z %s %% %q)"),
        "2014-07-10 16:23:50 16:23 07/10/14 +0000 GMT 1405009430 % %q"
    );
    assert_eq!(text(t(), "utime(%I %l %p %k)"), "04  4 PM 16");
    assert_eq!(
        text(t(), "utime(%d/%b/%Y:%H:%M:%S,3600)"),
        "10/Jul/2014:17:23:50"
    );
    assert_eq!(text(t(), "utime(%F,-86400)"), "2014-07-09");
    assert_eq!(
        text(Value::Int(0), "utime(%F %T %a)"),
        "1970-01-01 00:00:00 Thu"
    );
    assert_eq!(
        text(Value::Int(951_782_400), "utime(%F %j)"),
        "2000-02-29 060"
    );
    assert_eq!(text(s("86400"), "utime(%F)"), "1970-01-02");
    assert_eq!(text(Value::Int(0), "utime(%F,-1)"), "1969-12-31");
    // A negative date is masked positive, as HAProxy.
    assert!(run(Value::Int(-1), "utime(%Y)").is_some());
    assert!(run(Value::Int(i64::MAX), "utime(%Y,9223372036854775807)").is_some());
    assert_eq!(run(s(""), "utime(%Y)"), None);
}

#[test]
fn ltime_formats_in_local_time() {
    // Whatever the local zone, that day is in 2014.
    assert_eq!(text(Value::Int(1_405_009_430), "ltime(%Y)"), "2014");
    // The local time less the zone's offset is 16:23 UTC.
    let local = text(Value::Int(1_405_009_430), "ltime(%H %M %z)");
    let f: Vec<&str> = local.split(' ').collect();
    let (h, m, z): (i64, i64, &str) = (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2]);
    let off = z[1..3].parse::<i64>().unwrap() * 60 + z[3..5].parse::<i64>().unwrap();
    let off = if z.starts_with('-') { -off } else { off };
    assert_eq!((h * 60 + m - off).rem_euclid(1440), 16 * 60 + 23, "{local}");
}

// ------------------------------------------------------- variables

fn set_var(vars: &mut VarMap, args: &str, v: Value) -> Option<Value> {
    run_with(v, &format!("set-var({args})"), vars)
}

/// reg-tests/sample_fetches/cond_set_var.vtc.
#[test]
fn set_var_conditions() {
    let mut vars = VarMap::new();
    // ifexists: proc. variables always exist.
    assert!(set_var(&mut vars, "proc.a,ifexists", Value::Int(12)).is_some());
    assert!(set_var(&mut vars, "sess.a,ifexists", Value::Int(5)).is_none());
    assert_eq!(get(&vars, "proc.a"), Some(Value::Int(12)));
    assert_eq!(get(&vars, "sess.a"), None);
    // ifnotexists.
    assert!(set_var(&mut vars, "proc.b,ifnotexists", Value::Int(12)).is_none());
    assert!(set_var(&mut vars, "sess.b,ifnotexists", Value::Int(5)).is_some());
    assert!(set_var(&mut vars, "sess.b,ifnotexists", Value::Int(6)).is_none());
    assert_eq!(get(&vars, "sess.b"), Some(Value::Int(5)));
    // ifempty: scalars are never empty.
    vars.set("res.e", s("ifempty_res"));
    vars.set("res.ei", Value::Int(5));
    assert!(set_var(&mut vars, "res.e,ifempty", Value::Bin(b"toto".to_vec())).is_none());
    assert!(set_var(&mut vars, "res.ei,ifempty", s("toto")).is_none());
    assert!(set_var(&mut vars, "res.e,ifempty", s("")).is_some());
    assert!(set_var(&mut vars, "res.ei,ifempty", Value::Int(7)).is_none());
    assert_eq!(get(&vars, "res.e"), Some(s("")));
    assert_eq!(get(&vars, "res.ei"), Some(Value::Int(5)));
    // ifnotempty.
    assert!(set_var(&mut vars, "res.ne,ifnotempty", s("tata")).is_some());
    assert!(set_var(&mut vars, "res.ne,ifnotempty", s("")).is_none());
    assert!(set_var(&mut vars, "res.nei,ifnotempty", Value::Int(7)).is_some());
    assert_eq!(get(&vars, "res.ne"), Some(s("tata")));
    // ifset / ifnotset, around unset-var.
    vars.set("res.s", s("ifset_res"));
    assert!(set_var(&mut vars, "res.s,ifset", Value::Int(123)).is_some());
    assert!(set_var(&mut vars, "res.s,ifnotset", s("azerty")).is_none());
    assert_eq!(
        run_with(s("x"), "unset-var(res.s)", &mut vars),
        Some(s("x"))
    );
    assert_eq!(get(&vars, "res.s"), None);
    assert!(set_var(&mut vars, "res.s,ifset", Value::Int(1)).is_none());
    assert!(set_var(&mut vars, "res.s,ifnotset", s("azerty")).is_some());
    assert_eq!(get(&vars, "res.s"), Some(s("azerty")));
    // ifgt / iflt: only between integers.
    vars.set("res.g1", s("ifgt_res"));
    vars.set("res.g2", Value::Int(5));
    vars.set("res.gi1", Value::Int(5));
    vars.set("res.gi2", Value::Int(5));
    assert!(set_var(&mut vars, "res.g1,ifgt", Value::Int(55)).is_some());
    assert!(set_var(&mut vars, "res.g2,ifgt", s("text")).is_some());
    assert!(set_var(&mut vars, "res.gi1,ifgt", Value::Int(55)).is_none());
    assert!(set_var(&mut vars, "res.gi2,ifgt", Value::Int(2)).is_some());
    assert_eq!(get(&vars, "res.gi1"), Some(Value::Int(5)));
    assert_eq!(get(&vars, "res.gi2"), Some(Value::Int(2)));
    vars.set("res.li1", Value::Int(5));
    vars.set("res.li2", Value::Int(5));
    assert!(set_var(&mut vars, "res.li1,iflt", Value::Int(55)).is_some());
    assert!(set_var(&mut vars, "res.li2,iflt", Value::Int(2)).is_none());
    assert_eq!(get(&vars, "res.li1"), Some(Value::Int(55)));
    // Combined.
    vars.set("res.c", Value::Int(5));
    assert!(set_var(&mut vars, "proc.c,ifnotset,ifnotempty", s("toto")).is_some());
    assert!(set_var(&mut vars, "res.c,ifset,iflt", Value::Int(55)).is_some());
    assert_eq!(get(&vars, "res.c"), Some(Value::Int(55)));
    // The converter passes its input on: X-Cust,set-var(...),length.
    let r = run_with(
        s("foobar"),
        "set-var(sess.x_cust,ifnotempty,ifnotset),length",
        &mut vars,
    );
    assert_eq!(r, Some(Value::Int(6)));
    assert_eq!(get(&vars, "sess.x_cust"), Some(s("foobar")));
    assert_eq!(
        run_with(Value::Int(67), "set-var(proc.req_len,ifexists)", &mut vars),
        Some(Value::Int(67))
    );
}

#[test]
fn debug_passes_the_sample_on() {
    for v in [
        s("a\x01"),
        Value::Int(3),
        Value::Bin(vec![0, 1]),
        Value::Bool(true),
    ] {
        assert_eq!(run(v.clone(), "debug"), Some(v.clone()));
        assert_eq!(run(v.clone(), "debug(track,stderr)"), Some(v));
    }
}

// ------------------------------------------------------------ maps

/// reg-tests/http-rules/map_regm_with_backref.vtc and
/// converters_ipmask_concat_strcmp_field_word.vtc.
#[test]
fn map_regm_substitutes_groups() {
    let f = map_file("^(.*)\\.(.*)$ \\1_AND_\\2\n");
    let c = map_conv("map_regm", &f, Some("unknown"));
    assert_eq!(apply(&c, s("example.org")), Some(s("example_AND_org")));
    assert_eq!(
        apply(&c, s("www.example.org")),
        Some(s("www.example_AND_org"))
    );
    assert_eq!(apply(&c, s("localhost")), Some(s("unknown")));
    let f = map_file("^(.+)_(.+)$ \\2_\\1\n");
    let c = map_conv("map_regm", &f, None);
    assert_eq!(apply(&c, s("Yes_It")), Some(s("It_Yes")));
    assert_eq!(apply(&c, s("Yes")), None);
}

/// reg-tests/http-rules/map_redirect.vtc.
#[test]
fn map_str_and_map_dom_as_in_map_redirect() {
    let f = map_file(
        "# These entries are used for http-request redirect rules\n\
         example.org https://www.example.org\n\
         subdomain.example.org https://www.subdomain.example.org\n\
         \n\
         /path/to/old/file  /path/to/new/file\n",
    );
    let c = map_conv("map_str", &f, None);
    assert_eq!(
        apply(&c, s("/path/to/old/file")),
        Some(s("/path/to/new/file"))
    );
    assert_eq!(
        apply(&c, s("example.org")),
        Some(s("https://www.example.org"))
    );
    assert_eq!(apply(&c, s("www.subdomain.example.org")), None);
    assert_eq!(c, map_conv("map", &f, None));
    let mut vars = VarMap::new();
    let host = run_with(s("Example.org:8443"), r"lower,regsub(:\d+$,,)", &mut vars).unwrap();
    assert_eq!(c.apply(host, &mut vars), Some(s("https://www.example.org")));

    let be = map_file(
        "# These entries are used for use_backend rules\n\
         test1.example.com\ttest1_be\n\
         test1.example.invalid\ttest1_be\n\
         test2.example.com\ttest2_be\n",
    );
    let dom = map_conv("map_dom", &be, None);
    assert_eq!(apply(&dom, s("test1.example.com")), Some(s("test1_be")));
    assert_eq!(apply(&dom, s("test2.example.com")), Some(s("test2_be")));
    assert_eq!(
        apply(&dom, s("www.test2.example.com:80")),
        Some(s("test2_be"))
    );
    assert_eq!(apply(&dom, s("test3.example.com")), None);
    let dflt = map_conv("map_dom", &be, Some("test3_be"));
    assert_eq!(apply(&dflt, s("test3.example.com")), Some(s("test3_be")));
}

#[test]
fn map_matches_by_kind() {
    let f = map_file("/api v_api\n/api/v2 v_api2\n/ v_root\nadmin v_admin\n.jpg v_jpg\n");
    let beg = map_conv("map_beg", &f, None);
    assert_eq!(apply(&beg, s("/api/v2/x")), Some(s("v_api2")));
    assert_eq!(apply(&beg, s("/apix")), Some(s("v_api")));
    assert_eq!(apply(&beg, s("/other")), Some(s("v_root")));
    assert_eq!(apply(&beg, s("nothing")), None);
    let sub = map_conv("map_sub", &f, None);
    // The first key found in file order, not the longest.
    assert_eq!(apply(&sub, s("/x/admin/y")), Some(s("v_root")));
    assert_eq!(apply(&sub, s("xadminy")), Some(s("v_admin")));
    assert_eq!(apply(&sub, s("/x/api/v2")), Some(s("v_api")));
    let end = map_conv("map_end", &f, None);
    assert_eq!(apply(&end, s("/img/a.jpg")), Some(s("v_jpg")));
    assert_eq!(apply(&end, s("/img/a.png")), None);
    let dir = map_conv("map_dir", &f, None);
    assert_eq!(apply(&dir, s("/x/admin/y")), Some(s("v_admin")));
    assert_eq!(apply(&dir, s("/x/administrator")), None);
    assert_eq!(apply(&dir, s("/v1/api?x=1")), Some(s("v_api")));
    let reg = map_file("^/img/.*\\.(png|jpg)$ images\n^/ other\n");
    let reg = map_conv("map_reg", &reg, None);
    assert_eq!(apply(&reg, s("/img/a.png")), Some(s("images")));
    assert_eq!(apply(&reg, s("/a.png")), Some(s("other")));
    assert_eq!(apply(&reg, s("a.png")), None);
    // Keys must match exactly with `str`; the first of equal keys wins.
    let dup = map_file("k first\nk second\nK other\n");
    let c = map_conv("map_str", &dup, None);
    assert_eq!(apply(&c, s("k")), Some(s("first")));
    assert_eq!(apply(&c, s("K")), Some(s("other")));
    assert_eq!(apply(&c, s("k ")), None);
}

#[test]
fn map_ip_takes_the_longest_network() {
    let f = map_file(
        "  # networks\n\
         10.0.0.0/8 ten\n\
         10.1.0.0/16 ten-one\n\
         10.1.2.3 host\n\
         2.22.246.0/23    United Kingdom   \n\
         192.168.0.0/255.255.0.0 lan\n\
         2001:db8::/32 doc6\n\
         ::ffff:172.16.0.0/108 mapped\n\
         0.0.0.0/0 default\n",
    );
    let c = map_conv("map_ip", &f, None);
    let ip = |a: &str| Value::Ip(a.parse().unwrap());
    assert_eq!(apply(&c, ip("10.1.2.3")), Some(s("host")));
    assert_eq!(apply(&c, ip("10.1.9.9")), Some(s("ten-one")));
    assert_eq!(apply(&c, ip("10.2.0.1")), Some(s("ten")));
    assert_eq!(apply(&c, ip("2.22.247.1")), Some(s("United Kingdom")));
    assert_eq!(apply(&c, ip("192.168.3.4")), Some(s("lan")));
    assert_eq!(apply(&c, ip("8.8.8.8")), Some(s("default")));
    // IPv4 networks first, then IPv6 ones by the mapped address.
    assert_eq!(apply(&c, ip("172.16.1.1")), Some(s("default")));
    assert_eq!(apply(&c, ip("::ffff:10.1.2.3")), Some(s("host")));
    assert_eq!(apply(&c, ip("2001:db8:1::1")), Some(s("doc6")));
    assert_eq!(apply(&c, ip("2002:a01:203::1")), Some(s("host")));
    assert_eq!(apply(&c, ip("2001:db9::1")), None);
    assert_eq!(apply(&c, s("10.1.2.3")), Some(s("host")));
    assert_eq!(apply(&c, s("not an address")), None);
    let odd = map_file("10.0.0.5/255.0.0.255 odd\n::ffff:172.16.0.0/108 mapped\n");
    let c = map_conv("map_ip_int", &map_file("10.0.0.0/8 8\n"), Some("0"));
    assert_eq!(apply(&c, ip("10.9.9.9")), Some(Value::Int(8)));
    assert_eq!(apply(&c, ip("11.9.9.9")), Some(Value::Int(0)));
    let c = map_conv("map_ip", &odd, None);
    assert_eq!(apply(&c, ip("10.7.7.5")), Some(s("odd")));
    assert_eq!(apply(&c, ip("10.7.7.6")), None);
    assert_eq!(apply(&c, ip("172.16.1.1")), Some(s("mapped")));
}

#[test]
fn map_int_and_typed_outputs() {
    let f = map_file("1 one\n10:19 teens\n:-1 negative\n100: big\n");
    let c = map_conv("map_int", &f, Some("other"));
    assert_eq!(apply(&c, Value::Int(1)), Some(s("one")));
    assert_eq!(apply(&c, Value::Int(15)), Some(s("teens")));
    assert_eq!(apply(&c, s("-5")), Some(s("negative")));
    assert_eq!(apply(&c, Value::Int(1000)), Some(s("big")));
    assert_eq!(apply(&c, Value::Int(50)), Some(s("other")));
    assert_eq!(apply(&c, s("")), None);
    let f = map_file("a 1\nb -20\nc\n");
    let c = map_conv("map_str_int", &f, Some("7"));
    assert_eq!(apply(&c, s("a")), Some(Value::Int(1)));
    assert_eq!(apply(&c, s("b")), Some(Value::Int(-20)));
    assert_eq!(apply(&c, s("c")), Some(Value::Int(0)));
    assert_eq!(apply(&c, s("d")), Some(Value::Int(7)));
    let f = map_file("web 10.0.0.1\ndb 2001:db8::5\n");
    let c = map_conv("map_str_ip", &f, Some("127.0.0.1"));
    assert_eq!(
        apply(&c, s("db")),
        Some(Value::Ip("2001:db8::5".parse().unwrap()))
    );
    assert_eq!(
        apply(&c, s("x")),
        Some(Value::Ip("127.0.0.1".parse().unwrap()))
    );
    let f = map_file("10.0.0.0/8 10.0.0.1\n");
    let c = map_conv("map_ip_ip", &f, None);
    assert_eq!(
        text_of(&c, Value::Ip("10.3.3.3".parse().unwrap())),
        "10.0.0.1"
    );
    let c = map_conv("map_int_ip", &map_file("5 1.2.3.4\n"), None);
    assert_eq!(text_of(&c, s("5")), "1.2.3.4");
    let c = map_conv("map_beg_int", &map_file("/a 1\n"), None);
    assert_eq!(apply(&c, s("/ab")), Some(Value::Int(1)));
}

fn text_of(c: &Conv, v: Value) -> String {
    apply(c, v).map_or("<none>".into(), |v| v.as_str().into_owned())
}

#[test]
fn map_files_are_checked_when_read() {
    let e = Conv::parse("map_str", &["/nonexistent/halo.map".into()]).unwrap_err();
    assert!(
        e.contains("/nonexistent/halo.map") && e.contains("map_str"),
        "{e}"
    );
    let bad_int = map_file("a 1\nb two\n");
    let e = Conv::parse("map_str_int", &[bad_int.path().to_str().unwrap().into()]).unwrap_err();
    assert!(e.contains("line 2") && e.contains("two"), "{e}");
    let bad_ip = map_file("10.0.0.300 x\n");
    let e = Conv::parse("map_ip", &[bad_ip.path().to_str().unwrap().into()]).unwrap_err();
    assert!(e.contains("line 1") && e.contains("10.0.0.300"), "{e}");
    let bad_re = map_file("(unclosed x\n");
    let e = Conv::parse("map_reg", &[bad_re.path().to_str().unwrap().into()]).unwrap_err();
    assert!(e.contains("line 1"), "{e}");
    let bad_range = map_file("1:x y\n");
    assert!(Conv::parse("map_int", &[bad_range.path().to_str().unwrap().into()]).is_err());
    let ok = map_file("a 1\n");
    let p = ok.path().to_str().unwrap().to_string();
    let e = Conv::parse("map_str_int", &[p.clone(), "x".into()]).unwrap_err();
    assert!(e.contains("default"), "{e}");
    assert!(Conv::parse("map_str_ip", &[p.clone(), "nope".into()]).is_err());
    assert!(Conv::parse("map", &[]).is_err());
    assert!(Conv::parse("map", &[p.clone(), "a".into(), "b".into()]).is_err());
    assert!(Conv::parse("map_regm_int", std::slice::from_ref(&p))
        .unwrap_err()
        .contains("not supported"));
    assert!(Conv::parse("map_foo", std::slice::from_ref(&p))
        .unwrap_err()
        .contains("not supported"));
    assert!(Conv::parse("map_str_str", &[p]).is_err());
    let MapConv { file, .. } = match map_conv("map", &ok, None) {
        Conv::Map(m) => *m,
        o => panic!("{o:?}"),
    };
    assert_eq!(file, ok.path().to_str().unwrap());
}

// ---------------------------------------------------- configuration

#[test]
fn bad_arguments_are_refused_with_the_converter_named() {
    let cases = [
        ("lower(x)", "lower"),
        ("field(0,_)", "index 0"),
        ("field(1,)", "delimiters"),
        ("field(x,_)", "index"),
        ("word(1)", "word"),
        ("field(1,_,x)", "count"),
        ("concat()", "concat"),
        ("concat(a,nope,b)", "nope"),
        ("add_item(',')", "add_item"),
        ("add_item(',',,)", "variable or a suffix"),
        ("strcmp()", "strcmp"),
        ("strcmp(foo)", "scope"),
        ("regsub('(',x)", "regular expression"),
        ("regsub(a,b,x)", "flag"),
        (r"regsub(a,'b\\')", "lone"),
        ("iif(a)", "iif"),
        ("json(utf16)", "utf16"),
        ("json_query()", "json_query"),
        ("json_query(a.b)", "$"),
        ("json_query($.a,str)", "int"),
        ("url_enc(path)", "query"),
        ("url_dec(x)", "in_form"),
        ("bytes()", "bytes"),
        ("bytes(-1)", "negative"),
        ("bytes(1,-1)", "negative"),
        ("be2dec(:)", "be2dec"),
        ("be2dec(:,9)", "chunk size"),
        ("be2dec(:,0)", "chunk size"),
        ("be2dec(:,2,2)", "truncate"),
        ("be2hex(:)", "chunk size"),
        ("be2hex(,,1)", "chunk size"),
        ("add()", "add"),
        ("add(abc)", "abc"),
        ("sub(1,2)", "sub"),
        ("div(foo.bar)", "scope"),
        ("neg(1)", "neg"),
        ("ipmask()", "ipmask"),
        ("ipmask(33)", "33"),
        ("ipmask(24,129)", "129"),
        ("ipmask(1.2.3)", "1.2.3"),
        ("crc32(x)", "avalanche"),
        ("sha2(128)", "128"),
        ("digest(md5)", "md5"),
        ("digest()", "digest"),
        ("hmac(sha256)", "hmac"),
        ("hmac(md5,a2V5)", "md5"),
        ("hmac(sha256,!!)", "base64"),
        ("secure_memcmp()", "secure_memcmp"),
        ("ltime()", "ltime"),
        ("utime(%Y,x)", "offset"),
        ("set-var()", "set-var"),
        ("set-var(x)", "scope"),
        ("set-var(txn.x,ifsomething)", "ifsomething"),
        ("set-var(txn.x,ifset,ifset,ifset,ifset,ifset)", "set-var"),
        ("unset-var(bad.x)", "scope"),
        ("debug(a,b,c)", "debug"),
    ];
    for (text, want) in cases {
        let e = parse_err(text);
        let name = text.split('(').next().unwrap();
        assert!(e.contains(&format!("`{name}`")), "{text}: {e}");
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn unsupported_converters_are_refused_with_the_list() {
    for name in [
        "crc32c",
        "xxh32",
        "mqtt_is_valid",
        "protobuf",
        "fix_is_valid",
        "cut_crlf",
        "language",
        "aes_gcm_dec",
        "nosuch",
    ] {
        let e = Conv::parse(name, &[]).unwrap_err();
        assert!(
            e.contains(&format!("`{name}` is not supported")) && e.contains(CONVERTERS),
            "{e}"
        );
    }
    for listed in CONVERTERS.split(", ").filter(|n| !n.contains('<')) {
        let e = Conv::parse(listed, &[]).err().unwrap_or_default();
        assert!(
            !e.contains("is not supported"),
            "{listed} is listed but refused: {e}"
        );
    }
}

#[test]
fn converters_compare_by_their_arguments() {
    assert_eq!(chain("regsub(a+,b,g)"), chain("regsub(a+,b,g)"));
    assert_ne!(chain("regsub(a+,b,g)"), chain("regsub(a+,b,gi)"));
    assert_ne!(chain("field(1,_)"), chain("field(2,_)"));
    let c = chain("hmac(sha256,a2V5)");
    assert!(!format!("{c:?}").contains("107"), "{c:?}");
}

/// Every converter on odd inputs: no panic.
#[test]
fn no_input_makes_a_converter_panic() {
    let f = map_file("a b\n");
    let p = f.path().to_str().unwrap();
    let ip_map = map_file("10.0.0.0/8 x\n");
    let ip_p = ip_map.path().to_str().unwrap();
    let int_map = map_file("1:2 x\n");
    let int_p = int_map.path().to_str().unwrap();
    let all = format!(
        "lower,upper,length,ltrim(a),rtrim(a),field(2,_),field(-2,_,0),word(-9,_),concat(a,txn.x,b),\
         add_item(-,txn.x,s),strcmp(txn.x),regsub(x*,-,g),iif(a,b),json,json(utf8ps),json_query($.a[3]),\
         url_dec(1),url_enc,hex,hex2i,base64,b64dec,ub64enc,ub64dec,bytes(3,2),be2dec(:,8,1),be2hex(:,3),\
         add(txn.x),sub(-9223372036854775808),mul(txn.x),div(0),mod(txn.x),and(1),or(1),xor(1),neg,cpl,not,\
         bool,odd,even,ipmask(8,64),crc32(1),djb2,sdbm(1),wt6,sha1,sha2(512),digest(sha384),hmac(sha1,txn.x),\
         secure_memcmp(txn.x),ltime(%c%Y%%%),utime(%s%z%Z,-9223372036854775808),set-var(txn.y,ifgt),\
         unset-var(txn.z),debug,map({p},d),map_ip({ip_p}),map_int({int_p}),map_dom({p}),map_reg({p})"
    );
    let convs = chain(&all);
    let inputs = [
        s(""),
        s("_"),
        s("%"),
        s("%4"),
        s("-9223372036854775808"),
        s("99999999999999999999999"),
        s("é😀\u{0}x"),
        Value::Bin(vec![]),
        Value::Bin(vec![
            0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80,
        ]),
        Value::Int(i64::MIN),
        Value::Int(i64::MAX),
        Value::Int(-1),
        Value::Bool(false),
        Value::Ip("::".parse().unwrap()),
        Value::Ip("255.255.255.255".parse().unwrap()),
    ];
    let var_values = [
        s(""),
        s("_"),
        Value::Int(i64::MIN),
        Value::Int(0),
        Value::Bin(vec![0xff]),
    ];
    for xv in &var_values {
        for input in &inputs {
            for c in &convs {
                let mut vars = VarMap::new();
                vars.set("txn.x", xv.clone());
                let _ = c.apply(input.clone(), &mut vars);
            }
        }
    }
}
