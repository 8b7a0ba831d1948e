//! The one way envc reads an input: a spec, a runtime environment, an `envc.toml`, and the
//! files a runtime environment names (a requirements file, a conda `environment.yml`).
//!
//! Every read is capped at one byte past [`yaml::MAX_BYTES`] (the YAML layer's own limit), so
//! `/dev/zero` or a multi-GB file costs nothing; a regular file over the cap is refused from its
//! metadata without being read. `-` is stdin. Text must be UTF-8: envc never decodes lossily,
//! because a replaced byte would change what a package name or a path means. For the inputs a
//! command is given ([`read`], [`decode`]) a file over the cap is E002 and non-UTF-8 text is
//! E003, both located in that file; only a failure of the file system itself (missing,
//! unreadable) is an I/O error, which the caller reports with the path ([`ReadError`]). Files
//! an input refers to ([`read_text`]) return the reason as a value, and their reader words it
//! in the referring file's terms (Ray's messages, for a runtime environment).

use crate::diag::codes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::input::source::{SourceFile, Span};
use crate::input::yaml;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The name diagnostics give standard input.
pub const STDIN_NAME: &str = "<stdin>";

/// What an input is, for the words of its diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// An Anyscale cluster-environment spec.
    Spec,
    /// A Ray runtime environment (JSON or YAML).
    RuntimeEnv,
    /// The project configuration, `envc.toml`.
    Config,
}

impl InputKind {
    /// The help of the not-UTF-8 error.
    fn utf8_help(self) -> &'static str {
        match self {
            InputKind::Spec => "save the spec as UTF-8 text",
            InputKind::RuntimeEnv => "save the runtime environment as UTF-8 text",
            InputKind::Config => "save the configuration as UTF-8 text",
        }
    }
}

/// The file system could not give an input's bytes (exit 2); `name` is how the path is shown.
#[derive(Debug, thiserror::Error)]
#[error("cannot read `{name}`: {source}")]
pub struct ReadError {
    pub name: String,
    pub source: std::io::Error,
}

/// Why a file an input refers to gives no text.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Over [`yaml::MAX_BYTES`]; `size` is the real size when the file system knows it.
    #[error("{}", yaml::too_large(*size))]
    TooLarge { size: Option<u64> },
    #[error("{0}")]
    NotUtf8(#[from] std::str::Utf8Error),
}

/// How a path is shown in diagnostics and errors.
pub fn display_name(path: &Path) -> String {
    if is_stdin(path) {
        STDIN_NAME.into()
    } else {
        path.display().to_string()
    }
}

fn is_stdin(path: &Path) -> bool {
    path == Path::new("-")
}

/// A file's (or stdin's) bytes, or `Err(size)` when it is over the cap (`size` is its real
/// size when the file system knows it).
fn bytes(path: &Path) -> std::io::Result<Result<Vec<u8>, Option<u64>>> {
    let cap = yaml::MAX_BYTES as u64 + 1;
    let reader: Box<dyn Read> = if is_stdin(path) {
        Box::new(std::io::stdin())
    } else {
        let file = std::fs::File::open(path)?;
        if let Ok(meta) = file.metadata() {
            if meta.is_file() && meta.len() >= cap {
                return Ok(Err(Some(meta.len())));
            }
        }
        Box::new(file)
    };
    let mut bytes = Vec::new();
    reader.take(cap).read_to_end(&mut bytes)?;
    if bytes.len() as u64 >= cap {
        return Ok(Err(None));
    }
    Ok(Ok(bytes))
}

/// Reads an input a command was given: its text, or its E002/E003 diagnostics.
pub fn read(
    path: &Path,
    kind: InputKind,
) -> Result<Result<Arc<SourceFile>, Vec<Diagnostic>>, ReadError> {
    let name = display_name(path);
    match bytes(path) {
        Ok(Ok(bytes)) => Ok(decode(&name, &bytes, kind)),
        Ok(Err(size)) => Ok(Err(too_large(name, size))),
        Err(source) => Err(ReadError { name, source }),
    }
}

/// Reads a file an input refers to: its text, or why there is none.
pub fn read_text(path: &Path) -> Result<String, TextError> {
    match bytes(path)? {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| TextError::NotUtf8(e.utf8_error())),
        Err(size) => Err(TextError::TooLarge { size }),
    }
}

/// An input's text from its bytes; not UTF-8 is E003, pointing at the first invalid byte.
pub fn decode(
    name: &str,
    bytes: &[u8],
    kind: InputKind,
) -> Result<Arc<SourceFile>, Vec<Diagnostic>> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Arc::new(SourceFile::new(name, text))),
        Err(e) => {
            let lossy = String::from_utf8_lossy(bytes).into_owned();
            let mut d = Diagnostics::new(Arc::new(SourceFile::new(name, lossy)));
            let at = e.valid_up_to();
            d.error(
                codes::ENCODING,
                Span::new(at, at + 1),
                format!("the file is not UTF-8 (invalid byte at offset {at})"),
            )
            .help(kind.utf8_help());
            Err(d.into_vec())
        }
    }
}

/// E002 for an input over the cap, located at 1:1 as the YAML layer locates it for text it
/// was given.
fn too_large(name: String, size: Option<u64>) -> Vec<Diagnostic> {
    let mut d = Diagnostics::new(Arc::new(SourceFile::new(name, String::new())));
    d.error(codes::YAML_LIMIT, Span::new(0, 0), yaml::too_large(size))
        .help(yaml::LIMIT_HELP);
    d.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, bytes).unwrap();
        (d, p)
    }

    #[test]
    fn non_utf8_is_e003_at_the_first_bad_byte() {
        let (_d, p) = tmp(b"pip: [\xff]");
        for kind in [InputKind::Spec, InputKind::RuntimeEnv, InputKind::Config] {
            let diags = read(&p, kind).unwrap().unwrap_err();
            assert_eq!(diags.len(), 1);
            assert_eq!(diags[0].code, codes::ENCODING);
            assert_eq!(diags[0].span, Some(Span::new(6, 7)));
        }
    }

    #[test]
    fn over_the_cap_is_e002_without_reading() {
        let (_d, p) = tmp(&vec![b'a'; yaml::MAX_BYTES + 1]);
        let diags = read(&p, InputKind::RuntimeEnv).unwrap().unwrap_err();
        assert_eq!(diags[0].code, codes::YAML_LIMIT);
        assert!(diags[0]
            .message
            .contains(&format!("{}", yaml::MAX_BYTES + 1)));
        assert!(matches!(
            read_text(&p),
            Err(TextError::TooLarge { size: Some(_) })
        ));
    }

    #[test]
    fn a_missing_file_is_an_io_error_named_by_its_path() {
        let e = read(Path::new("/nonexistent/x"), InputKind::Spec).unwrap_err();
        assert_eq!(e.name, "/nonexistent/x");
        assert!(matches!(
            read_text(Path::new("/nonexistent/x")),
            Err(TextError::Io(_))
        ));
    }

    #[test]
    fn referenced_text_must_be_utf8() {
        let (_d, p) = tmp(b"ok\n\xc3");
        assert!(matches!(read_text(&p), Err(TextError::NotUtf8(_))));
        let (_d, p) = tmp("ok é\n".as_bytes());
        assert_eq!(read_text(&p).unwrap(), "ok é\n");
    }
}
