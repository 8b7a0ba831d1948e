//! A small spanned YAML tree built from `saphyr-parser`'s event stream.
//!
//! Why not a serde deserializer: envc must know, for every value, where it was written (byte
//! span) and *how* (plain or quoted scalar), so that `1` and `"1"` or `yes` and `"yes"` can be
//! told apart and reported precisely. It must also refuse hostile input cheaply, which this layer
//! owns: caps on the document's size ([`MAX_BYTES`], [`MAX_NODES`]) and nesting depth, and a
//! separate budget for alias expansion (a "billion laughs" file is rejected once aliases have
//! produced [`MAX_ALIAS_NODES`] nodes, not after exhausting memory). Mapping keys are kept in
//! source order with duplicates intact in the tree. YAML 1.1 merge keys (`<<: *a`,
//! `<<: [*a, *b]`) are applied here, as PyYAML's `safe_load` applies them.
//!
//! It is also the front end every YAML input (specs, runtime environments) shares, so both say
//! the same thing the same way: [`entries`] reads a mapping's entries and makes a repeated key
//! an error (E011: a JSON or YAML loader would keep one silently, and envc does not guess which
//! one was meant), and [`report`] turns a parse [`Error`] into its E001/E002 diagnostic.

use crate::diag::{codes, Diagnostics};
use crate::input::source::{CharToByte, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// Largest input envc reads (a spec, a runtime env, `envc.toml`): 8 MiB. Real specs are a few KiB; a 20,000-entry spec takes 0.4 to
/// 3 MB (the corpus's entries average 13 to 50 bytes, its 95th-percentile command 137), so
/// this leaves room for 400 bytes an entry while bounding the work a hostile file can ask for.
pub const MAX_BYTES: usize = 8 << 20;
/// Most nodes the document itself may hold (aliases not counted): ten times the 20,000 entries
/// of a very large spec, which holds an `env_vars` entry in two nodes. It bounds the tree's
/// memory where the byte cap alone would allow four million one-character nodes.
pub const MAX_NODES: usize = 200_000;
/// Deepest nesting of sequences and mappings.
pub const MAX_DEPTH: usize = 64;
/// Most nodes alias expansion may add to the tree (the "billion laughs" defence).
pub const MAX_ALIAS_NODES: usize = 10_000;

/// How a scalar was written. Only plain scalars are subject to YAML's type resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Scalar {
        value: String,
        style: Style,
    },
    Seq(Vec<Node>),
    /// Key/value pairs in source order, duplicates kept.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub span: Span,
    pub kind: Kind,
}

/// What a plain scalar resolves to under the YAML 1.2 core schema, plus the YAML 1.1 booleans
/// (`yes`, `on`, …) that other tools still read as booleans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Null,
    Bool,
    /// A plain decimal integer (`1`, `-3`, `007`).
    DecimalInt,
    /// Octal, hexadecimal or other non-decimal integer forms.
    OtherInt,
    Float,
    Str,
}

impl Node {
    /// The YAML type a scalar denotes; collections are `Str` (callers check `kind` first).
    pub fn resolved(&self) -> Resolved {
        match &self.kind {
            Kind::Scalar {
                value,
                style: Style::Plain,
            } => resolve_plain(value),
            _ => Resolved::Str,
        }
    }

    pub fn is_null(&self) -> bool {
        self.resolved() == Resolved::Null
    }

    /// A short name of the node's type for messages ("a sequence", "a boolean", …).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a sequence",
            Kind::Map(_) => "a mapping",
            Kind::Scalar { .. } => match self.resolved() {
                Resolved::Null => "null",
                Resolved::Bool => "a boolean",
                Resolved::DecimalInt | Resolved::OtherInt => "an integer",
                Resolved::Float => "a number",
                Resolved::Str => "a string",
            },
        }
    }
}

fn resolve_plain(v: &str) -> Resolved {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | "yes" | "Yes" | "YES" | "no"
        | "No" | "NO" | "on" | "On" | "ON" | "off" | "Off" | "OFF" | "y" | "Y" | "n" | "N" => {
            return Resolved::Bool
        }
        ".inf" | ".Inf" | ".INF" | "-.inf" | "-.Inf" | "-.INF" | "+.inf" | ".nan" | ".NaN"
        | ".NAN" => return Resolved::Float,
        _ => {}
    }
    let unsigned = v.strip_prefix(['-', '+']).unwrap_or(v);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Resolved::DecimalInt;
    }
    let is_radix = |p: &str, ok: fn(u8) -> bool| {
        unsigned
            .strip_prefix(p)
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| ok(b) || b == b'_'))
    };
    if is_radix("0x", |b| b.is_ascii_hexdigit())
        || is_radix("0o", |b| (b'0'..=b'7').contains(&b))
        || is_radix("0b", |b| b == b'0' || b == b'1')
        || (unsigned.contains('_') && unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
    {
        return Resolved::OtherInt;
    }
    let float_like = unsigned.bytes().any(|b| b.is_ascii_digit())
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+' | b'_'))
        && unsigned.bytes().filter(|&b| b == b'.').count() <= 1
        && (unsigned.contains('.') || unsigned.contains(['e', 'E']))
        && unsigned.parse::<f64>().is_ok();
    if float_like {
        Resolved::Float
    } else {
        Resolved::Str
    }
}

/// Why the text is not an acceptable YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub span: Span,
    pub message: String,
    /// True when a safety limit (size, depth, aliases) was hit rather than a syntax error.
    pub limit: bool,
}

fn err(span: Span, message: impl Into<String>) -> Error {
    Error {
        span,
        message: message.into(),
        limit: false,
    }
}

/// The size limit's message; `size` is `None` when only "more than the limit" is known (a
/// stream read no further than the limit).
pub fn too_large(size: Option<u64>) -> String {
    let size = size.map_or_else(|| format!("more than {MAX_BYTES}"), |n| n.to_string());
    format!(
        "the file is {size} bytes; envc reads specs of at most {MAX_BYTES} bytes ({} MiB)",
        MAX_BYTES >> 20
    )
}

/// The help of every E002: where envc's limits are explained.
pub const LIMIT_HELP: &str = "see `envc explain E002` for envc's limits";

/// Reports a parse error: E002 when a safety limit was hit (with [`LIMIT_HELP`]), else E001
/// with `syntax_help`, which says what the input should look like.
pub fn report(e: Error, syntax_help: &str, diags: &mut Diagnostics) {
    let (code, help) = if e.limit {
        (codes::YAML_LIMIT, LIMIT_HELP)
    } else {
        (codes::YAML_SYNTAX, syntax_help)
    };
    diags.error(code, e.span, e.message).help(help);
}

/// One mapping entry: the key as text, the key's node and the value's node.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'n, K> {
    pub key: K,
    pub key_node: &'n Node,
    pub value: &'n Node,
}

/// A mapping's entries in source order. A repeated key is reported (E011, with the line of
/// its first occurrence) and left out; `key` gives a key node's text as the caller reads
/// keys, or `None` for a key it has refused and reported itself. `key_text` is how a key's
/// text is compared.
pub fn entries<'n, K>(
    items: &'n [(Node, Node)],
    text: &str,
    diags: &mut Diagnostics,
    mut key: impl FnMut(&'n Node, &mut Diagnostics) -> Option<K>,
    key_text: impl Fn(&K) -> &str,
) -> Vec<Entry<'n, K>> {
    let mut out: Vec<Entry<'n, K>> = Vec::with_capacity(items.len());
    // Key text → its first entry, so a mapping of 100,000 keys is checked in linear time.
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (k, v) in items {
        let Some(name) = key(k, diags) else {
            continue;
        };
        let shown = key_text(&name);
        if let Some(&i) = seen.get(shown) {
            let start = out[i].key_node.span.start;
            // The diagnostics' file indexes its lines once; `text` is that file's text.
            let line = if std::ptr::eq(diags.file().text.as_ptr(), text.as_ptr()) {
                diags.file().line_col(start).line
            } else {
                text[..start].matches('\n').count() + 1
            };
            diags
                .error(
                    codes::DUPLICATE_KEY,
                    k.span,
                    format!("duplicate key `{shown}`"),
                )
                .label(format!("first given on line {line}"))
                .help("remove one of them; envc does not guess which one you meant");
            continue;
        }
        seen.insert(shown.to_string(), out.len());
        out.push(Entry {
            key: name,
            key_node: k,
            value: v,
        });
    }
    out
}

fn limit(span: Span, message: impl Into<String>) -> Error {
    Error {
        span,
        message: message.into(),
        limit: true,
    }
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        items: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

fn count_nodes(n: &Node) -> usize {
    match &n.kind {
        Kind::Scalar { .. } => 1,
        Kind::Seq(v) => 1 + v.iter().map(count_nodes).sum::<usize>(),
        Kind::Map(v) => {
            1 + v
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

/// Parses exactly one YAML document. An empty stream gives `Ok(None)`.
pub fn parse(text: &str) -> Result<Option<Node>, Error> {
    if text.len() > MAX_BYTES {
        return Err(limit(Span::new(0, 0), too_large(Some(text.len() as u64))));
    }
    let map = CharToByte::new(text);
    let span_of =
        |s: &saphyr_parser::Span| Span::new(map.byte(s.start.index()), map.byte(s.end.index()));
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    // Each anchored node with its size, so an alias costs one lookup, not a walk.
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut nodes = 0usize;
    let mut alias_nodes = 0usize;
    let mut root: Option<Node> = None;
    let mut documents = 0usize;

    while let Some(item) = parser.next_event() {
        let (event, raw_span) = item.map_err(|e| {
            let at = map.byte(e.marker().index());
            // The scanner has its own nesting guard, reached before ours on deep flow
            // collections (`[[[[…`): it is the same limit to the user.
            if e.info().contains("recursion limit") {
                limit(
                    Span::new(at, at),
                    format!("nesting is deeper than {MAX_DEPTH} levels"),
                )
            } else {
                err(Span::new(at, at), e.info().to_string())
            }
        })?;
        let span = span_of(&raw_span);
        let done: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(err(
                        span,
                        "the file holds more than one YAML document; a spec is one document",
                    ));
                }
                None
            }
            Event::Alias(id) => {
                let Some((target, size)) = anchors.get(&id) else {
                    return Err(err(span, "alias to an unknown anchor"));
                };
                alias_nodes += size;
                if alias_nodes > MAX_ALIAS_NODES {
                    return Err(limit(
                        span,
                        format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                    ));
                }
                let mut copy = target.clone();
                copy.span = span;
                Some((copy, 0))
            }
            Event::Scalar(value, style, anchor, tag) => {
                nodes += 1;
                let mut style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                };
                if let Some(tag) = tag {
                    check_tag(&tag, span, true)?;
                    // `!!str 1` is the string "1".
                    style = Style::Quoted;
                }
                let node = Node {
                    span,
                    kind: Kind::Scalar {
                        value: value.into_owned(),
                        style,
                    },
                };
                Some((node, anchor))
            }
            ref ev @ (Event::SequenceStart(anchor, ref tag)
            | Event::MappingStart(anchor, ref tag)) => {
                if let Some(tag) = tag {
                    check_tag(tag, span, false)?;
                }
                nodes += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(limit(
                        span,
                        format!("nesting is deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let is_seq = matches!(ev, Event::SequenceStart(..));
                stack.push(if is_seq {
                    Frame::Seq {
                        start: span.start,
                        anchor,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        start: span.start,
                        anchor,
                        items: Vec::new(),
                        key: None,
                    }
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq {
                    start,
                    anchor,
                    items,
                }) => {
                    let end = items.last().map_or(span.end, |n| n.span.end.max(start));
                    Some((
                        Node {
                            span: Span::new(start, end),
                            kind: Kind::Seq(items),
                        },
                        anchor,
                    ))
                }
                Some(Frame::Map {
                    start,
                    anchor,
                    items,
                    ..
                }) => {
                    // The end is the last value as written (merged values lie elsewhere).
                    let end = items
                        .last()
                        .map_or(span.end, |(_, v)| v.span.end.max(start));
                    Some((
                        Node {
                            span: Span::new(start, end),
                            kind: Kind::Map(merge(items)?),
                        },
                        anchor,
                    ))
                }
                None => return Err(err(span, "unbalanced YAML structure")),
            },
        };
        if nodes > MAX_NODES {
            return Err(limit(
                span,
                format!("the document has more than {MAX_NODES} nodes"),
            ));
        }
        if let Some((node, anchor)) = done {
            if anchor != 0 {
                anchors.insert(anchor, (node.clone(), count_nodes(&node)));
            }
            match stack.last_mut() {
                Some(Frame::Seq { items, .. }) => items.push(node),
                Some(Frame::Map { items, key, .. }) => match key.take() {
                    Some(k) => items.push((k, node)),
                    None => *key = Some(node),
                },
                None => root = Some(node),
            }
        }
    }
    Ok(root)
}

fn is_merge_key(k: &Node) -> bool {
    matches!(&k.kind, Kind::Scalar { value, style: Style::Plain } if value == "<<")
}

const MERGE_HELP: &str =
    "`<<` merges a mapping (`<<: *common`) or a list of mappings (`<<: [*a, *b]`)";

/// Applies YAML 1.1 merge keys (<https://yaml.org/type/merge.html>) to one mapping's items, as
/// PyYAML's `flatten_mapping` does: the merged pairs come first (from a list, earlier mappings
/// override later ones), then the mapping's own pairs, and a key keeps its first position and
/// takes its last value. Merged keys therefore never count as duplicates, while two of the
/// mapping's own pairs with one key stay for the spec's duplicate check. Mappings being merged
/// were flattened when they were built. Merged nodes keep their spans: at the anchor's text.
fn merge(items: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, Error> {
    if !items.iter().any(|(k, _)| is_merge_key(k)) {
        return Ok(items);
    }
    let mut merged: Vec<(Node, Node)> = Vec::new();
    let mut own = Vec::new();
    let mut seen_merge = false;
    for (k, v) in items {
        if !is_merge_key(&k) {
            own.push((k, v));
            continue;
        }
        if seen_merge {
            return Err(err(
                k.span,
                "a second merge key `<<` in one mapping; merge several mappings with one list: `<<: [*a, *b]`",
            ));
        }
        seen_merge = true;
        match v.kind {
            Kind::Map(m) => merged.extend(m),
            Kind::Seq(list) => {
                let mut maps = Vec::with_capacity(list.len());
                for n in list {
                    match n.kind {
                        Kind::Map(m) => maps.push(m),
                        _ => {
                            return Err(err(
                                n.span,
                                format!("a merge key's list holds {}, not a mapping; {MERGE_HELP}", n.type_name()),
                            ))
                        }
                    }
                }
                merged.extend(maps.into_iter().rev().flatten());
            }
            _ => {
                return Err(err(
                    v.span,
                    format!(
                        "the merge key `<<` is given {}; {MERGE_HELP}. To use `<<` as an ordinary key, quote it: `\"<<\"`",
                        v.type_name()
                    ),
                ))
            }
        }
    }
    let name = |n: &Node| match &n.kind {
        Kind::Scalar { value, .. } => Some(value.clone()),
        _ => None,
    };
    let mut out: Vec<(Node, Node)> = Vec::with_capacity(merged.len() + own.len());
    let mut at: HashMap<String, usize> = HashMap::new();
    for (k, v) in merged {
        match name(&k) {
            Some(n) if at.contains_key(&n) => out[at[&n]] = (k, v),
            Some(n) => {
                at.insert(n, out.len());
                out.push((k, v));
            }
            None => out.push((k, v)),
        }
    }
    for (k, v) in own {
        match name(&k).and_then(|n| at.remove(&n)) {
            Some(i) => out[i] = (k, v),
            None => out.push((k, v)),
        }
    }
    Ok(out)
}

fn check_tag(tag: &saphyr_parser::Tag, span: Span, scalar: bool) -> Result<(), Error> {
    let is_core = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
    let name = format!("{}{}", tag.handle, tag.suffix);
    match (is_core, tag.suffix.as_str(), scalar) {
        (true, "str", true) | (true, "seq", false) | (true, "map", false) => Ok(()),
        _ => Err(err(
            span,
            format!("the YAML tag `{name}` is not supported; remove it (quote a value to make it a string)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(n: &Node) -> (&str, Style) {
        match &n.kind {
            Kind::Scalar { value, style } => (value, *style),
            _ => panic!("not a scalar"),
        }
    }

    #[test]
    fn keeps_spans_styles_and_duplicates() {
        let text = "a: 1\nb: \"x\"\na: |\n  line\n";
        let root = parse(text).unwrap().unwrap();
        let Kind::Map(items) = &root.kind else {
            panic!()
        };
        assert_eq!(items.len(), 3);
        assert_eq!(scalar(&items[0].1), ("1", Style::Plain));
        assert_eq!(items[0].1.resolved(), Resolved::DecimalInt);
        assert_eq!(scalar(&items[1].1), ("x", Style::Quoted));
        assert_eq!(&text[items[1].1.span.start..items[1].1.span.end], "\"x\"");
        assert_eq!(scalar(&items[2].1).1, Style::Block);
        assert_eq!(&text[items[2].0.span.start..items[2].0.span.end], "a");
    }

    #[test]
    fn resolves_plain_scalars() {
        for (v, r) in [
            ("", Resolved::Null),
            ("~", Resolved::Null),
            ("yes", Resolved::Bool),
            ("off", Resolved::Bool),
            ("1", Resolved::DecimalInt),
            ("007", Resolved::DecimalInt),
            ("0x1F", Resolved::OtherInt),
            ("0o17", Resolved::OtherInt),
            ("1.5", Resolved::Float),
            ("1e3", Resolved::Float),
            (".inf", Resolved::Float),
            ("1.2.3", Resolved::Str),
            ("2.9.0", Resolved::Str),
            ("abc", Resolved::Str),
        ] {
            assert_eq!(resolve_plain(v), r, "{v}");
        }
    }

    #[test]
    fn billion_laughs_is_refused_quickly() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='j' {
            text.push_str(&format!(
                "{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = c;
        }
        let e = parse(&text).unwrap_err();
        assert!(e.limit, "{e:?}");
    }

    #[test]
    fn depth_and_size_limits() {
        for n in [100, 10_000] {
            let deep = format!("{}{}", "[".repeat(n), "]".repeat(n));
            assert!(parse(&deep).unwrap_err().limit, "{n}");
        }
        let big = "a".repeat(MAX_BYTES + 1);
        assert!(parse(&big).unwrap_err().limit);
    }

    /// The tree as JSON, mappings as `[[key, value], …]` in order, scalars as strings.
    fn to_json(n: &Node) -> serde_json::Value {
        match &n.kind {
            Kind::Scalar { value, .. } => value.clone().into(),
            Kind::Seq(v) => v.iter().map(to_json).collect(),
            Kind::Map(v) => v
                .iter()
                .map(|(k, v)| serde_json::json!([to_json(k), to_json(v)]))
                .collect(),
        }
    }

    /// Documents with merge keys, and what PyYAML's `safe_load` makes of them (checked below
    /// against PyYAML itself when python3 has it).
    const MERGES: &[(&str, &str)] = &[
        (
            "c: &c {A: a, B: b}\ne: {<<: *c, B: two}\n",
            r#"[["c",[["A","a"],["B","b"]]],["e",[["A","a"],["B","two"]]]]"#,
        ),
        (
            "a: &a {X: a1, Y: a2}\nb: &b {X: b1, Z: b3}\ne:\n  W: w\n  <<: [*a, *b]\n",
            r#"[["a",[["X","a1"],["Y","a2"]]],["b",[["X","b1"],["Z","b3"]]],["e",[["X","a1"],["Z","b3"],["Y","a2"],["W","w"]]]]"#,
        ),
        (
            "e:\n  <<: {K: merged, L: l}\n  K: own\n",
            r#"[["e",[["K","own"],["L","l"]]]]"#,
        ),
        (
            "x-base: &base {A: base, B: base}\nx-mid: &mid\n  <<: *base\n  B: mid\ne:\n  <<: *mid\n  C: own\n",
            r#"[["x-base",[["A","base"],["B","base"]]],["x-mid",[["A","base"],["B","mid"]]],["e",[["A","base"],["B","mid"],["C","own"]]]]"#,
        ),
        (
            "e: {\"<<\": literal}\n",
            r#"[["e",[["<<","literal"]]]]"#,
        ),
        (
            "x-top: &top {base_image: img, env_vars: {A: a}}\n<<: *top\nenv_vars: {B: b}\n",
            r#"[["base_image","img"],["env_vars",[["B","b"]]],["x-top",[["base_image","img"],["env_vars",[["A","a"]]]]]]"#,
        ),
        (
            "d: &d {k: v}\nl:\n  - <<: *d\n    j: w\n  - {<<: [*d], k: own}\n",
            r#"[["d",[["k","v"]]],["l",[[["k","v"],["j","w"]],[["k","own"]]]]]"#,
        ),
    ];

    #[test]
    fn merge_keys_as_pyyaml_reads_them() {
        for (doc, want) in MERGES {
            let got = to_json(&parse(doc).unwrap().unwrap());
            let want: serde_json::Value = serde_json::from_str(want).unwrap();
            assert_eq!(got, want, "{doc}");
        }
        // Spans of merged values are at the anchor's text; an own key's at its own.
        let doc = "c: &c {A: a, B: b}\ne: {<<: *c, B: two}\n";
        let root = parse(doc).unwrap().unwrap();
        let Kind::Map(top) = &root.kind else { panic!() };
        let Kind::Map(e) = &top[1].1.kind else {
            panic!()
        };
        assert_eq!(&doc[e[0].1.span.start..e[0].1.span.end], "a");
        assert_eq!(e[0].1.span.start, doc.find("a,").unwrap());
        assert_eq!(&doc[e[1].1.span.start..e[1].1.span.end], "two");
        // Two own keys stay duplicated for the spec's E011; merged ones never are duplicates.
        let root = parse("c: &c {A: a}\ne: {<<: *c, B: 1, B: 2}\n")
            .unwrap()
            .unwrap();
        let Kind::Map(top) = &root.kind else { panic!() };
        let Kind::Map(e) = &top[1].1.kind else {
            panic!()
        };
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn merge_keys_match_pyyaml() {
        let script = "import sys, json, yaml\n\
            def j(v):\n\
            \x20   if isinstance(v, dict): return [[j(k), j(x)] for k, x in v.items()]\n\
            \x20   if isinstance(v, list): return [j(x) for x in v]\n\
            \x20   return v\n\
            for doc in json.load(sys.stdin): print(json.dumps(j(yaml.safe_load(doc))))\n";
        let docs: Vec<&str> = MERGES.iter().map(|(d, _)| *d).collect();
        let child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("skipping: python3 not found");
            return;
        };
        use std::io::Write as _;
        let input = serde_json::to_vec(&docs).unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            eprintln!(
                "skipping: python3 has no PyYAML ({})",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        assert_eq!(lines.len(), docs.len());
        for ((doc, _), line) in MERGES.iter().zip(lines) {
            let py: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(to_json(&parse(doc).unwrap().unwrap()), py, "{doc}");
        }
    }

    #[test]
    fn bad_merge_values_are_refused_with_the_rewrite() {
        for (doc, says) in [
            ("e: {<<: scalar}\n", "quote it"),
            ("a: &a x\ne: {<<: *a}\n", "a string"),
            ("a: &a {A: 1}\ne: {<<: [*a, x]}\n", "not a mapping"),
            ("a: &a {A: 1}\ne:\n  <<: *a\n  <<: *a\n", "`<<: [*a, *b]`"),
        ] {
            let e = parse(doc).unwrap_err();
            assert!(!e.limit && e.message.contains(says), "{doc}: {e:?}");
            assert!(e.span.end > 0, "{doc}: located");
        }
    }

    /// Plain entries are not aliases: a 20,000-entry spec is well inside the limits.
    #[test]
    fn a_20000_entry_spec_passes() {
        let mut text = String::from("base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n");
        for i in 0..20_000 {
            text.push_str(&format!(
                "  VARIABLE_NUMBER_{i}: \"some value of a typical length {i}\"\n"
            ));
        }
        text.push_str("post_build_cmds:\n");
        for i in 0..20_000 {
            text.push_str(&format!(
                "  - pip install --no-cache-dir some-package-{i}==1.2.3 && echo done-{i} >> /tmp/log\n"
            ));
        }
        assert!(text.len() < MAX_BYTES / 2, "{}", text.len());
        let root = parse(&text).unwrap().unwrap();
        assert!(count_nodes(&root) > 60_000);
    }

    /// Aliases are bounded on their own: a file of nothing but references to one small anchor
    /// fails at the alias budget however small the document is, and fast.
    #[test]
    fn alias_budget_is_separate_and_fast() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\nb: [");
        text.push_str(&"*a, ".repeat(MAX_ALIAS_NODES / 10 - 1));
        text.push_str("*a]\n");
        parse(&text).unwrap();
        text.insert_str(text.len() - 2, ", *a");
        let e = parse(&text).unwrap_err();
        assert!(e.limit && e.message.contains("aliases"), "{e:?}");

        // A huge bomb: ten levels of ten, then the rest of the size limit full of references
        // to the top level. Refused at the first over-budget alias, long before the end.
        let mut bomb = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*l{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
        }
        bomb.push_str("all: [");
        while bomb.len() < MAX_BYTES - 16 {
            bomb.push_str("*l9, ");
        }
        bomb.push_str("*l9]\n");
        let t = std::time::Instant::now();
        let e = parse(&bomb).unwrap_err();
        assert!(e.limit && e.message.contains("aliases"), "{e:?}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn document_node_limit_is_not_an_alias_limit() {
        let text = format!("a: [{}x]\n", "x, ".repeat(MAX_NODES));
        assert!(text.len() < MAX_BYTES);
        let e = parse(&text).unwrap_err();
        assert!(e.limit && e.message.contains("200000 nodes"), "{e:?}");
        assert!(!e.message.contains("alias"), "{e:?}");
    }

    #[test]
    fn size_error_states_the_real_size() {
        let big = "a".repeat(2_000_039 + MAX_BYTES);
        let e = parse(&big).unwrap_err();
        assert!(e.limit);
        assert!(e.message.contains(&format!("{} bytes", big.len())), "{e:?}");
    }

    #[test]
    fn small_aliases_are_expanded() {
        let root = parse("x: &v hello\ny: *v\n").unwrap().unwrap();
        let Kind::Map(items) = &root.kind else {
            panic!()
        };
        assert_eq!(scalar(&items[1].1).0, "hello");
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(!e.limit);
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(e.message.contains("more than one"));
        assert!(parse("a: !!python/object x\n").is_err());
        assert!(parse("").unwrap().is_none());
    }
}
