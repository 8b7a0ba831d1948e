//! `pip`: a list of requirements, the path of a requirements file, or a mapping of `packages`,
//! `pip_check` and `pip_version`. A requirements file is read through the one input reader
//! (size cap, UTF-8) and split as Ray splits it ([`requirements_lines`]); packages are
//! deduplicated keeping the first, and a `pip` with none is dropped, as Ray drops it.

use super::{dedup, Cx, PipSpec};
use crate::diag::codes;
use crate::input::read::{self, TextError};
use crate::input::yaml::{Kind, Node, Resolved};
use crate::runtime_env::python::{bool_value, py_path, py_repr, py_type, res, str_value};
use std::path::PathBuf;

/// What `Cx::packages` found.
enum Packages<'n> {
    /// The packages, and the requirements file they came from.
    Read(Vec<String>, Option<PathBuf>),
    /// An error was already reported (a requirements file that cannot be read).
    Reported,
    /// A list entry that is not a string.
    BadEntry(&'n Node),
    /// Neither a string nor a list.
    WrongType,
}

impl Cx<'_> {
    pub(super) fn pip(&mut self, node: &Node) -> Option<PipSpec> {
        let mut spec = PipSpec::default();
        if let Kind::Map(_) = node.kind {
            spec = self.pip_map(node)?;
        } else {
            match self.packages(node) {
                Packages::Read(packages, file) => {
                    spec.packages = packages;
                    spec.requirements_file = file;
                }
                Packages::Reported => return None,
                Packages::BadEntry(bad) => {
                    self.error(
                        codes::RTE_PIP,
                        bad.span,
                        format!(
                            "runtime_env['pip'] must be of type str or List[str], got {}",
                            py_type(node)
                        ),
                        format!(
                            "this entry is {}: every requirement is a string (quote it)",
                            py_type(bad)
                        ),
                    );
                    return None;
                }
                Packages::WrongType => {
                    self.error(
                        codes::RTE_PIP,
                        node.span,
                        format!(
                            "runtime_env['pip'] must be of type str or List[str], got {}",
                            py_type(node)
                        ),
                        "give a list of requirements (`[\"requests==2.31.0\"]`) or the path of a \
                     requirements file"
                            .into(),
                    );
                    return None;
                }
            }
        }
        spec.packages = dedup(&spec.packages);
        // Ray drops a pip field with no packages.
        (!spec.packages.is_empty()).then_some(spec)
    }

    /// Ray's refusal of a key `runtime_env[FIELD]` does not have (`allowed`, listed in Ray's
    /// words: `a, b and c`); false when there is one.
    fn only_fields(&mut self, field: &str, entries: &[super::Entry<'_>], allowed: &[&str]) -> bool {
        let Some((bad, k, _)) = entries
            .iter()
            .find(|(k, _, _)| !allowed.contains(&k.as_str()))
        else {
            return true;
        };
        let got: Vec<String> = entries.iter().map(|(_, k, _)| py_repr(k)).collect();
        let help = match crate::spec::suggest(bad, allowed) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("remove `{bad}`"),
        };
        let listed = match allowed {
            [] => String::new(),
            [one] => one.to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        };
        self.error(
            codes::RTE_PIP,
            k.span,
            format!(
                "runtime_env['{field}'] can only have these fields: {listed}, but got: [{}]",
                got.join(", ")
            ),
            help,
        );
        false
    }

    fn pip_map(&mut self, node: &Node) -> Option<PipSpec> {
        let entries = self.entries(node);
        // Ray 2.49 added `pip_install_options`.
        let fields: &[&str] = if self.ray.pip_install_options {
            &[
                "packages",
                "pip_check",
                "pip_install_options",
                "pip_version",
            ]
        } else {
            &["packages", "pip_check", "pip_version"]
        };
        if !self.only_fields("pip", &entries, fields) {
            return None;
        }
        let mut spec = PipSpec::default();
        let mut ok = true;
        let mut packages = None;
        for (key, _, v) in &entries {
            match key.as_str() {
                "pip_check" => match bool_value(v) {
                    Some(b) => spec.pip_check = Some(b),
                    None => {
                        ok = false;
                        self.error(
                            codes::RTE_PIP,
                            v.span,
                            format!(
                                "runtime_env['pip']['pip_check'] must be of type bool, got {}",
                                py_type(v)
                            ),
                            "write `true` or `false` (unquoted)".into(),
                        );
                    }
                },
                "pip_version" => match str_value(v) {
                    Some(s) => spec.pip_version = Some(s.to_string()),
                    None => {
                        ok = false;
                        self.error(
                            codes::RTE_PIP,
                            v.span,
                            format!(
                                "runtime_env['pip']['pip_version'] must be of type str, got {}",
                                py_type(v)
                            ),
                            "quote it, with its operator: `\"==23.3.1\"`".into(),
                        );
                    }
                },
                "pip_install_options" => {
                    match self.install_options(v, "pip", "pip_install_options") {
                        Some(o) => spec.pip_install_options = Some(o),
                        None => ok = false,
                    }
                }
                _ => packages = Some(*v),
            }
        }
        if !ok {
            return None;
        }
        let Some(p) = packages else {
            self.error(
                codes::RTE_PIP,
                node.span,
                format!(
                    "runtime_env['pip'] must include field 'packages', but got {}",
                    py_repr(node)
                ),
                "add `packages`: a list of requirements or the path of a requirements file".into(),
            );
            return None;
        };
        match self.packages(p) {
            Packages::Read(packages, file) => {
                spec.packages = packages;
                spec.requirements_file = file;
            }
            Packages::Reported => return None,
            Packages::BadEntry(bad) => {
                self.error(
                    codes::RTE_PIP,
                    bad.span,
                    format!(
                        "runtime_env['pip']['packages'] entries must be strings, got {}",
                        py_type(bad)
                    ),
                    "quote the requirement".into(),
                );
                return None;
            }
            Packages::WrongType => {
                self.error(
                    codes::RTE_PIP,
                    p.span,
                    format!(
                        "runtime_env['pip']['packages'] must be of type str of list, got: {}",
                        py_type(p)
                    ),
                    "give a list of requirements or the path of a requirements file".into(),
                );
                return None;
            }
        }
        Some(spec)
    }

    /// Ray 2.60's `pip.pip_install_options` / `uv.uv_pip_install_options`: a list of strings,
    /// with Ray's messages for anything else.
    pub(super) fn install_options(
        &mut self,
        v: &Node,
        field: &str,
        key: &str,
    ) -> Option<Vec<String>> {
        let Kind::Seq(items) = &v.kind else {
            self.error(
                codes::RTE_PIP,
                v.span,
                format!(
                    "runtime_env['{field}']['{key}'] must be of type list[str] got {}",
                    py_type(v)
                ),
                format!("write a list of `{field} install` options: `[\"--no-deps\"]`"),
            );
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match str_value(item) {
                Some(s) => out.push(s.to_string()),
                None => {
                    self.error(
                        codes::RTE_PIP,
                        item.span,
                        format!(
                            "runtime_env['{field}']['{key}'] must be of type list[str] got {} for \
                             {i}-th item.",
                            py_type(item)
                        ),
                        "every option is a string (quote it)".into(),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    /// Ray 2.60's `parse_and_validate_uv`, for its verdict and messages: a requirements file, a
    /// list of strings, or a mapping of `packages` (a list of strings), `uv_check`,
    /// `uv_version` and `uv_pip_install_options`. `false` when an error was reported.
    pub(super) fn uv_2_60(&mut self, node: &Node) -> bool {
        let wrong_type = |cx: &mut Self| {
            cx.error(
                codes::RTE_PIP,
                node.span,
                format!(
                    "runtime_env['uv'] must be of type List[str], or dict, got {}",
                    py_type(node)
                ),
                "give a list of requirements, the path of a requirements file, or a mapping \
                 with `packages`"
                    .into(),
            );
            false
        };
        match &node.kind {
            Kind::Scalar { value, .. } if res(node) == Resolved::Str => {
                self.requirements(node, value).is_some()
            }
            Kind::Seq(items) => items.iter().all(|i| str_value(i).is_some()) || wrong_type(self),
            Kind::Map(_) => self.uv_map(node),
            _ => wrong_type(self),
        }
    }

    fn uv_map(&mut self, node: &Node) -> bool {
        let entries = self.entries(node);
        const FIELDS: &[&str] = &[
            "packages",
            "uv_check",
            "uv_version",
            "uv_pip_install_options",
        ];
        if !self.only_fields("uv", &entries, FIELDS) {
            return false;
        }
        let get = |name: &str| entries.iter().find(|(k, _, _)| k == name).map(|e| e.2);
        let Some(packages) = get("packages") else {
            self.error(
                codes::RTE_PIP,
                node.span,
                format!(
                    "runtime_env['uv'] must include field 'packages', but got {}",
                    py_repr(node)
                ),
                "add `packages`: a list of requirements".into(),
            );
            return false;
        };
        if let Some(v) = get("uv_check").filter(|v| bool_value(v).is_none()) {
            self.error(
                codes::RTE_PIP,
                v.span,
                format!(
                    "runtime_env['uv']['uv_check'] must be of type bool, got {}",
                    py_type(v)
                ),
                "write `true` or `false` (unquoted)".into(),
            );
            return false;
        }
        if let Some(v) = get("uv_version").filter(|v| str_value(v).is_none()) {
            self.error(
                codes::RTE_PIP,
                v.span,
                format!(
                    "runtime_env['uv']['uv_version'] must be of type str, got {}",
                    py_type(v)
                ),
                "quote it, with its operator: `\"==0.4.0\"`".into(),
            );
            return false;
        }
        if let Some(v) = get("uv_pip_install_options") {
            if self
                .install_options(v, "uv", "uv_pip_install_options")
                .is_none()
            {
                return false;
            }
        }
        let Kind::Seq(items) = &packages.kind else {
            self.error(
                codes::RTE_PIP,
                packages.span,
                format!(
                    "runtime_env['uv']['packages'] must be of type list, got: {}",
                    py_type(packages)
                ),
                "give a list of requirements".into(),
            );
            return false;
        };
        if let Some((i, bad)) = items
            .iter()
            .enumerate()
            .find(|(_, i)| str_value(i).is_none())
        {
            self.error(
                codes::RTE_PIP,
                bad.span,
                format!(
                    "runtime_env['uv']['packages'] must be of type list[str] got {} for {i}-th \
                     item.",
                    py_type(bad)
                ),
                "quote the requirement".into(),
            );
            return false;
        }
        true
    }

    /// A pip package list as both `pip` and `pip.packages` accept it: the path of a
    /// requirements file, or a list of strings. The callers word the wrong shapes themselves.
    fn packages<'n>(&mut self, node: &'n Node) -> Packages<'n> {
        match &node.kind {
            Kind::Scalar { value, .. } if res(node) == Resolved::Str => {
                match self.requirements(node, value) {
                    Some(packages) => Packages::Read(packages, Some(self.cwd.join(value))),
                    None => Packages::Reported,
                }
            }
            Kind::Seq(items) => match items.iter().find(|i| str_value(i).is_none()) {
                Some(bad) => Packages::BadEntry(bad),
                None => Packages::Read(
                    items
                        .iter()
                        .filter_map(|i| str_value(i).map(String::from))
                        .collect(),
                    None,
                ),
            },
            _ => Packages::WrongType,
        }
    }

    /// A requirements file, read as Ray reads it: `read_text().strip().split("\n")`.
    fn requirements(&mut self, node: &Node, raw: &str) -> Option<Vec<String>> {
        let path = self.cwd.join(raw);
        if !path.is_file() {
            self.error(
                codes::RTE_PIP,
                node.span,
                format!("{} is not a valid file", py_path(raw)),
                format!(
                    "a string `pip` is the path of a requirements file, relative to the current \
                     directory; for one package write a list: `[\"{raw}\"]`"
                ),
            );
            return None;
        }
        match read::read_text(&path) {
            Ok(text) => Some(requirements_lines(&text)),
            Err(TextError::NotUtf8(_)) => {
                self.error(
                    codes::RTE_PIP,
                    node.span,
                    format!("{} is not UTF-8 text", py_path(raw)),
                    "save the requirements file as UTF-8".into(),
                );
                None
            }
            Err(e @ TextError::TooLarge { .. }) => {
                self.error(
                    codes::RTE_PIP,
                    node.span,
                    format!("{} could not be read: {e}", py_path(raw)),
                    "a requirements file has one requirement a line; this one is too large to \
                     be one"
                        .into(),
                );
                None
            }
            Err(e) => {
                self.error(
                    codes::RTE_PIP,
                    node.span,
                    format!("{} could not be read: {e}", py_path(raw)),
                    "check the file's permissions".into(),
                );
                None
            }
        }
    }
}

/// A requirements file's entries as Ray reads them: universal newlines (Python's text mode),
/// then `text.strip().split("\n")`; blank and comment lines are kept.
pub(crate) fn requirements_lines(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let py_space = |c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c);
    text.trim_matches(py_space)
        .split('\n')
        .map(String::from)
        .collect()
}
