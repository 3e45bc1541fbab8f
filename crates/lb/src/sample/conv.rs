//! Sample converters (`lower`, `field(2,/)`, `regsub(...)`, `map_str(...)`, ...): parsed
//! with the configuration (arguments checked, regular expressions compiled, map files
//! read), applied to a [`Value`] per request, as HAProxy 2.6 does.
//!
//! Each converter takes its input the way HAProxy casts a sample to the type the
//! converter expects:
//!
//! * **string** converters take text as its bytes, binary up to its first NUL byte,
//!   integers and booleans in decimal, addresses in their usual form;
//! * **binary** converters (`hex`, `base64`, hashes, digests, `bytes`, `be2*`) take text
//!   and binary as their bytes, integers as 8 big-endian bytes, addresses as their 4 or
//!   16 bytes;
//! * **integer** converters take text by its leading decimal number (an empty text has
//!   none, a text without digits is 0), booleans as 0 or 1, an IPv4 address as its 32-bit
//!   number;
//! * **address** converters take addresses, text that is one, integers as IPv4.
//!
//! A converter that cannot work on its input gives no value ([`Conv::apply`] returns
//! `None`), as HAProxy then has no sample. Text a converter produces that is not UTF-8
//! is kept as binary.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use super::{check_var_name, Value, Vars};

/// A converter with its arguments, checked when the configuration is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Conv {
    /// `table_*(TABLE)`, `in_table(TABLE)`: the input as a key of a stick table.
    Table {
        ask: super::stick::Ask,
        table: String,
    },
    // ---------------------------------------------------------------- text
    /// `lower`: ASCII letters to lower case.
    Lower,
    /// `upper`: ASCII letters to upper case.
    Upper,
    /// `length`: the length of the string in bytes.
    Length,
    /// `ltrim(CHARS)`: drops these characters from the start.
    Ltrim(Vec<u8>),
    /// `rtrim(CHARS)`: drops these characters from the end.
    Rtrim(Vec<u8>),
    /// `field(INDEX,DELIMITERS[,COUNT])`: fields between any of the delimiters, from the
    /// start (1, 2...) or the end (-1, -2...); COUNT fields (0: all the rest). No value
    /// when there is no such field.
    Field {
        index: i64,
        delims: Vec<u8>,
        count: i64,
    },
    /// `word(INDEX,DELIMITERS[,COUNT])`: like `field`, runs of delimiters counting as
    /// one; empty when there is no such word.
    Word {
        index: i64,
        delims: Vec<u8>,
        count: i64,
    },
    /// `concat([START][,VAR][,END])`: appends START, the variable (if set) and END.
    Concat {
        start: String,
        var: Option<String>,
        end: String,
    },
    /// `add_item(DELIM[,VAR[,SUFFIX]])`: appends DELIM (only after a non-empty input and
    /// before something non-empty), the variable (if set) and SUFFIX.
    AddItem {
        delim: String,
        var: Option<String>,
        suffix: String,
    },
    /// `strcmp(VAR)`: compares with the variable as `strcmp(3)` (-1, 0, 1).
    Strcmp(String),
    /// `regsub(REGEX,SUBST[,FLAGS])`: replaces the first match (every match with `g`;
    /// `i` ignores case); `\1`..`\9` in SUBST are the groups, `\0` the match.
    Regsub {
        re: Regex,
        subst: Subst,
        global: bool,
    },
    /// `iif(TRUE,FALSE)`: one of two strings, by the input as a boolean.
    Iif(String, String),
    /// `json([INPUT_CODE])`: escapes the string for a JSON string (ASCII output).
    Json(JsonInput),
    /// `json_query(PATH[,int])`: a string, number or boolean found in a JSON document
    /// (`$.a.b`, `$.list[2]`, `$.my\.key`); numbers as text unless `int` is asked.
    JsonQuery { path: Vec<JsonStep>, int: bool },
    /// `url_dec([IN_FORM])`: decodes `%XX`; `+` is a space in a query (after `?`), or
    /// everywhere with IN_FORM non-zero. No value on a bad `%` sequence.
    UrlDec(bool),
    /// `url_enc([query])`: encodes all but RFC 3986's unreserved characters.
    UrlEnc,

    // ---------------------------------------------------- binary and encodings
    /// `hex`: binary to upper-case hexadecimal.
    Hex,
    /// `hex2i`: hexadecimal text to an integer; no value if not hexadecimal.
    Hex2i,
    /// `base64`: binary to base64.
    Base64,
    /// `b64dec`: base64 (padded) to binary; no value if invalid.
    B64dec,
    /// `ub64enc`: binary to base64url without padding.
    Ub64enc,
    /// `ub64dec`: base64url (without padding) to binary; no value if invalid.
    Ub64dec,
    /// `bytes(OFFSET[,LENGTH])`: a slice of the binary input.
    Bytes {
        offset: usize,
        length: Option<usize>,
    },
    /// `be2dec(SEPARATOR,CHUNK_SIZE[,TRUNCATE])`: each CHUNK_SIZE bytes (1 to 8) as an
    /// unsigned big-endian number in decimal; TRUNCATE drops a last partial chunk.
    Be2dec {
        sep: String,
        chunk: usize,
        truncate: bool,
    },
    /// `be2hex([SEPARATOR[,CHUNK_SIZE[,TRUNCATE]]])`: hexadecimal, SEPARATOR every
    /// CHUNK_SIZE bytes.
    Be2hex {
        sep: String,
        chunk: usize,
        truncate: bool,
    },

    // ----------------------------------------------------------- integers
    /// `add`, `sub`, `mul`, `div`, `mod`, `and`, `or`, `xor` with an integer or a
    /// variable; results saturate instead of wrapping (`div` by 0 is the largest
    /// integer, `mod` by 0 is 0).
    Arith(Arith, Operand),
    /// `neg`: the opposite (the smallest integer gives the largest).
    Neg,
    /// `cpl`: all bits flipped.
    Cpl,
    /// `not`: true if zero.
    Not,
    /// `bool`: true if non-zero.
    Bool,
    /// `odd`: true if odd.
    Odd,
    /// `even`: true if even.
    Even,

    // ---------------------------------------------------------- addresses
    /// `ipmask(MASK4[,MASK6])`: the address masked; an IPv6 address without MASK6 gives
    /// no value.
    Ipmask { v4: Ipv4Addr, v6: Option<Ipv6Addr> },

    // ------------------------------------------------- hashes and digests
    /// `crc32`, `djb2`, `sdbm`, `wt6` (`[AVALANCHE]`): 32-bit hashes of the binary input.
    Hash { func: HashFn, avalanche: bool },
    /// `sha1`, `sha2([BITS])`, `digest(ALGORITHM)`: a binary digest.
    Digest(DigestAlg),
    /// `hmac(ALGORITHM,KEY)`: a binary HMAC; KEY is base64 or a variable holding base64.
    Hmac { alg: DigestAlg, key: HmacKey },
    /// `secure_memcmp(VAR)`: whether the input equals the variable, as binary, in
    /// constant time when the lengths are equal.
    SecureMemcmp(String),

    // --------------------------------------------------------------- time
    /// `ltime(FORMAT[,OFFSET])` (local time) and `utime(...)` (UTC): a date in seconds
    /// since the epoch, formatted as `strftime(3)` does.
    Time {
        format: String,
        offset: i64,
        utc: bool,
    },
    /// `http_date([OFFSET[,UNIT]])`: a date since the epoch (in UNIT: s, ms or us) as
    /// an HTTP header writes it (`Tue, 07 Dec 2026 18:00:00 GMT`).
    HttpDate { offset: i64, per_second: i64 },

    // ---------------------------------------------------------- variables
    /// `set-var(NAME[,CONDITION...])`: stores the input and passes it on if every
    /// condition holds; no value otherwise.
    SetVar { name: String, conds: Vec<VarCond> },
    /// `unset-var(NAME)`: removes the variable and passes the input on.
    UnsetVar(String),

    // --------------------------------------------------------------- maps
    /// `map(FILE[,DEFAULT])`, `map_<match>[_<output>](FILE[,DEFAULT])`: the value of the
    /// first matching key of a map file read with the configuration.
    Map(Box<MapConv>),

    // -------------------------------------------------------------- debug
    /// `debug([PREFIX][,DESTINATION])`: logs the sample (tracing, debug level) and
    /// passes it on.
    Debug(String),
}

/// The converters halo applies, for messages.
pub const CONVERTERS: &str = "lower, upper, length, ltrim, rtrim, field, word, concat, \
add_item, strcmp, regsub, iif, json, json_query, url_dec, url_enc, hex, hex2i, base64, \
b64dec, ub64enc, ub64dec, bytes, be2dec, be2hex, add, sub, mul, div, mod, and, or, xor, neg, \
cpl, not, bool, odd, even, ipmask, crc32, djb2, sdbm, wt6, sha1, sha2, digest, hmac, \
secure_memcmp, ltime, utime, http_date, set-var, unset-var, debug, map, \
map_<str|beg|sub|dir|dom|end|reg|regm|int|ip>, map_<str|beg|sub|dir|dom|end|reg|int|ip>_<int|ip>, table_<data>, in_table";

/// The operation of [`Conv::Arith`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
}

/// The second operand of [`Conv::Arith`]: a constant or a variable read per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Int(i64),
    Var(String),
}

/// How `json` reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonInput {
    /// Bytes as Latin-1 (never fails).
    Ascii,
    /// UTF-8; any error gives no value.
    Utf8,
    /// UTF-8; characters in error are dropped.
    Utf8s,
    /// UTF-8, overlong forms accepted; other errors give no value.
    Utf8p,
    /// UTF-8, overlong forms accepted; other characters in error are dropped.
    Utf8ps,
}

/// A step of a `json_query` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonStep {
    Key(String),
    Index(usize),
}

/// A 32-bit hash of [`Conv::Hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFn {
    Crc32,
    Djb2,
    Sdbm,
    Wt6,
}

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlg {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// The key of `hmac`: decoded bytes, or a variable holding base64.
#[derive(Clone, PartialEq, Eq)]
pub enum HmacKey {
    Bytes(Vec<u8>),
    Var(String),
}

/// Keys are secrets: not shown.
impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HmacKey::Bytes(k) => write!(f, "HmacKey(<{} bytes>)", k.len()),
            HmacKey::Var(v) => write!(f, "HmacKey(var {v})"),
        }
    }
}

/// A condition of `set-var`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarCond {
    IfExists,
    IfNotExists,
    IfEmpty,
    IfNotEmpty,
    IfSet,
    IfNotSet,
    IfGt,
    IfLt,
}

/// A compiled regular expression (on bytes), equal to another by its text and flags.
#[derive(Clone)]
pub struct Regex {
    text: String,
    icase: bool,
    re: regex::bytes::Regex,
}

impl Regex {
    /// Compiles `text`; `icase` ignores case.
    pub fn new(text: &str, icase: bool) -> Result<Regex, String> {
        let re = regex::bytes::RegexBuilder::new(text)
            .case_insensitive(icase)
            .build()
            .map_err(|e| {
                format!(
                    "`{text}` is not a valid regular expression: {}",
                    e.to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })?;
        Ok(Regex {
            text: text.to_string(),
            icase,
            re,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Regex {
    fn eq(&self, o: &Regex) -> bool {
        self.text == o.text && self.icase == o.icase
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Regex({:?}{})",
            self.text,
            if self.icase { ", i" } else { "" }
        )
    }
}

/// A substitution (`regsub`, `map_regm` values): text with `\0`..`\9` (groups),
/// `\xHH` (a byte) and `\c` (the character c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subst(Vec<SubstPart>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum SubstPart {
    Lit(Vec<u8>),
    Group(usize),
}

impl Subst {
    pub fn parse(s: &str) -> Result<Subst, String> {
        let b = s.as_bytes();
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'\\' {
                lit.push(b[i]);
                i += 1;
                continue;
            }
            match b.get(i + 1) {
                None => return Err(format!("`{s}` ends with a lone `\\`")),
                Some(d) if d.is_ascii_digit() => {
                    if !lit.is_empty() {
                        parts.push(SubstPart::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(SubstPart::Group(usize::from(d - b'0')));
                    i += 2;
                }
                Some(b'x') => {
                    let byte = b
                        .get(i + 2..i + 4)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| format!("`{s}`: `\\x` needs two hexadecimal digits"))?;
                    lit.push(byte);
                    i += 4;
                }
                Some(&c) => {
                    lit.push(c);
                    i += 2;
                }
            }
        }
        if !lit.is_empty() {
            parts.push(SubstPart::Lit(lit));
        }
        Ok(Subst(parts))
    }

    fn expand(&self, caps: &regex::bytes::Captures<'_>, out: &mut Vec<u8>) {
        for p in &self.0 {
            match p {
                SubstPart::Lit(l) => out.extend_from_slice(l),
                SubstPart::Group(n) => {
                    if let Some(m) = caps.get(*n) {
                        out.extend_from_slice(m.as_bytes());
                    }
                }
            }
        }
    }
}

/// Checks the number of arguments and reads them.
struct Args<'a> {
    name: &'a str,
    args: &'a [String],
}

impl<'a> Args<'a> {
    fn err(&self, msg: impl fmt::Display) -> String {
        format!("converter `{}`: {msg}", self.name)
    }

    /// Between `min` and `max` arguments; `usage` shows them.
    fn count(&self, min: usize, max: usize, usage: &str) -> Result<(), String> {
        let n = self.args.len();
        if n < min || n > max {
            let what = match (min, max) {
                (0, 0) => "takes no argument".to_string(),
                (a, b) if a == b => format!("takes {a} argument{}", if a > 1 { "s" } else { "" }),
                (a, b) => format!("takes {a} to {b} arguments"),
            };
            return Err(self.err(format!("{what} ({usage}), not {n}")));
        }
        Ok(())
    }

    /// Argument `i` as given, "" when absent.
    fn text(&self, i: usize) -> &'a str {
        self.args.get(i).map_or("", String::as_str)
    }

    /// Argument `i` as an integer; `None` when absent or empty.
    fn int(&self, i: usize, what: &str) -> Result<Option<i64>, String> {
        match self.text(i).trim() {
            "" => Ok(None),
            t => t
                .parse()
                .map(Some)
                .map_err(|_| self.err(format!("{what} `{t}` is not an integer"))),
        }
    }

    /// Argument `i` as a variable name; `None` when absent or empty.
    fn var(&self, i: usize) -> Result<Option<String>, String> {
        match self.text(i) {
            "" => Ok(None),
            t => {
                check_var_name(t).map_err(|e| self.err(e))?;
                Ok(Some(t.to_string()))
            }
        }
    }

    /// Argument `i`, a variable name that must be there.
    fn required_var(&self, i: usize) -> Result<String, String> {
        self.var(i)?
            .ok_or_else(|| self.err("needs a variable name"))
    }

    /// Argument `i` as a flag given as 0 or 1 (anything non-zero is 1).
    fn flag(&self, i: usize, what: &str) -> Result<bool, String> {
        Ok(self.int(i, what)?.unwrap_or(0) != 0)
    }
}

impl Conv {
    /// Parses converter `name` with its arguments (already split and unquoted). Map
    /// files are read here.
    pub fn parse(name: &str, args: &[String]) -> Result<Conv, String> {
        let a = Args { name, args };
        let none = |c: Conv| a.count(0, 0, name).map(|_| c);
        Ok(match name {
            // Text.
            "lower" => none(Conv::Lower)?,
            "upper" => none(Conv::Upper)?,
            "length" => none(Conv::Length)?,
            "ltrim" | "rtrim" => {
                a.count(1, 1, &format!("{name}(CHARS)"))?;
                let chars = a.text(0).as_bytes().to_vec();
                if name == "ltrim" {
                    Conv::Ltrim(chars)
                } else {
                    Conv::Rtrim(chars)
                }
            }
            "field" | "word" => {
                a.count(2, 3, &format!("{name}(INDEX,DELIMITERS[,COUNT])"))?;
                let index = a.int(0, "index")?.ok_or_else(|| a.err("needs an index"))?;
                if index == 0 {
                    return Err(a.err("index 0: indexes count from 1 (or from -1 at the end)"));
                }
                let delims = a.text(1).as_bytes().to_vec();
                if delims.is_empty() {
                    return Err(a.err("the list of delimiters is empty"));
                }
                let count = a.int(2, "count")?.unwrap_or(1);
                if name == "field" {
                    Conv::Field {
                        index,
                        delims,
                        count,
                    }
                } else {
                    Conv::Word {
                        index,
                        delims,
                        count,
                    }
                }
            }
            "concat" => {
                a.count(1, 3, "concat([START][,VAR][,END])")?;
                Conv::Concat {
                    start: a.text(0).to_string(),
                    var: a.var(1)?,
                    end: a.text(2).to_string(),
                }
            }
            "add_item" => {
                a.count(2, 3, "add_item(DELIM,[VAR][,SUFFIX])")?;
                let var = a.var(1)?;
                let suffix = a.text(2).to_string();
                if var.is_none() && suffix.is_empty() {
                    return Err(a.err("needs a variable or a suffix"));
                }
                Conv::AddItem {
                    delim: a.text(0).to_string(),
                    var,
                    suffix,
                }
            }
            "strcmp" => {
                a.count(1, 1, "strcmp(VAR)")?;
                Conv::Strcmp(a.required_var(0)?)
            }
            "regsub" => {
                a.count(2, 3, "regsub(REGEX,SUBST[,FLAGS])")?;
                let (mut icase, mut global) = (false, false);
                for f in a.text(2).chars() {
                    match f {
                        'i' => icase = true,
                        'g' => global = true,
                        o => {
                            return Err(a.err(format!(
                                "flag `{o}` is not supported (only `i` and `g` are)"
                            )))
                        }
                    }
                }
                Conv::Regsub {
                    re: Regex::new(a.text(0), icase).map_err(|e| a.err(e))?,
                    subst: Subst::parse(a.text(1)).map_err(|e| a.err(e))?,
                    global,
                }
            }
            "iif" => {
                a.count(2, 2, "iif(TRUE,FALSE)")?;
                Conv::Iif(a.text(0).to_string(), a.text(1).to_string())
            }
            "json" => {
                a.count(0, 1, "json([INPUT_CODE])")?;
                Conv::Json(match a.text(0) {
                    "" | "ascii" => JsonInput::Ascii,
                    "utf8" => JsonInput::Utf8,
                    "utf8s" => JsonInput::Utf8s,
                    "utf8p" => JsonInput::Utf8p,
                    "utf8ps" => JsonInput::Utf8ps,
                    o => {
                        return Err(a.err(format!(
                            "input code `{o}` is not one of ascii, utf8, utf8s, utf8p, utf8ps"
                        )))
                    }
                })
            }
            "json_query" => {
                a.count(1, 2, "json_query(JSON_PATH[,int])")?;
                let int = match a.text(1) {
                    "" => false,
                    "int" => true,
                    o => return Err(a.err(format!("output type `{o}`: only `int` is supported"))),
                };
                Conv::JsonQuery {
                    path: parse_json_path(a.text(0)).map_err(|e| a.err(e))?,
                    int,
                }
            }
            "url_dec" => {
                a.count(0, 1, "url_dec([IN_FORM])")?;
                Conv::UrlDec(a.flag(0, "in_form")?)
            }
            "url_enc" => {
                a.count(0, 1, "url_enc([query])")?;
                match a.text(0) {
                    "" | "query" => Conv::UrlEnc,
                    o => return Err(a.err(format!("encoding `{o}`: only `query` is supported"))),
                }
            }

            // Binary and encodings.
            "hex" => none(Conv::Hex)?,
            "hex2i" => none(Conv::Hex2i)?,
            "base64" => none(Conv::Base64)?,
            "b64dec" => none(Conv::B64dec)?,
            "ub64enc" => none(Conv::Ub64enc)?,
            "ub64dec" => none(Conv::Ub64dec)?,
            "bytes" => {
                a.count(1, 2, "bytes(OFFSET[,LENGTH])")?;
                let offset = a
                    .int(0, "offset")?
                    .ok_or_else(|| a.err("needs an offset"))?;
                let length = a.int(1, "length")?;
                let offset = usize::try_from(offset)
                    .map_err(|_| a.err(format!("offset {offset} is negative")))?;
                let length = length
                    .map(|l| {
                        usize::try_from(l).map_err(|_| a.err(format!("length {l} is negative")))
                    })
                    .transpose()?;
                Conv::Bytes { offset, length }
            }
            "be2dec" => {
                a.count(2, 3, "be2dec(SEPARATOR,CHUNK_SIZE[,TRUNCATE])")?;
                let chunk = a.int(1, "chunk size")?.unwrap_or(0);
                if !(1..=8).contains(&chunk) {
                    return Err(a.err(format!("chunk size {chunk} is not in 1..8")));
                }
                Conv::Be2dec {
                    sep: a.text(0).to_string(),
                    chunk: chunk as usize,
                    truncate: truncate_flag(&a, 2)?,
                }
            }
            "be2hex" => {
                a.count(0, 3, "be2hex([SEPARATOR][,CHUNK_SIZE][,TRUNCATE])")?;
                let sep = a.text(0).to_string();
                let chunk = a.int(1, "chunk size")?.unwrap_or(0);
                let truncate = truncate_flag(&a, 2)?;
                if chunk < 0 || (chunk == 0 && (!sep.is_empty() || truncate)) {
                    return Err(a.err(format!("chunk size {chunk} must be positive")));
                }
                Conv::Be2hex {
                    sep,
                    chunk: usize::try_from(chunk).unwrap_or(0),
                    truncate,
                }
            }

            // Integers.
            "add" | "sub" | "mul" | "div" | "mod" | "and" | "or" | "xor" => {
                a.count(1, 1, &format!("{name}(INTEGER or VARIABLE)"))?;
                let op = match name {
                    "add" => Arith::Add,
                    "sub" => Arith::Sub,
                    "mul" => Arith::Mul,
                    "div" => Arith::Div,
                    "mod" => Arith::Mod,
                    "and" => Arith::And,
                    "or" => Arith::Or,
                    _ => Arith::Xor,
                };
                let t = a.text(0).trim();
                let operand = if let Ok(i) = t.parse::<i64>() {
                    Operand::Int(i)
                } else if t.contains('.') {
                    check_var_name(t).map_err(|e| a.err(e))?;
                    Operand::Var(t.to_string())
                } else {
                    return Err(a.err(format!("`{t}` is neither an integer nor a variable name")));
                };
                Conv::Arith(op, operand)
            }
            "neg" => none(Conv::Neg)?,
            "cpl" => none(Conv::Cpl)?,
            "not" => none(Conv::Not)?,
            "bool" => none(Conv::Bool)?,
            "odd" => none(Conv::Odd)?,
            "even" => none(Conv::Even)?,

            // Addresses.
            "ipmask" => {
                a.count(1, 2, "ipmask(MASK4[,MASK6])")?;
                let v4 = parse_mask4(a.text(0)).map_err(|e| a.err(e))?;
                let v6 = match a.text(1) {
                    "" => None,
                    m => Some(parse_mask6(m).map_err(|e| a.err(e))?),
                };
                Conv::Ipmask { v4, v6 }
            }

            // Hashes and digests.
            "crc32" | "djb2" | "sdbm" | "wt6" => {
                a.count(0, 1, &format!("{name}([AVALANCHE])"))?;
                Conv::Hash {
                    func: match name {
                        "crc32" => HashFn::Crc32,
                        "djb2" => HashFn::Djb2,
                        "sdbm" => HashFn::Sdbm,
                        _ => HashFn::Wt6,
                    },
                    avalanche: a.flag(0, "avalanche")?,
                }
            }
            "sha1" => none(Conv::Digest(DigestAlg::Sha1))?,
            "sha2" => {
                a.count(0, 1, "sha2([224|256|384|512])")?;
                Conv::Digest(match a.int(0, "bits")?.unwrap_or(256) {
                    224 => DigestAlg::Sha224,
                    256 => DigestAlg::Sha256,
                    384 => DigestAlg::Sha384,
                    512 => DigestAlg::Sha512,
                    b => {
                        return Err(a.err(format!(
                            "{b} bits: only 224, 256, 384 and 512 are supported"
                        )))
                    }
                })
            }
            "digest" => {
                a.count(1, 1, "digest(ALGORITHM)")?;
                Conv::Digest(DigestAlg::parse(a.text(0)).map_err(|e| a.err(e))?)
            }
            "hmac" => {
                a.count(2, 2, "hmac(ALGORITHM,KEY)")?;
                let alg = DigestAlg::parse(a.text(0)).map_err(|e| a.err(e))?;
                let k = a.text(1);
                let key = if check_var_name(k).is_ok() {
                    HmacKey::Var(k.to_string())
                } else {
                    HmacKey::Bytes(B64.decode(k.as_bytes()).map_err(|_| {
                        a.err("the key is neither base64 nor a variable name (SCOPE.NAME)")
                    })?)
                };
                Conv::Hmac { alg, key }
            }
            "secure_memcmp" => {
                a.count(1, 1, "secure_memcmp(VAR)")?;
                Conv::SecureMemcmp(a.required_var(0)?)
            }

            // Time.
            "http_date" => {
                a.count(0, 2, "http_date([OFFSET[,UNIT]])")?;
                let per_second = match args.get(1).map(|u| u.trim()) {
                    None | Some("" | "s") => 1,
                    Some("ms") => 1_000,
                    Some("us") => 1_000_000,
                    Some(u) => return Err(a.err(format!("unit `{u}` is not one of s, ms, us"))),
                };
                Conv::HttpDate {
                    offset: a.int(0, "offset")?.unwrap_or(0),
                    per_second,
                }
            }
            "ltime" | "utime" => {
                a.count(1, 2, &format!("{name}(FORMAT[,OFFSET])"))?;
                Conv::Time {
                    format: a.text(0).to_string(),
                    offset: a.int(1, "offset")?.unwrap_or(0),
                    utc: name == "utime",
                }
            }

            // Variables.
            "set-var" => {
                a.count(1, 5, "set-var(NAME[,CONDITION...]), at most 4 conditions")?;
                let name = a.required_var(0)?;
                let conds = args[1..]
                    .iter()
                    .map(|c| {
                        Ok(match c.trim() {
                            "ifexists" => VarCond::IfExists,
                            "ifnotexists" => VarCond::IfNotExists,
                            "ifempty" => VarCond::IfEmpty,
                            "ifnotempty" => VarCond::IfNotEmpty,
                            "ifset" => VarCond::IfSet,
                            "ifnotset" => VarCond::IfNotSet,
                            "ifgt" => VarCond::IfGt,
                            "iflt" => VarCond::IfLt,
                            o => {
                                return Err(a.err(format!(
                                "condition `{o}` is not one of ifexists, ifnotexists, ifempty, \
                                 ifnotempty, ifset, ifnotset, ifgt, iflt"
                            )))
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Conv::SetVar { name, conds }
            }
            "unset-var" => {
                a.count(1, 1, "unset-var(NAME)")?;
                Conv::UnsetVar(a.required_var(0)?)
            }

            // Debug.
            "debug" => {
                a.count(0, 2, "debug([PREFIX][,DESTINATION])")?;
                Conv::Debug(a.text(0).to_string())
            }

            // Maps.
            n if n == "map" || n.starts_with("map_") => match map_kind(n) {
                Some((kind, out)) => {
                    a.count(1, 2, &format!("{n}(FILE[,DEFAULT])"))?;
                    Conv::Map(Box::new(
                        MapConv::load(a.text(0), kind, out, args.get(1).map(String::as_str))
                            .map_err(|e| a.err(e))?,
                    ))
                }
                None => return Err(format!("converter `{n}` is not supported ({CONVERTERS})")),
            },

            o => match super::stick::parse_conv(o, args) {
                Some(r) => {
                    let (ask, table) = r?;
                    Conv::Table { ask, table }
                }
                None => return Err(format!("converter `{o}` is not supported ({CONVERTERS})")),
            },
        })
    }

    /// Applies the converter; `None` when it cannot work on this input.
    pub fn apply(&self, v: Value, vars: &mut dyn Vars) -> Option<Value> {
        Some(match self {
            Conv::Table { ask, table } => {
                vars.stick(super::stick::Entry::Key(&v), Some(table), *ask)?
            }
            // Text.
            Conv::Lower => str_value(str_in(&v).to_ascii_lowercase()),
            Conv::Upper => str_value(str_in(&v).to_ascii_uppercase()),
            Conv::Length => Value::Int(str_in(&v).len() as i64),
            Conv::Ltrim(chars) => {
                let s = str_in(&v);
                let start = s.iter().position(|b| !chars.contains(b)).unwrap_or(s.len());
                str_value(s[start..].to_vec())
            }
            Conv::Rtrim(chars) => {
                let s = str_in(&v);
                let end = s
                    .iter()
                    .rposition(|b| !chars.contains(b))
                    .map_or(0, |i| i + 1);
                str_value(s[..end].to_vec())
            }
            Conv::Field {
                index,
                delims,
                count,
            } => str_value(field(&str_in(&v), delims, *index, *count)?.to_vec()),
            Conv::Word {
                index,
                delims,
                count,
            } => str_value(word(&str_in(&v), delims, *index, *count).to_vec()),
            Conv::Concat { start, var, end } => {
                let mut s = str_in(&v).into_owned();
                s.extend_from_slice(start.as_bytes());
                if let Some(x) = var.as_ref().and_then(|n| vars.get(n)) {
                    s.extend_from_slice(&str_in(&x));
                }
                s.extend_from_slice(end.as_bytes());
                str_value(s)
            }
            Conv::AddItem { delim, var, suffix } => {
                let mut s = str_in(&v).into_owned();
                let x = var.as_ref().and_then(|n| vars.get(n));
                let x = x.as_ref().map(str_in);
                let more = x.as_ref().is_some_and(|x| !x.is_empty()) || !suffix.is_empty();
                if !s.is_empty() && more {
                    s.extend_from_slice(delim.as_bytes());
                }
                if let Some(x) = x {
                    s.extend_from_slice(&x);
                }
                s.extend_from_slice(suffix.as_bytes());
                str_value(s)
            }
            Conv::Strcmp(var) => {
                let other = vars.get(var)?;
                Value::Int(match str_in(&v).as_ref().cmp(str_in(&other).as_ref()) {
                    std::cmp::Ordering::Less => -1,
                    std::cmp::Ordering::Equal => 0,
                    std::cmp::Ordering::Greater => 1,
                })
            }
            Conv::Regsub { re, subst, global } => {
                str_value(regsub(&re.re, subst, *global, &str_in(&v)))
            }
            Conv::Iif(t, f) => Value::Str(if bool_in(&v)? { t.clone() } else { f.clone() }),
            Conv::Json(input) => Value::Str(json_escape(&str_in(&v), *input)?),
            Conv::JsonQuery { path, int } => json_query(&str_in(&v), path, *int)?,
            Conv::UrlDec(in_form) => str_value(url_decode(&str_in(&v), *in_form)?),
            Conv::UrlEnc => Value::Str(url_encode(&str_in(&v))),

            // Binary and encodings.
            Conv::Hex => Value::Str(hex_upper(&bin_in(&v))),
            Conv::Hex2i => {
                let s = str_in(&v);
                let mut n: i64 = 0;
                for &c in s.iter() {
                    let d = (c as char).to_digit(16)?;
                    n = n.wrapping_shl(4).wrapping_add(i64::from(d));
                }
                Value::Int(n)
            }
            Conv::Base64 => Value::Str(B64.encode(bin_in(&v))),
            Conv::B64dec => Value::Bin(B64.decode(str_in(&v)).ok()?),
            Conv::Ub64enc => Value::Str(UB64.encode(bin_in(&v))),
            Conv::Ub64dec => Value::Bin(UB64.decode(str_in(&v)).ok()?),
            Conv::Bytes { offset, length } => {
                let b = bin_in(&v);
                let rest = b.get(*offset..).unwrap_or(&[]);
                let n = length.map_or(rest.len(), |l| l.min(rest.len()));
                Value::Bin(rest[..n].to_vec())
            }
            Conv::Be2dec {
                sep,
                chunk,
                truncate,
            } => {
                let b = bin_in(&v);
                let mut out = String::new();
                for (i, c) in b.chunks(*chunk).enumerate() {
                    if *truncate && c.len() < *chunk {
                        break;
                    }
                    if i > 0 {
                        out.push_str(sep);
                    }
                    let n = c.iter().fold(0u64, |n, &x| (n << 8) | u64::from(x));
                    out.push_str(&n.to_string());
                }
                Value::Str(out)
            }
            Conv::Be2hex {
                sep,
                chunk,
                truncate,
            } => {
                let b = bin_in(&v);
                let chunk = if sep.is_empty() && !*truncate {
                    b.len()
                } else {
                    *chunk
                };
                let mut out = String::new();
                for (i, c) in b.chunks(chunk.max(1)).enumerate() {
                    if *truncate && c.len() < chunk {
                        break;
                    }
                    if i > 0 {
                        out.push_str(sep);
                    }
                    out.push_str(&hex_upper(c));
                }
                Value::Str(out)
            }

            // Integers.
            Conv::Arith(op, operand) => {
                let a = int_in(&v)?;
                let b = match operand {
                    Operand::Int(i) => *i,
                    Operand::Var(n) => int_in(&vars.get(n)?)?,
                };
                Value::Int(arith(*op, a, b))
            }
            Conv::Neg => Value::Int(int_in(&v)?.checked_neg().unwrap_or(i64::MAX)),
            Conv::Cpl => Value::Int(!int_in(&v)?),
            Conv::Not => Value::Bool(int_in(&v)? == 0),
            Conv::Bool => Value::Bool(int_in(&v)? != 0),
            Conv::Odd => Value::Bool(int_in(&v)? & 1 == 1),
            Conv::Even => Value::Bool(int_in(&v)? & 1 == 0),

            // Addresses.
            Conv::Ipmask { v4, v6 } => match addr_in(&v)? {
                IpAddr::V4(a) => {
                    Value::Ip(IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::from(*v4))))
                }
                IpAddr::V6(a) => Value::Ip(IpAddr::V6(Ipv6Addr::from(
                    u128::from(a) & u128::from((*v6)?),
                ))),
            },

            // Hashes and digests.
            Conv::Hash { func, avalanche } => {
                let b = bin_in(&v);
                let h = match func {
                    HashFn::Crc32 => crc32(&b),
                    HashFn::Djb2 => djb2(&b),
                    HashFn::Sdbm => sdbm(&b),
                    HashFn::Wt6 => wt6(&b),
                };
                Value::Int(i64::from(if *avalanche { full_hash(h) } else { h }))
            }
            Conv::Digest(alg) => Value::Bin(alg.digest(&bin_in(&v))),
            Conv::Hmac { alg, key } => {
                let key: Cow<'_, [u8]> = match key {
                    HmacKey::Bytes(k) => Cow::Borrowed(k),
                    HmacKey::Var(n) => Cow::Owned(B64.decode(str_in(&vars.get(n)?)).ok()?),
                };
                Value::Bin(hmac(*alg, &key, &bin_in(&v)))
            }
            Conv::SecureMemcmp(var) => {
                let other = vars.get(var)?;
                let (a, b) = (bin_in(&v), bin_in(&other));
                Value::Bool(
                    a.len() == b.len()
                        && a.iter().zip(b.iter()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0,
                )
            }

            // Time.
            Conv::HttpDate { offset, per_second } => {
                let t = int_in(&v)?.saturating_add(*offset) / per_second;
                str_value(strftime("%a, %d %b %Y %H:%M:%S GMT", &utc_tm(t), t))
            }
            Conv::Time {
                format,
                offset,
                utc,
            } => {
                // As HAProxy: 55 bits keep the date positive, then the offset.
                let t = (int_in(&v)? & 0x007f_ffff_ffff_ffff).saturating_add(*offset);
                let tm = if *utc { utc_tm(t) } else { local_tm(t)? };
                str_value(strftime(format, &tm, t))
            }

            // Variables.
            Conv::SetVar { name, conds } => {
                let old = vars.get(name);
                // proc. variables exist from the start in HAProxy (they are created
                // when the configuration names them).
                let exists = old.is_some() || name.starts_with("proc.");
                let empty = match &v {
                    Value::Str(s) => Some(s.is_empty()),
                    Value::Bin(b) => Some(b.is_empty()),
                    _ => None,
                };
                let ints = match (&old, &v) {
                    (Some(Value::Int(o)), Value::Int(n)) => Some((*o, *n)),
                    _ => None,
                };
                let ok = conds.iter().all(|c| match c {
                    VarCond::IfExists => exists,
                    VarCond::IfNotExists => !exists,
                    VarCond::IfSet => old.is_some(),
                    VarCond::IfNotSet => old.is_none(),
                    // Scalars are never empty.
                    VarCond::IfEmpty => empty == Some(true),
                    VarCond::IfNotEmpty => empty != Some(true),
                    // Only between two integers; true otherwise.
                    VarCond::IfGt => ints.is_none_or(|(o, n)| o > n),
                    VarCond::IfLt => ints.is_none_or(|(o, n)| o < n),
                });
                if !ok {
                    return None;
                }
                vars.set(name, v.clone());
                v
            }
            Conv::UnsetVar(name) => {
                vars.unset(name);
                v
            }

            // Maps.
            Conv::Map(m) => m.lookup(&v)?,

            // Debug.
            Conv::Debug(prefix) => {
                let (ty, text) = match &v {
                    Value::Bool(_) => ("bool", str_in(&v)),
                    Value::Int(_) => ("sint", str_in(&v)),
                    Value::Ip(IpAddr::V4(_)) => ("ipv4", str_in(&v)),
                    Value::Ip(IpAddr::V6(_)) => ("ipv6", str_in(&v)),
                    Value::Str(_) => ("str", str_in(&v)),
                    Value::Bin(b) => ("bin", Cow::Borrowed(b.as_slice())),
                };
                let shown: String = text
                    .iter()
                    .map(|&c| {
                        if (0x20..0x7f).contains(&c) {
                            c as char
                        } else {
                            '.'
                        }
                    })
                    .collect();
                tracing::debug!("[debug] {prefix}: type={ty} <{shown}>");
                v
            }
        })
    }
}

/// Bytes from hexadecimal text (`bin(...)`, `hex2i`): `None` if not hexadecimal.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

// ------------------------------------------------------------------- casts

/// The input of a string converter: binary stops at its first NUL byte.
fn str_in(v: &Value) -> Cow<'_, [u8]> {
    match v {
        Value::Str(s) => Cow::Borrowed(s.as_bytes()),
        Value::Bin(b) => Cow::Borrowed(&b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]),
        o => Cow::Owned(o.as_str().into_owned().into_bytes()),
    }
}

/// The input of a binary converter: integers as 8 big-endian bytes, addresses as their
/// bytes.
fn bin_in(v: &Value) -> Cow<'_, [u8]> {
    match v {
        Value::Str(s) => Cow::Borrowed(s.as_bytes()),
        Value::Bin(b) => Cow::Borrowed(b),
        Value::Int(i) => Cow::Owned(i.to_be_bytes().to_vec()),
        Value::Bool(b) => Cow::Owned(i64::from(*b).to_be_bytes().to_vec()),
        Value::Ip(a) => Cow::Owned(match a.to_canonical() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        }),
    }
}

/// The input of an integer converter.
fn int_in(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Str(s) => read_int(s.as_bytes()),
        Value::Ip(a) => match a.to_canonical() {
            IpAddr::V4(a) => Some(i64::from(u32::from(a))),
            IpAddr::V6(_) => None,
        },
        Value::Bin(_) => None,
    }
}

/// The input of a boolean converter (`iif`).
fn bool_in(v: &Value) -> Option<bool> {
    match v {
        Value::Ip(_) | Value::Bin(_) => None,
        o => int_in(o).map(|i| i != 0),
    }
}

/// The input of an address converter.
fn addr_in(v: &Value) -> Option<IpAddr> {
    match v {
        Value::Ip(a) => Some(a.to_canonical()),
        Value::Str(s) => s.trim().parse::<IpAddr>().ok().map(|a| a.to_canonical()),
        Value::Int(i) => Some(IpAddr::V4(Ipv4Addr::from(*i as u32))),
        Value::Bool(_) | Value::Bin(_) => None,
    }
}

/// Text as HAProxy reads an integer: a sign, then the leading digits (none is 0), the
/// result saturating; empty text has no integer.
fn read_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let n = digits
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0u64, |n, &c| {
            n.saturating_mul(10).saturating_add(u64::from(c - b'0'))
        });
    Some(if neg {
        0i64.checked_sub_unsigned(n).unwrap_or(i64::MIN)
    } else {
        i64::try_from(n).unwrap_or(i64::MAX)
    })
}

/// Converter output that is text: a string if UTF-8, else binary.
fn str_value(b: Vec<u8>) -> Value {
    match String::from_utf8(b) {
        Ok(s) => Value::Str(s),
        Err(e) => Value::Bin(e.into_bytes()),
    }
}

// -------------------------------------------------------------------- text

/// `field`: the fields between delimiters, `None` when there is no such field.
fn field<'a>(s: &'a [u8], delims: &[u8], index: i64, count: i64) -> Option<&'a [u8]> {
    let seps: Vec<usize> = (0..s.len()).filter(|&i| delims.contains(&s[i])).collect();
    let n = seps.len() + 1;
    // Field k (from 1) runs from start(k) to end(k).
    let start = |k: usize| if k == 1 { 0 } else { seps[k - 2] + 1 };
    let end = |k: usize| if k == n { s.len() } else { seps[k - 1] };
    let n_i = n as i64;
    let (first, last) = if index > 0 {
        if index > n_i {
            return None;
        }
        let last = if count <= 0 {
            n_i
        } else {
            index.saturating_add(count - 1).min(n_i)
        };
        (index, last)
    } else {
        let k = n_i + index + 1;
        if k < 1 {
            return None;
        }
        let first = if count <= 0 {
            1
        } else {
            (k - count + 1).max(1)
        };
        (first, k)
    };
    Some(&s[start(first as usize)..end(last as usize)])
}

/// `word`: the words (runs of non-delimiters), empty when there is no such word. A
/// count going past the last (or first) word, or 0, takes the rest of the string.
fn word<'a>(s: &'a [u8], delims: &[u8], index: i64, count: i64) -> &'a [u8] {
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in s.iter().enumerate() {
        match (delims.contains(c), start) {
            (false, None) => start = Some(i),
            (true, Some(st)) => {
                words.push((st, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(st) = start {
        words.push((st, s.len()));
    }
    let n = words.len() as i64;
    if index > 0 {
        if index > n {
            return &[];
        }
        let from = words[(index - 1) as usize].0;
        let to = if count <= 0 || index.saturating_add(count - 1) > n {
            s.len()
        } else {
            words[(index + count - 2) as usize].1
        };
        &s[from..to]
    } else {
        let k = n + index + 1;
        if k < 1 {
            return &[];
        }
        let to = words[(k - 1) as usize].1;
        let from = if count <= 0 || k - count < 0 {
            0
        } else {
            words[(k - count) as usize].0
        };
        &s[from..to]
    }
}

/// `regsub`: as `sed`'s `s/RE/SUBST/[g]`. After an empty match the next character is
/// kept and the search goes on after it.
fn regsub(re: &regex::bytes::Regex, subst: &Subst, global: bool, s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut pos = 0;
    while let Some(caps) = re.captures_at(s, pos) {
        let Some(m) = caps.get(0) else { break };
        out.extend_from_slice(&s[pos..m.start()]);
        subst.expand(&caps, &mut out);
        if m.end() > m.start() {
            pos = m.end();
        } else if m.end() >= s.len() {
            pos = s.len();
            break;
        } else {
            let n = utf8_len(s[m.end()]).min(s.len() - m.end());
            out.extend_from_slice(&s[m.end()..m.end() + n]);
            pos = m.end() + n;
        }
        if !global {
            break;
        }
    }
    out.extend_from_slice(&s[pos..]);
    out
}

/// The length of the UTF-8 sequence a byte starts (1 for anything else).
fn utf8_len(b: u8) -> usize {
    match b {
        0xf0..=0xf7 => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

const UTF8_OVERLONG: u8 = 1;
const UTF8_INVRANGE: u8 = 2;
const UTF8_BADSEQ: u8 = 4;

/// One UTF-8 sequence at the start of `s` (not empty) read as HAProxy does: the code
/// point, the bytes it takes, and its errors (`UTF8_*`). Sequences of up to 6 bytes are
/// decoded; a bad continuation byte ends the sequence before it.
fn utf8_next(s: &[u8]) -> (u32, usize, u8) {
    let b0 = s[0];
    let (mut c, extra) = match b0 {
        0x00..=0x7f => return (u32::from(b0), 1, 0),
        0xc0..=0xdf => (u32::from(b0 & 0x1f), 1),
        0xe0..=0xef => (u32::from(b0 & 0x0f), 2),
        0xf0..=0xf7 => (u32::from(b0 & 0x07), 3),
        0xf8..=0xfb => (u32::from(b0 & 0x03), 4),
        0xfc..=0xfd => (u32::from(b0 & 0x01), 5),
        _ => return (u32::from(b0), 1, UTF8_BADSEQ),
    };
    if s.len() <= extra {
        return (u32::from(b0), 1, UTF8_BADSEQ);
    }
    for (k, &b) in s.iter().enumerate().take(extra + 1).skip(1) {
        if b & 0xc0 != 0x80 {
            return (c, k, UTF8_BADSEQ);
        }
        c = (c << 6) | u32::from(b & 0x3f);
    }
    let len = extra + 1;
    let mut code = 0;
    if (c <= 0x7f && len > 1)
        || ((0x80..=0x7ff).contains(&c) && len > 2)
        || ((0x800..=0xffff).contains(&c) && len > 3)
        || ((0x10000..=0x1f_ffff).contains(&c) && len > 4)
    {
        code |= UTF8_OVERLONG;
    }
    if (0xd800..=0xdfff).contains(&c) || (0xfffe..=0xffff).contains(&c) {
        code |= UTF8_INVRANGE;
    }
    (c, len, code)
}

/// `json`: the input escaped for a JSON string; `None` when the input code refuses it.
fn json_escape(s: &[u8], input: JsonInput) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = if input == JsonInput::Ascii {
            i += 1;
            u32::from(s[i - 1])
        } else {
            let (c, n, code) = utf8_next(&s[i..]);
            i += n;
            let fatal = code & (UTF8_INVRANGE | UTF8_BADSEQ) != 0;
            match input {
                JsonInput::Utf8 if code != 0 => return None,
                JsonInput::Utf8s if code != 0 => continue,
                JsonInput::Utf8p if fatal => return None,
                JsonInput::Utf8ps if fatal => continue,
                _ => {}
            }
            // JSON escapes have 4 hexadecimal digits.
            if c > 0xffff {
                if matches!(input, JsonInput::Utf8 | JsonInput::Utf8p) {
                    return None;
                }
                continue;
            }
            c
        };
        match c {
            0x22 => out.push_str("\\\""),
            0x5c => out.push_str("\\\\"),
            0x2f => out.push_str("\\/"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            0x0d => out.push_str("\\r"),
            0x0a => out.push_str("\\n"),
            0x09 => out.push_str("\\t"),
            0x20..=0x7e => out.push(c as u8 as char),
            _ => out.push_str(&format!("\\u{c:04x}")),
        }
    }
    Some(out)
}

/// A `json_query` path: `$`, then `.key` (`\` keeps the next character) or `[n]`.
fn parse_json_path(p: &str) -> Result<Vec<JsonStep>, String> {
    let bad = |why: &str| format!("JSON path `{p}`: {why}");
    let rest = p
        .strip_prefix('$')
        .ok_or_else(|| bad("it starts with `$`"))?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    chars.next();
                    if c == '\\' {
                        if let Some(n) = chars.next() {
                            key.push(n);
                        }
                    } else {
                        key.push(c);
                    }
                }
                if key.is_empty() {
                    return Err(bad("a key is empty"));
                }
                steps.push(JsonStep::Key(key));
            }
            '[' => {
                let mut n = String::new();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    n.push(c);
                }
                steps.push(JsonStep::Index(
                    n.trim()
                        .parse()
                        .map_err(|_| bad("an array index is not a number"))?,
                ));
            }
            _ => return Err(bad("expected `.key` or `[index]`")),
        }
    }
    Ok(steps)
}

/// The largest integer JSON carries exactly (RFC 7159, section 6).
const JSON_INT_MAX: i64 = (1 << 53) - 1;

/// `json_query`: strings as strings, booleans as booleans, numbers as `%g` text or as
/// integers; anything else (null, objects, arrays, nothing) gives no value.
fn json_query(doc: &[u8], path: &[JsonStep], int: bool) -> Option<Value> {
    let doc: serde_json::Value = serde_json::from_slice(doc).ok()?;
    let mut at = &doc;
    for step in path {
        at = match step {
            JsonStep::Key(k) => at.as_object()?.get(k)?,
            JsonStep::Index(i) => at.as_array()?.get(*i)?,
        };
    }
    match at {
        serde_json::Value::String(s) => Some(Value::Str(s.clone())),
        serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
        serde_json::Value::Number(n) if int => {
            let i = match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i,
                (None, Some(f)) if f.is_finite() && f.abs() < 1e18 => f.trunc() as i64,
                _ => return None,
            };
            (-JSON_INT_MAX..=JSON_INT_MAX)
                .contains(&i)
                .then_some(Value::Int(i))
        }
        serde_json::Value::Number(n) => Some(Value::Str(fmt_g(n.as_f64()?))),
        _ => None,
    }
}

/// A number as C's `printf("%g")`: 6 significant digits, no trailing zeros, an
/// exponent below 1e-4 and from 1e6.
fn fmt_g(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{f:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{f:.*}", (5 - exp) as usize))
    }
}

/// `url_dec`: `None` on a `%` without two hexadecimal digits; stops at a NUL byte.
pub(crate) fn url_decode(s: &[u8], mut in_form: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() && s[i] != 0 {
        match s[i] {
            b'+' => out.push(if in_form { b' ' } else { b'+' }),
            b'%' => {
                let h = s.get(i + 1..i + 3)?;
                let h = std::str::from_utf8(h).ok()?;
                out.push(
                    u8::from_str_radix(h, 16)
                        .ok()
                        .filter(|_| !h.starts_with(['+', '-']))?,
                );
                i += 2;
            }
            b'?' => {
                in_form = true;
                out.push(b'?');
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// `url_enc`: every byte but letters, digits and `-._~` as `%XX`.
fn url_encode(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------- encodings

/// Base64 as HAProxy decodes it: padded, trailing bits not checked.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Base64url without padding.
const UB64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

fn hex_upper(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(b.len() * 2);
    for &c in b {
        s.push(DIGITS[usize::from(c >> 4)] as char);
        s.push(DIGITS[usize::from(c & 0xf)] as char);
    }
    s
}

/// TRUNCATE of `be2dec` and `be2hex`: 0 or 1.
fn truncate_flag(a: &Args<'_>, i: usize) -> Result<bool, String> {
    match a.int(i, "truncate")?.unwrap_or(0) {
        0 => Ok(false),
        1 => Ok(true),
        t => Err(a.err(format!("truncate is 0 or 1, not {t}"))),
    }
}

// ----------------------------------------------------------------- integers

/// Arithmetic that saturates, as HAProxy's.
fn arith(op: Arith, a: i64, b: i64) -> i64 {
    match op {
        Arith::Add => a.saturating_add(b),
        Arith::Sub => a.saturating_sub(b),
        Arith::Mul => a.saturating_mul(b),
        Arith::Div if b == 0 => i64::MAX,
        Arith::Div => a.checked_div(b).unwrap_or(i64::MAX),
        Arith::Mod => a.checked_rem(b).unwrap_or(0),
        Arith::And => a & b,
        Arith::Or => a | b,
        Arith::Xor => a ^ b,
    }
}

// ---------------------------------------------------------------- addresses

/// An IPv4 mask: a prefix length (0 to 32) or dotted (`255.255.255.0`).
fn parse_mask4(s: &str) -> Result<Ipv4Addr, String> {
    let s = s.trim();
    if s.contains('.') {
        return s
            .parse()
            .map_err(|_| format!("`{s}` is not an IPv4 mask (24 or 255.255.255.0)"));
    }
    match s.parse::<u32>() {
        Ok(n) if n <= 32 => Ok(Ipv4Addr::from(prefix_mask32(n))),
        _ => Err(format!("`{s}` is not an IPv4 mask (24 or 255.255.255.0)")),
    }
}

/// An IPv6 mask: a prefix length (0 to 128) or in address form (`ffff:ffff::`).
fn parse_mask6(s: &str) -> Result<Ipv6Addr, String> {
    let s = s.trim();
    if s.contains(':') {
        return s
            .parse()
            .map_err(|_| format!("`{s}` is not an IPv6 mask (64 or ffff:ffff:ffff:ffff::)"));
    }
    match s.parse::<u32>() {
        Ok(n) if n <= 128 => Ok(Ipv6Addr::from(prefix_mask128(n))),
        _ => Err(format!(
            "`{s}` is not an IPv6 mask (64 or ffff:ffff:ffff:ffff::)"
        )),
    }
}

fn prefix_mask32(len: u32) -> u32 {
    u32::MAX.checked_shl(32 - len.min(32)).unwrap_or(0)
}

fn prefix_mask128(len: u32) -> u128 {
    u128::MAX.checked_shl(128 - len.min(128)).unwrap_or(0)
}

// ------------------------------------------------------ hashes and digests

/// CRC32 (Ethernet, gzip, PNG).
fn crc32(b: &[u8]) -> u32 {
    let mut h = !0u32;
    for &c in b {
        h ^= u32::from(c);
        for _ in 0..8 {
            h = (h >> 1) ^ (if h & 1 == 1 { 0xedb8_8320 } else { 0 });
        }
    }
    !h
}

fn djb2(b: &[u8]) -> u32 {
    b.iter().fold(5381u32, |h, &c| {
        h.wrapping_shl(5).wrapping_add(h).wrapping_add(u32::from(c))
    })
}

fn sdbm(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h.wrapping_shl(6))
            .wrapping_add(h.wrapping_shl(16))
            .wrapping_sub(h)
    })
}

/// Willy Tarreau's WT6 hash.
fn wt6(b: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0xa53c_965au32, 0x5ca6_953au32);
    let (mut step0, mut step1) = (6u32, 18u32);
    for &c in b {
        let t = u32::from(c);
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

/// Bob Jenkins' full avalanche of a 32-bit integer, then spread by a large prime.
fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

impl DigestAlg {
    /// An algorithm by its OpenSSL name (`sha256`, `SHA256`, `sha2-256`).
    fn parse(s: &str) -> Result<DigestAlg, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "sha1" => DigestAlg::Sha1,
            "sha224" | "sha2-224" => DigestAlg::Sha224,
            "sha256" | "sha2-256" => DigestAlg::Sha256,
            "sha384" | "sha2-384" => DigestAlg::Sha384,
            "sha512" | "sha2-512" => DigestAlg::Sha512,
            o => {
                return Err(format!(
                    "digest `{o}` is not supported (sha1, sha224, sha256, sha384, sha512)"
                ))
            }
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            DigestAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            DigestAlg::Sha224 => sha2::Sha224::digest(data).to_vec(),
            DigestAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            DigestAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            DigestAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The block size of the hash function, in bytes.
    fn block_size(self) -> usize {
        match self {
            DigestAlg::Sha1 | DigestAlg::Sha224 | DigestAlg::Sha256 => 64,
            DigestAlg::Sha384 | DigestAlg::Sha512 => 128,
        }
    }
}

/// HMAC (RFC 2104).
fn hmac(alg: DigestAlg, key: &[u8], msg: &[u8]) -> Vec<u8> {
    let bs = alg.block_size();
    let mut k = if key.len() > bs {
        alg.digest(key)
    } else {
        key.to_vec()
    };
    k.resize(bs, 0);
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(msg);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&alg.digest(&inner));
    alg.digest(&outer)
}

// --------------------------------------------------------------------- time

/// A broken-down date.
struct Tm {
    year: i64,
    /// 0 to 11.
    mon: u32,
    mday: u32,
    hour: u32,
    min: u32,
    sec: u32,
    /// 0 is Sunday.
    wday: u32,
    /// 0 to 365.
    yday: u32,
    /// Seconds east of UTC.
    gmtoff: i64,
    zone: String,
}

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a number of days since 1970-01-01: year, month (1 to 12), day.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A date in UTC.
fn utc_tm(t: i64) -> Tm {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400) as u32;
    let (year, m, d) = civil_from_days(days);
    Tm {
        year,
        mon: m - 1,
        mday: d,
        hour: secs / 3600,
        min: secs / 60 % 60,
        sec: secs % 60,
        wday: (days + 4).rem_euclid(7) as u32,
        yday: (days - days_from_civil(year, 1, 1)) as u32,
        gmtoff: 0,
        zone: "GMT".into(),
    }
}

/// A date in the local time zone; `None` if the C library cannot represent it.
// time_t and c_long are i64 on 64-bit targets only.
#[allow(clippy::useless_conversion)]
fn local_tm(t: i64) -> Option<Tm> {
    let tt: libc::time_t = t.try_into().ok()?;
    // SAFETY: an all-zero `tm` is a valid value (integers and a null pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `tt` and writes only into `tm`, both ours and alive.
    if unsafe { libc::localtime_r(&tt, &mut tm) }.is_null() {
        return None;
    }
    let zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: the C library points tm_zone at a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    let u = |x: libc::c_int| u32::try_from(x).ok();
    Some(Tm {
        year: i64::from(tm.tm_year) + 1900,
        mon: u(tm.tm_mon)?,
        mday: u(tm.tm_mday)?,
        hour: u(tm.tm_hour)?,
        min: u(tm.tm_min)?,
        sec: u(tm.tm_sec)?,
        wday: u(tm.tm_wday)?,
        yday: u(tm.tm_yday)?,
        gmtoff: i64::from(tm.tm_gmtoff),
        zone,
    })
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `strftime(3)` in the C locale for `%a %A %b %B %h %C %d %D %e %F %H %I %j %k %l %m %M
/// %n %p %R %s %S %t %T %u %w %y %Y %z %Z %%`; other `%` sequences stay as written.
fn strftime(format: &str, tm: &Tm, t: i64) -> Vec<u8> {
    use std::fmt::Write;
    let mut o = String::new();
    let day = DAYS[(tm.wday % 7) as usize];
    let month = MONTHS[(tm.mon % 12) as usize];
    let hour12 = if tm.hour.is_multiple_of(12) {
        12
    } else {
        tm.hour % 12
    };
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            o.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            o.push('%');
            break;
        };
        let _ = match spec {
            'a' => write!(o, "{}", &day[..3]),
            'A' => write!(o, "{day}"),
            'b' | 'h' => write!(o, "{}", &month[..3]),
            'B' => write!(o, "{month}"),
            'C' => write!(o, "{:02}", tm.year.div_euclid(100)),
            'd' => write!(o, "{:02}", tm.mday),
            'D' => write!(
                o,
                "{:02}/{:02}/{:02}",
                tm.mon + 1,
                tm.mday,
                tm.year.rem_euclid(100)
            ),
            'e' => write!(o, "{:2}", tm.mday),
            'F' => write!(o, "{}-{:02}-{:02}", tm.year, tm.mon + 1, tm.mday),
            'H' => write!(o, "{:02}", tm.hour),
            'I' => write!(o, "{hour12:02}"),
            'j' => write!(o, "{:03}", tm.yday + 1),
            'k' => write!(o, "{:2}", tm.hour),
            'l' => write!(o, "{hour12:2}"),
            'm' => write!(o, "{:02}", tm.mon + 1),
            'M' => write!(o, "{:02}", tm.min),
            'n' => writeln!(o),
            'p' => write!(o, "{}", if tm.hour < 12 { "AM" } else { "PM" }),
            'R' => write!(o, "{:02}:{:02}", tm.hour, tm.min),
            's' => write!(o, "{t}"),
            'S' => write!(o, "{:02}", tm.sec),
            't' => write!(o, "\t"),
            'T' => write!(o, "{:02}:{:02}:{:02}", tm.hour, tm.min, tm.sec),
            'u' => write!(o, "{}", if tm.wday == 0 { 7 } else { tm.wday }),
            'w' => write!(o, "{}", tm.wday),
            'y' => write!(o, "{:02}", tm.year.rem_euclid(100)),
            'Y' => write!(o, "{}", tm.year),
            'z' => {
                let off = tm.gmtoff.abs() / 60;
                let sign = if tm.gmtoff < 0 { '-' } else { '+' };
                write!(o, "{sign}{:02}{:02}", off / 60, off % 60)
            }
            'Z' => write!(o, "{}", tm.zone),
            '%' => write!(o, "%"),
            other => write!(o, "%{other}"),
        };
    }
    o.into_bytes()
}

// --------------------------------------------------------------------- maps

/// How a map compares its keys with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// The whole string.
    Str,
    /// The longest key the input begins with.
    Beg,
    /// A key found in the input.
    Sub,
    /// A key found as whole `/`-separated parts of the input.
    Dir,
    /// A key found as whole `.`-separated labels of the input.
    Dom,
    /// A key the input ends with.
    End,
    /// A regular expression found in the input.
    Reg,
    /// As `Reg`, the value a substitution with the groups (`\1`).
    Regm,
    /// The longest network holding the input address.
    Ip,
    /// An integer or a range (`10:20`, `:5`, `8:`).
    Int,
}

/// The type of a map's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapOut {
    Str,
    Int,
    Ip,
}

/// `map_<match>_<output>` by its name.
fn map_kind(name: &str) -> Option<(MatchKind, MapOut)> {
    if name == "map" {
        return Some((MatchKind::Str, MapOut::Str));
    }
    let rest = name.strip_prefix("map_")?;
    let (m, out) = match rest.rsplit_once('_') {
        Some((m, "int")) => (m, MapOut::Int),
        Some((m, "ip")) => (m, MapOut::Ip),
        _ => (rest, MapOut::Str),
    };
    let kind = match m {
        "str" => MatchKind::Str,
        "beg" => MatchKind::Beg,
        "sub" => MatchKind::Sub,
        "dir" => MatchKind::Dir,
        "dom" => MatchKind::Dom,
        "end" => MatchKind::End,
        "reg" => MatchKind::Reg,
        "regm" if out == MapOut::Str => MatchKind::Regm,
        "ip" => MatchKind::Ip,
        "int" => MatchKind::Int,
        _ => return None,
    };
    Some((kind, out))
}

/// A map converter: its file, read with the configuration, and its default.
#[derive(Debug, Clone, PartialEq)]
pub struct MapConv {
    pub file: String,
    pub kind: MatchKind,
    pub out: MapOut,
    pub default: Option<Value>,
    table: Arc<MapTable>,
}

impl MapConv {
    /// Reads map `file`; `default` as text, checked against the output type.
    pub fn load(
        file: &str,
        kind: MatchKind,
        out: MapOut,
        default: Option<&str>,
    ) -> Result<MapConv, String> {
        if file.is_empty() {
            return Err("needs a map file".into());
        }
        let default = default
            .map(|d| {
                parse_map_value(d.as_bytes(), out).map_err(|e| format!("default value `{d}`: {e}"))
            })
            .transpose()?;
        let text =
            std::fs::read(file).map_err(|e| format!("map file `{file}` cannot be read: {e}"))?;
        let table =
            MapTable::parse(&text, kind, out).map_err(|e| format!("map file `{file}` {e}"))?;
        Ok(MapConv {
            file: file.to_string(),
            kind,
            out,
            default,
            table: Arc::new(table),
        })
    }

    /// How many entries the map has.
    pub fn len(&self) -> usize {
        self.table.values.len()
    }

    /// Whether the map has no entry.
    pub fn is_empty(&self) -> bool {
        self.table.values.is_empty()
    }

    /// The value of the first matching key (the longest for `beg` and `ip`), else the
    /// default.
    fn lookup(&self, v: &Value) -> Option<Value> {
        let t = &*self.table;
        let found = match (&t.index, self.kind) {
            // The value is a substitution with the key's groups.
            (MapIndex::Regex(res), MatchKind::Regm) => {
                let s = str_in(v);
                let hit = res.iter().zip(&t.values).find_map(|(re, val)| {
                    let caps = re.re.captures(&s)?;
                    let mut out = Vec::new();
                    if let MapVal::Subst(subst) = val {
                        subst.expand(&caps, &mut out);
                    }
                    Some(str_value(out))
                });
                return hit.or_else(|| self.default.clone());
            }
            (MapIndex::Regex(res), _) => {
                let s = str_in(v);
                res.iter().position(|re| re.re.is_match(&s))
            }
            (MapIndex::Exact(keys), _) => keys.get(str_in(v).as_ref()).copied(),
            (MapIndex::Prefix(by_len), _) => {
                let s = str_in(v);
                by_len
                    .iter()
                    .find_map(|(len, keys)| keys.get(s.get(..*len)?).copied())
            }
            (MapIndex::Keys(keys), kind) => {
                let s = str_in(v);
                keys.iter().position(|k| match kind {
                    MatchKind::Sub => contains(&s, k),
                    MatchKind::End => s.ends_with(k),
                    MatchKind::Dir => match_word(&s, k, b"/?"),
                    _ => match_word(&s, k, b"/?.:"),
                })
            }
            (MapIndex::Ip(ip), _) => ip.lookup(addr_in(v)?),
            (MapIndex::Int(ranges), _) => {
                let i = int_in(v)?;
                ranges.iter().position(|(lo, hi)| *lo <= i && i <= *hi)
            }
        };
        match found.and_then(|i| t.values.get(i)) {
            Some(MapVal::Value(x)) => Some(x.clone()),
            Some(MapVal::Subst(_)) | None => self.default.clone(),
        }
    }
}

/// The entries of a map file, indexed for its match.
#[derive(Clone, PartialEq)]
struct MapTable {
    /// The values, in file order.
    values: Vec<MapVal>,
    index: MapIndex,
}

/// Maps can be large: only their size is shown.
impl fmt::Debug for MapTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MapTable({} entries)", self.values.len())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum MapVal {
    Value(Value),
    Subst(Subst),
}

/// Keys by match (each refers to the value of the same position, the first of equal
/// keys winning).
#[derive(Debug, Clone, PartialEq)]
enum MapIndex {
    /// `str`.
    Exact(HashMap<Vec<u8>, usize>),
    /// `beg`: by key length, longest first.
    Prefix(Vec<(usize, HashMap<Vec<u8>, usize>)>),
    /// `sub`, `dir`, `dom`, `end`: in file order.
    Keys(Vec<Vec<u8>>),
    /// `reg`, `regm`: in file order.
    Regex(Vec<Regex>),
    Ip(IpIndex),
    /// Inclusive ranges, in file order.
    Int(Vec<(i64, i64)>),
}

/// Networks by prefix length (longest first), and IPv4 networks with masks that are not
/// prefixes, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
struct IpIndex {
    v4: Vec<(u32, HashMap<u32, usize>)>,
    v6: Vec<(u32, HashMap<u128, usize>)>,
    v4_masks: Vec<(u32, u32, usize)>,
}

impl IpIndex {
    fn add(&mut self, net: Net, i: usize) {
        match net {
            Net::V4(a, len) => {
                by_len(&mut self.v4, len)
                    .entry(a & prefix_mask32(len))
                    .or_insert(i);
            }
            Net::V6(a, len) => {
                by_len(&mut self.v6, len)
                    .entry(a & prefix_mask128(len))
                    .or_insert(i);
            }
            Net::V4Mask(a, m) => self.v4_masks.push((a & m, m, i)),
        }
    }

    fn find4(&self, a: u32) -> Option<usize> {
        self.v4
            .iter()
            .find_map(|(len, m)| m.get(&(a & prefix_mask32(*len))).copied())
            .or_else(|| {
                self.v4_masks
                    .iter()
                    .find(|(net, m, _)| a & m == *net)
                    .map(|(_, _, i)| *i)
            })
    }

    fn find6(&self, a: u128) -> Option<usize> {
        self.v6
            .iter()
            .find_map(|(len, m)| m.get(&(a & prefix_mask128(*len))).copied())
    }

    /// An IPv4 address also matches IPv6 networks by its mapped form; an IPv6 address
    /// also matches IPv4 networks when it carries an IPv4 address (::a.b.c.d, 6to4).
    fn lookup(&self, a: IpAddr) -> Option<usize> {
        match a {
            IpAddr::V4(a) => self
                .find4(u32::from(a))
                .or_else(|| self.find6(u128::from(a.to_ipv6_mapped()))),
            IpAddr::V6(a) => self.find6(u128::from(a)).or_else(|| {
                let s = a.segments();
                let v4 = if s[..6] == [0; 6] {
                    (u32::from(s[6]) << 16) | u32::from(s[7])
                } else if s[0] == 0x2002 {
                    (u32::from(s[1]) << 16) | u32::from(s[2])
                } else {
                    return None;
                };
                self.find4(v4)
            }),
        }
    }
}

/// The keys of length `len` in `groups` (longest first), the group added if new.
fn by_len<L: Copy + Ord, K>(
    groups: &mut Vec<(L, HashMap<K, usize>)>,
    len: L,
) -> &mut HashMap<K, usize> {
    let pos = groups
        .iter()
        .position(|(l, _)| *l <= len)
        .unwrap_or(groups.len());
    if groups.get(pos).is_none_or(|(l, _)| *l != len) {
        groups.insert(pos, (len, HashMap::new()));
    }
    &mut groups[pos].1
}

/// A network of an `ip` map key.
enum Net {
    V4(u32, u32),
    V6(u128, u32),
    V4Mask(u32, u32),
}

/// `a.b.c.d`, `a.b.c.d/len`, `a.b.c.d/m.a.s.k`, `x::y`, `x::y/len`.
fn parse_net(s: &str) -> Option<Net> {
    let (addr, mask) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => {
            let a = u32::from(a);
            match mask {
                None => Some(Net::V4(a, 32)),
                Some(m) if m.contains('.') => {
                    let m = u32::from(m.parse::<Ipv4Addr>().ok()?);
                    if m.leading_ones() + m.trailing_zeros() == 32 {
                        Some(Net::V4(a, m.leading_ones()))
                    } else {
                        Some(Net::V4Mask(a, m))
                    }
                }
                Some(m) => Some(Net::V4(a, m.parse::<u32>().ok().filter(|l| *l <= 32)?)),
            }
        }
        IpAddr::V6(a) => {
            let len = match mask {
                None => 128,
                Some(m) => m.parse::<u32>().ok().filter(|l| *l <= 128)?,
            };
            Some(Net::V6(u128::from(a), len))
        }
    }
}

/// An `int` map key: `n`, `lo:hi`, `:hi`, `lo:`.
fn parse_int_range(s: &str) -> Option<(i64, i64)> {
    match s.split_once(':') {
        None => s.parse().ok().map(|i| (i, i)),
        Some((lo, hi)) => {
            let lo = if lo.is_empty() {
                i64::MIN
            } else {
                lo.parse().ok()?
            };
            let hi = if hi.is_empty() {
                i64::MAX
            } else {
                hi.parse().ok()?
            };
            Some((lo, hi))
        }
    }
}

/// A map value (or default) of the output type.
fn parse_map_value(v: &[u8], out: MapOut) -> Result<Value, String> {
    match out {
        MapOut::Str => Ok(str_value(v.to_vec())),
        // A key without a value maps to 0, as in HAProxy.
        MapOut::Int if v.is_empty() => Ok(Value::Int(0)),
        MapOut::Int => std::str::from_utf8(v)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .map(Value::Int)
            .ok_or_else(|| "is not an integer".to_string()),
        MapOut::Ip => std::str::from_utf8(v)
            .ok()
            .and_then(|t| t.trim().parse::<IpAddr>().ok())
            .map(Value::Ip)
            .ok_or_else(|| "is not an address".to_string()),
    }
}

impl MapTable {
    /// Reads a map file's text: `KEY VALUE` a line (the value is the rest of the line,
    /// trimmed), lines starting with `#` and blank lines ignored.
    fn parse(text: &[u8], kind: MatchKind, out: MapOut) -> Result<MapTable, String> {
        let mut values = Vec::new();
        let mut index = match kind {
            MatchKind::Str => MapIndex::Exact(HashMap::new()),
            MatchKind::Beg => MapIndex::Prefix(Vec::new()),
            MatchKind::Sub | MatchKind::Dir | MatchKind::Dom | MatchKind::End => {
                MapIndex::Keys(Vec::new())
            }
            MatchKind::Reg | MatchKind::Regm => MapIndex::Regex(Vec::new()),
            MatchKind::Ip => MapIndex::Ip(IpIndex::default()),
            MatchKind::Int => MapIndex::Int(Vec::new()),
        };
        let blank = |c: &u8| *c == b' ' || *c == b'\t';
        for (n, line) in text.split(|&c| c == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let start = line.iter().position(|c| !blank(c)).unwrap_or(line.len());
            let line = &line[start..];
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let key_end = line.iter().position(blank).unwrap_or(line.len());
            let key = &line[..key_end];
            let rest = &line[key_end..];
            let v_start = rest.iter().position(|c| !blank(c)).unwrap_or(rest.len());
            let v_end = rest
                .iter()
                .rposition(|c| !blank(c))
                .map_or(v_start, |i| i + 1);
            let value = &rest[v_start..v_end.max(v_start)];
            let at = |e: String| format!("line {}: {e}", n + 1);
            let key_text = || String::from_utf8_lossy(key).into_owned();
            let i = values.len();
            values.push(if kind == MatchKind::Regm {
                MapVal::Subst(Subst::parse(&String::from_utf8_lossy(value)).map_err(at)?)
            } else {
                MapVal::Value(
                    parse_map_value(value, out).map_err(|e| {
                        at(format!("value `{}` {e}", String::from_utf8_lossy(value)))
                    })?,
                )
            });
            match &mut index {
                MapIndex::Exact(keys) => {
                    keys.entry(key.to_vec()).or_insert(i);
                }
                MapIndex::Prefix(groups) => {
                    by_len(groups, key.len()).entry(key.to_vec()).or_insert(i);
                }
                MapIndex::Keys(keys) => keys.push(key.to_vec()),
                MapIndex::Regex(res) => res.push(Regex::new(&key_text(), false).map_err(at)?),
                MapIndex::Ip(ip) => ip.add(
                    parse_net(&key_text()).ok_or_else(|| {
                        at(format!("`{}` is not an address or a network", key_text()))
                    })?,
                    i,
                ),
                MapIndex::Int(ranges) => {
                    ranges.push(parse_int_range(&key_text()).ok_or_else(|| {
                        at(format!(
                            "`{}` is not an integer or a range (LO:HI)",
                            key_text()
                        ))
                    })?)
                }
            }
        }
        Ok(MapTable { values, index })
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether `pat` (without delimiters at its ends) is in `s` as whole parts between
/// `delims` (or the ends of `s`).
fn match_word(s: &[u8], pat: &[u8], delims: &[u8]) -> bool {
    let is_d = |c: &u8| delims.contains(c);
    let start = pat.iter().position(|c| !is_d(c)).unwrap_or(pat.len());
    let end = pat.iter().rposition(|c| !is_d(c)).map_or(start, |i| i + 1);
    let pat = &pat[start..end.max(start)];
    if pat.is_empty() || pat.len() > s.len() {
        return false;
    }
    (0..=s.len() - pat.len()).any(|i| {
        (i == 0 || is_d(&s[i - 1]))
            && &s[i..i + pat.len()] == pat
            && (i + pat.len() == s.len() || is_d(&s[i + pat.len()]))
    })
}

#[cfg(test)]
#[path = "conv_tests.rs"]
mod tests;
