//! `check`: every spec checked, whatever happens to one of them. A file (or its `envc.toml`)
//! that cannot be read becomes an E005 diagnostic for that file, reported once however many
//! specs it governs, and the rest are still checked, so CI sees every spec's findings. The
//! outcome holds every diagnostic in order and the exit code: 2 if any file could not be read,
//! else 1 if any is invalid (or has warnings that are denied), else 0.

use super::compile::{compile_file, SpecInputs};
use super::{Error, Log, EXIT_ERROR, EXIT_NO, EXIT_OK};
use crate::config::Configs;
use crate::diag::{codes, Diagnostic, Diagnostics};
use crate::input::source::SourceFile;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Every finding of one `check`.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// Warnings and errors of every file, in the order the files were given.
    pub diagnostics: Vec<Diagnostic>,
    /// How many files were checked.
    pub files: usize,
    /// Some file (or its configuration) could not be read.
    pub unreadable: bool,
    /// Some spec is invalid, or has warnings that are denied.
    pub failed: bool,
}

impl CheckOutcome {
    pub fn exit_code(&self) -> u8 {
        if self.unreadable {
            EXIT_ERROR
        } else if self.failed {
            EXIT_NO
        } else {
            EXIT_OK
        }
    }
}

/// Checks `files` (`-` is standard input, at most once). A verbose line per valid spec goes
/// to the log; the diagnostics are in the outcome.
pub fn check(files: &[PathBuf], input: &SpecInputs, log: &dyn Log) -> Result<CheckOutcome, Error> {
    let mut all = Vec::new();
    let mut failed = false;
    let mut unreadable = false;
    let mut configs = Configs::default();
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        return Err(Error::StdinTwice);
    }
    // Each unreadable file is reported once, however many specs it governs.
    let mut reported: HashSet<String> = HashSet::new();
    for path in files {
        let c = match compile_file(path, input, log, &mut configs) {
            Ok(c) => c,
            Err(Error::Read { path: what, source }) => {
                unreadable = true;
                if reported.insert(what.clone()) {
                    let help = if what == path.display().to_string() {
                        "check that the path exists and is a readable file"
                    } else {
                        "this is the configuration of the specs given after it, which were not checked: fix or remove it, or pass `--config`"
                    };
                    let file = Arc::new(SourceFile::new(what, String::new()));
                    let mut d = Diagnostics::new(file);
                    d.file_error(codes::UNREADABLE, format!("cannot read the file: {source}"))
                        .help(help);
                    all.extend(d.into_vec());
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        match c.outcome {
            Ok(compiled) => {
                failed |= c.deny && !compiled.warnings.is_empty();
                log.verbose(&format!(
                    "{}: ok, spec digest {}",
                    path.display(),
                    compiled.digest
                ));
                all.extend(compiled.warnings);
            }
            Err(d) => {
                failed = true;
                all.extend(d);
            }
        }
    }
    Ok(CheckOutcome {
        diagnostics: all,
        files: files.len(),
        unreadable,
        failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Silent;

    #[test]
    fn an_unreadable_file_is_e005_once_and_the_rest_are_still_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        std::fs::write(&good, "base_image: anyscale/ray:2.9.0-py310\n").unwrap();
        let missing = dir.path().join("missing.yaml");
        let files = vec![missing.clone(), good, missing];
        let outcome = check(&files, &SpecInputs::default(), &Silent).unwrap();
        assert_eq!(outcome.files, 3);
        assert!(outcome.unreadable && !outcome.failed);
        assert_eq!(outcome.exit_code(), EXIT_ERROR);
        let e005: Vec<_> = outcome
            .diagnostics
            .iter()
            .filter(|d| d.code == codes::UNREADABLE)
            .collect();
        assert_eq!(e005.len(), 1);
    }

    #[test]
    fn stdin_twice_is_a_usage_error() {
        let files = vec![PathBuf::from("-"), PathBuf::from("-")];
        let e = check(&files, &SpecInputs::default(), &Silent).unwrap_err();
        assert!(matches!(e, Error::StdinTwice));
        assert_eq!(e.exit_code(), EXIT_ERROR);
    }
}
