//! Environment variables: validated names and values with `$` references.
//!
//! The one rule for `$` (documented in the README and `envc explain E023`): `$NAME` and
//! `${NAME}` are references, expanded against earlier `env_vars` and the base image's
//! environment exactly as a Dockerfile `ENV` expands them (unset → empty string); `$$` is a
//! literal `$`; every other `$` form is refused. A value is therefore a list of
//! [`Segment`]s, and each backend writes them in its own syntax: the Dockerfile as `\$` and
//! `${NAME}`, the OCI image by expanding them itself — so a reference means the same in both.

use std::fmt::Write;

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct VarName(String);

/// Read back (a stored plan) through the same check as the spec's names.
impl<'de> serde::Deserialize<'de> for VarName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<VarName, D::Error> {
        VarName::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl VarName {
    pub fn parse(s: &str) -> Result<VarName, String> {
        if is_name(s) {
            Ok(VarName(s.to_string()))
        } else if s.is_empty() {
            Err("the variable name is empty".into())
        } else {
            Err(format!(
                "`{}` is not a valid variable name",
                s.escape_debug()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A piece of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Ref(VarName),
}

/// A value: literal text and references, free of NUL/CR/LF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvValue {
    segments: Vec<Segment>,
}

/// Where in the value a `$` was misused (byte offset into the value) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DollarError {
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

impl EnvValue {
    /// Splits `raw` into literals and references. `raw` must already be free of control
    /// characters (checked by the caller, which owns that diagnostic).
    pub fn parse(raw: &str) -> Result<EnvValue, DollarError> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let bytes = raw.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            let Some(rel) = raw[i..].find('$') else {
                lit.push_str(&raw[i..]);
                break;
            };
            lit.push_str(&raw[i..i + rel]);
            let at = i + rel;
            let rest = &raw[at + 1..];
            if rest.starts_with('$') {
                lit.push('$');
                i = at + 2;
                continue;
            }
            let (name, consumed) = if let Some(inner) = rest.strip_prefix('{') {
                match inner.find('}') {
                    Some(close) if is_name(&inner[..close]) => (&inner[..close], close + 3),
                    _ => {
                        let len = inner.find('}').map_or(raw.len() - at, |c| c + 3);
                        return Err(DollarError {
                            offset: at,
                            len,
                            message: "only `${NAME}` is allowed inside braces (no `:-`, `:+`, `#` or other shell forms)".into(),
                        });
                    }
                }
            } else {
                let n = rest
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                if n == 0 || bytes[at + 1].is_ascii_digit() {
                    return Err(DollarError {
                        offset: at,
                        len: 1 + usize::from(!rest.is_empty()),
                        message:
                            "`$` must start a reference `$NAME` or `${NAME}`, or be written `$$`"
                                .into(),
                    });
                }
                (&rest[..n], n + 1)
            };
            if !lit.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut lit)));
            }
            segments.push(Segment::Ref(VarName(name.to_string())));
            i = at + consumed;
        }
        if !lit.is_empty() {
            segments.push(Segment::Literal(lit));
        }
        Ok(EnvValue { segments })
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The canonical spelling: references as `${NAME}`, literal dollars as `$$`. Two spellings of
    /// the same value (`$PATH`, `${PATH}`) have the same canonical form, hence the same digest.
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => s.push_str(&l.replace('$', "$$")),
                Segment::Ref(n) => {
                    let _ = write!(s, "${{{}}}", n.0);
                }
            }
        }
        s
    }

    /// Expands references with `lookup` (unset → empty), as a Dockerfile build does.
    pub fn expand<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
        let mut s = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => s.push_str(l),
                Segment::Ref(n) => s.push_str(lookup(&n.0).unwrap_or("")),
            }
        }
        s
    }

    pub fn references(&self) -> impl Iterator<Item = &VarName> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Ref(n) => Some(n),
            Segment::Literal(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(VarName::parse("RAY_task_oom_retries").is_ok());
        assert!(VarName::parse("_X1").is_ok());
        assert!(VarName::parse("1X").is_err());
        assert!(VarName::parse("A-B").is_err());
        assert!(VarName::parse("").is_err());
    }

    #[test]
    fn references_and_literals() {
        let v = EnvValue::parse("/opt/x/bin:$PATH").unwrap();
        assert_eq!(v.canonical(), "/opt/x/bin:${PATH}");
        assert_eq!(
            EnvValue::parse("/opt/x/bin:${PATH}").unwrap(),
            v,
            "both spellings are one value"
        );
        let v = EnvValue::parse(r#"5$$ "q" \n"#).unwrap();
        assert_eq!(v.canonical(), r#"5$$ "q" \n"#);
        assert_eq!(v.expand(|_| None), r#"5$ "q" \n"#);
        let v = EnvValue::parse("$A$B-x").unwrap();
        assert_eq!(v.expand(|n| if n == "A" { Some("1") } else { None }), "1-x");
        assert_eq!(v.references().count(), 2);
    }

    #[test]
    fn other_dollar_forms_are_refused() {
        for bad in [
            "${X:-y}", "${X", "$", "a$", "$1", "$(pwd)", "${}", "$-", "${X#y}",
        ] {
            let e = EnvValue::parse(bad).unwrap_err();
            assert!(e.offset < bad.len(), "{bad}");
        }
    }
}
