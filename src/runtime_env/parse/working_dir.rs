//! `working_dir`, `py_modules` and `excludes`: what a location names (a URI, checked in `uri`,
//! or, at job level only, a local directory or package file resolved against the parser's
//! directory) and the gitignore-style patterns left out of the upload. Which local files are
//! packages differs by Ray generation (Ray 2 adds `.whl` and `.py` modules); the messages are
//! Ray's.

use super::uri::{uri_scheme, PROTOCOLS_2_60, WORKING_DIR_FORMATS};
use super::{Cx, Level, Location, LocationKind};
use crate::diag::codes;
use crate::input::yaml::{Kind, Node};
use crate::runtime_env::generation::RayGeneration;
use crate::runtime_env::python::{py_path, py_suffix, py_type, str_value};

impl Cx<'_> {
    pub(super) fn location(&mut self, node: &Node, field: &str) -> Option<Location> {
        let py_modules = field == "py_modules";
        let Some(raw) = str_value(node) else {
            let msg = if py_modules {
                format!("`py_module` must be a string, got {}.", py_type(node))
            } else {
                format!("`working_dir` must be a string, got {}.", py_type(node))
            };
            self.error(
                codes::RTE_LOCATION,
                node.span,
                msg,
                "give a local path or a URI such as `s3://bucket/code.zip`, as a string".into(),
            );
            return None;
        };
        // Ray 2.60 sees a string whose scheme is none of its protocols as a path.
        let scheme =
            uri_scheme(raw).filter(|s| !self.ray.local_uri || PROTOCOLS_2_60.contains(&s.as_str()));
        if let Some(scheme) = scheme {
            return self.uri(node, raw, scheme, py_modules);
        }
        if self.level == Level::TaskOrActor {
            self.error(
                codes::RTE_LOCATION,
                node.span,
                format!(
                    "{raw} is not a valid URI. Passing directories or modules to be dynamically \
                     uploaded is only supported at the job level (i.e., passed to `ray.init`)."
                ),
                format!(
                    "set the local `{field}` in the job's runtime environment, or upload it and \
                     give its URI here"
                ),
            );
            return None;
        }
        if self.ray.tar_packages {
            return self.local_2_60(node, raw, py_modules);
        }
        let path = self.cwd.join(raw);
        let ext = |e: &str| raw.to_ascii_lowercase().ends_with(e) && path.is_file();
        let kind = if path.is_dir() {
            LocationKind::LocalDir(path)
        } else if ext(".zip") {
            LocationKind::LocalZip(path)
        } else if py_modules && self.ray.generation == RayGeneration::V2 && ext(".whl") {
            LocationKind::LocalWheel(path)
        } else if py_modules && self.ray.generation == RayGeneration::V2 && ext(".py") {
            LocationKind::LocalPy(path)
        } else {
            let allowed = if !py_modules {
                "a local `working_dir` is a directory or a `.zip` file"
            } else if self.ray.generation == RayGeneration::V2 {
                "a local `py_modules` entry is a directory, a `.zip`, a `.whl` or a `.py` file"
            } else {
                "a local `py_modules` entry is a directory or a `.zip` file (Ray 1)"
            };
            let msg = if path.exists() {
                format!("{raw} is not a directory or a supported package file")
            } else {
                format!("directory {raw} must be an existing directory")
            };
            self.error(
                codes::RTE_LOCATION,
                node.span,
                msg,
                format!("{allowed}; relative paths are read from the current directory"),
            );
            return None;
        };
        Some(Location {
            raw: raw.to_string(),
            kind,
        })
    }

    /// A local `working_dir` or `py_modules` entry at job level, as Ray 2.60's upload sees it
    /// (`upload_working_dir_if_needed`, `upload_py_modules_if_needed`), with its messages: a
    /// `working_dir` is a directory or an existing `.zip`/`.tar.gz`/`.tgz`/`.tar.xz`; a
    /// `py_modules` entry a directory, a `.py` file or a `.whl` (Ray's upload takes no local
    /// archive there, though a URI may name one).
    fn local_2_60(&mut self, node: &Node, raw: &str, py_modules: bool) -> Option<Location> {
        let path = self.cwd.join(raw);
        let shown = py_path(raw);
        let location = |kind| {
            Some(Location {
                raw: raw.to_string(),
                kind,
            })
        };
        if path.is_dir() {
            return location(LocationKind::LocalDir(path));
        }
        let (msg, help) = if !py_modules {
            let name = std::path::Path::new(&shown)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.exists() && WORKING_DIR_FORMATS.iter().any(|e| name.ends_with(e)) {
                return location(LocationKind::LocalZip(path));
            }
            (
                format!(
                    "directory {shown} must be an existing directory or a supported archive \
                     ({})",
                    WORKING_DIR_FORMATS.join(", ")
                ),
                if path.exists() {
                    "a local `working_dir` is a directory or a .zip, .tar.gz, .tgz or .tar.xz file"
                } else {
                    "the path does not exist; relative paths are read from the current directory"
                },
            )
        } else {
            match py_suffix(raw) {
                ".py" if path.is_file() => return location(LocationKind::LocalPy(path)),
                ".py" => (
                    format!("File {} must be an existing file", path.display()),
                    "the path does not exist; relative paths are read from the current directory",
                ),
                ".whl" if path.is_file() => return location(LocationKind::LocalWheel(path)),
                ".whl" => (
                    format!(
                        "Failed to upload {shown} to the Ray cluster: [Errno 2] No such file or \
                         directory: '{shown}'"
                    ),
                    "the path does not exist; relative paths are read from the current directory",
                ),
                _ => (
                    format!(
                        "py_modules entry must be a .py file, a directory, or a .whl file; got \
                         {raw}"
                    ),
                    "Ray 2.60 uploads no local archive as a module: give the directory, or \
                     upload the archive and give its URI",
                ),
            }
        };
        self.error(codes::RTE_LOCATION, node.span, msg, help.into());
        None
    }

    pub(super) fn py_modules(&mut self, node: &Node) -> Option<Vec<Location>> {
        let Kind::Seq(items) = &node.kind else {
            self.error(
                codes::RTE_LOCATION,
                node.span,
                format!(
                    "`py_modules` must be a list of strings, got {}.",
                    py_type(node)
                ),
                "write a list, even for one module: `[\"./my_module\"]`".into(),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.location(item, "py_modules") {
                Some(l) => out.push(l),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub(super) fn excludes(&mut self, node: &Node) -> Vec<String> {
        let bad = match &node.kind {
            Kind::Seq(items) => items.iter().find(|i| str_value(i).is_none()),
            _ => Some(node),
        };
        if let Some(bad) = bad {
            let help = if std::ptr::eq(bad, node) {
                match str_value(node) {
                    Some(s) => format!("write a list, even for one pattern: `[\"{s}\"]`"),
                    None => "write a list of gitignore-style patterns".into(),
                }
            } else {
                format!("this entry is {}; every pattern is a string", py_type(bad))
            };
            self.error(
                codes::RTE_EXCLUDES,
                bad.span,
                format!(
                    "runtime_env['excludes'] must be of type List[str], got {}",
                    py_type(node)
                ),
                help,
            );
            return Vec::new();
        }
        let Kind::Seq(items) = &node.kind else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|i| str_value(i).map(String::from))
            .collect()
    }
}
