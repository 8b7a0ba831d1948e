//! Python's view of a YAML value, for Ray's messages and rules: what a scalar loads as
//! (envc's YAML resolution, except that PyYAML reads `y`/`n` as strings), the JSON value Python
//! would hold, its truthiness, and `type()`, `str()` and `repr()` as CPython prints them
//! (floats, string quoting), plus `pathlib`'s normalisation of a path and its suffix.

use crate::input::yaml::{Kind, Node, Resolved};
use serde_json::{Map, Value};

/// What a scalar loads as in Python: envc's YAML resolution, except that PyYAML reads `y`,
/// `Y`, `n` and `N` as strings, not booleans.
pub(crate) fn res(n: &Node) -> Resolved {
    match &n.kind {
        Kind::Scalar { value, .. } if matches!(value.as_str(), "y" | "Y" | "n" | "N") => {
            Resolved::Str
        }
        _ => n.resolved(),
    }
}

/// The string a scalar holds, when Python would load it as a `str`.
pub(crate) fn str_value(n: &Node) -> Option<&str> {
    match &n.kind {
        Kind::Scalar { value, .. } if res(n) == Resolved::Str => Some(value),
        _ => None,
    }
}

pub(crate) fn bool_value(n: &Node) -> Option<bool> {
    match &n.kind {
        Kind::Scalar { value, .. } if res(n) == Resolved::Bool => Some(matches!(
            value.as_str(),
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON"
        )),
        _ => None,
    }
}

/// An integer scalar (not a boolean: envc refuses `true` as a number of seconds).
pub(crate) fn int_value(n: &Node) -> Option<i64> {
    match to_value(n) {
        Value::Number(x) if matches!(res(n), Resolved::DecimalInt | Resolved::OtherInt) => {
            x.as_i64()
        }
        _ => None,
    }
}

fn parse_int(raw: &str) -> Option<i128> {
    let (neg, u) = match raw.as_bytes().first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    let u = u.replace('_', "");
    let v = if let Some(h) = u.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(o) = u.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()?
    } else if let Some(b) = u.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else {
        u.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

fn parse_float(raw: &str) -> f64 {
    let l = raw.to_ascii_lowercase();
    match l.trim_start_matches('+') {
        ".inf" => f64::INFINITY,
        "-.inf" => f64::NEG_INFINITY,
        ".nan" => f64::NAN,
        s => s.replace('_', "").parse().unwrap_or(f64::NAN),
    }
}

/// The node as the JSON value Python would load (YAML 1.1 booleans included).
pub(crate) fn to_value(n: &Node) -> Value {
    match &n.kind {
        Kind::Seq(items) => Value::Array(items.iter().map(to_value).collect()),
        Kind::Map(items) => {
            let mut m = Map::new();
            for (k, v) in items {
                let key = match &k.kind {
                    Kind::Scalar { value, .. } => value.clone(),
                    _ => to_value(k).to_string(),
                };
                m.insert(key, to_value(v));
            }
            Value::Object(m)
        }
        Kind::Scalar { value, .. } => match res(n) {
            Resolved::Null => Value::Null,
            Resolved::Bool => Value::Bool(bool_value(n).unwrap_or(false)),
            Resolved::DecimalInt | Resolved::OtherInt => match parse_int(value) {
                Some(i) if i64::try_from(i).is_ok() => Value::from(i as i64),
                Some(i) if u64::try_from(i).is_ok() => Value::from(i as u64),
                _ => Value::String(value.clone()),
            },
            Resolved::Float => serde_json::Number::from_f64(parse_float(value))
                .map_or_else(|| Value::String(value.clone()), Value::Number),
            Resolved::Str => Value::String(value.clone()),
        },
    }
}

pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `type(x)` of what the node loads as.
pub(crate) fn py_type(n: &Node) -> &'static str {
    match &n.kind {
        Kind::Seq(_) => "<class 'list'>",
        Kind::Map(_) => "<class 'dict'>",
        Kind::Scalar { .. } => match res(n) {
            Resolved::Null => "<class 'NoneType'>",
            Resolved::Bool => "<class 'bool'>",
            Resolved::DecimalInt | Resolved::OtherInt => "<class 'int'>",
            Resolved::Float => "<class 'float'>",
            Resolved::Str => "<class 'str'>",
        },
    }
}

/// Python's `str(x)` (an f-string's `{x}`).
pub(crate) fn py_str(n: &Node) -> String {
    match str_value(n) {
        Some(s) => s.to_string(),
        None => py_repr(n),
    }
}

/// Python's `repr(x)`.
pub(crate) fn py_repr(n: &Node) -> String {
    match &n.kind {
        Kind::Seq(items) => {
            let v: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", v.join(", "))
        }
        Kind::Map(items) => {
            let v: Vec<String> = items
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
                .collect();
            format!("{{{}}}", v.join(", "))
        }
        Kind::Scalar { value, .. } => match res(n) {
            Resolved::Str => py_str_repr(value),
            Resolved::Null => "None".into(),
            Resolved::Bool => if bool_value(n) == Some(true) {
                "True"
            } else {
                "False"
            }
            .into(),
            Resolved::DecimalInt | Resolved::OtherInt => match parse_int(value) {
                Some(i) => i.to_string(),
                None => value.clone(),
            },
            Resolved::Float => py_float(parse_float(value)),
        },
    }
}

pub(crate) fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

pub(crate) fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        return format!("{m}e{sign}{digits:0>2}");
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// `str(pathlib.Path(raw))`: empty and `.` components dropped, repeated slashes collapsed.
pub(crate) fn py_path(raw: &str) -> String {
    let prefix = if raw.starts_with("//") && !raw.starts_with("///") {
        "//"
    } else if raw.starts_with('/') {
        "/"
    } else {
        ""
    };
    let parts: Vec<&str> = raw
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let joined = parts.join("/");
    if prefix.is_empty() && joined.is_empty() {
        ".".into()
    } else {
        format!("{prefix}{joined}")
    }
}

/// `pathlib.Path(raw).suffix`.
pub(crate) fn py_suffix(raw: &str) -> &str {
    let name = raw.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => &name[i..],
        _ => "",
    }
}
