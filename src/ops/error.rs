//! The use cases' error, one kind per way a use case fails, each carrying its exit code
//! (README's table): 1 = the answer is no (a refused input, a bad name, a missing revision, a
//! failed check); 2 = usage, I/O, a failing tool. The library errors are kept, not flattened
//! into strings, so a caller can match on them; the message is each kind's `Display`.

use crate::assemble;
use crate::assemble::runtime_env::BakeError;
use crate::emit::{bakefile, dockerfile};
use crate::runtime_env::merge::MergeError;
use crate::runtime_env::working_dir;
use crate::store::base_arg::BaseArgError;
use crate::types::name::{AddressError, IdentError, NameError};

/// Exit codes every command keeps.
pub const EXIT_OK: u8 = 0;
/// The answer is no: invalid input, a failed verification.
pub const EXIT_NO: u8 = 1;
/// Usage error, I/O error, a failing external tool.
pub const EXIT_ERROR: u8 = 2;
/// Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Locking or a locked build refused or failed (exit per [`crate::ops::lock::LockError::exit_code`]).
    #[error(transparent)]
    Lock(Box<crate::ops::lock::LockError>),
    /// A document could not be serialised (exit 2); never silently printed as nothing.
    #[error("cannot write the JSON output: {0}")]
    Json(#[from] serde_json::Error),
    /// An input cannot be read (exit 2).
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// An output cannot be written (exit 2).
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// A Dockerfile template override is broken (exit 2).
    #[error(transparent)]
    Render(#[from] dockerfile::Error),
    /// A template value named twice among `--var` and `--public-var` (exit 2).
    #[error("`{name}` is given twice among --var and --public-var: give each name once")]
    VarTwice { name: String },
    /// Standard input (`-`) named more than once among the files to check (exit 2).
    #[error("standard input (`-`) can be read only once: name it once")]
    StdinTwice,
    /// A `diff` argument that is neither a spec file nor a stored revision (exit 2).
    #[error("{}", .0.message())]
    NoSuchSide(crate::ops::diff::NoSuchSide),
    /// A `--base` that names no image source (exit 2).
    #[error(transparent)]
    BaseArg(#[from] BaseArgError),
    /// `SOURCE_DATE_EPOCH` is not a number (exit 1).
    #[error(transparent)]
    Epoch(#[from] crate::epoch::Error),
    /// Not a valid environment name (exit 1).
    #[error(transparent)]
    Name(#[from] NameError),
    /// Not a valid `NAME[:REV]` (exit 1).
    #[error(transparent)]
    Identifier(#[from] IdentError),
    /// Not a valid `anyscale://` address (exit 1).
    #[error(transparent)]
    Address(#[from] AddressError),
    /// No revision of this environment is stored (exit 1).
    #[error("{}", crate::types::name::name_not_found_message(.name))]
    NameNotFound { name: String },
    /// The store refused (exit 1) or failed to read or write (exit 2).
    #[error(transparent)]
    Store(crate::store::Error),
    /// Image assembly refused (exit 1) or a layer could not be built (exit 2).
    #[error(transparent)]
    Image(#[from] assemble::Error),
    /// A runtime env cannot be baked (exit 1, or the image's code).
    #[error(transparent)]
    Bake(BakeError),
    /// Two runtime envs cannot be merged (exit 1).
    #[error("{0}\n  help: {help}", help = .0.help())]
    Merge(MergeError),
    /// A working dir cannot be packaged, or a URI is not Ray's (exit 1).
    #[error(transparent)]
    Package(working_dir::Error),
    /// A bake-file spec's file stem is not an environment name (exit 1, as a bad `--name`).
    #[error(
        "`{spec}` needs a name: its file stem is not one ({source}); name it with \
         `--name NAME={spec}`"
    )]
    StemName { spec: String, source: NameError },
    /// Two specs of one bake file with the same environment name (exit 2).
    #[error(
        "`{a}` and `{b}` are both named `{name}`: give one another name with `--name NAME=SPEC`"
    )]
    NameTwice { name: String, a: String, b: String },
    /// One spec named twice with `--name` (exit 2).
    #[error("`{spec}` is named twice with `--name`: name it once")]
    SpecNamedTwice { spec: String },
    /// The environments cannot be targets of one bake file (exit 2).
    #[error(transparent)]
    Bakefile(#[from] bakefile::Error),
    /// `envc import` refused the image (exit 1).
    #[error(transparent)]
    ImportRefused(crate::ops::import::ImportRefused),
    /// Arguments that do not fit together (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A drop pattern of the import policy is not a glob (exit 2).
    #[error(transparent)]
    DropPolicy(crate::oci::Error),
    /// No engine, or one that does not work or whose export failed (exit 2).
    #[error(transparent)]
    Engine(#[from] crate::engine::Error),
    /// The engine's build failed: a step failed, or the engine was killed (exit 1).
    #[error("{}", build_failed_message(name, id, engine, failure))]
    BuildFailed {
        name: String,
        id: String,
        engine: &'static str,
        failure: crate::engine::Failure,
    },
    /// Ctrl-C or SIGTERM stopped the build (exit 130).
    #[error("the build was interrupted; the store is unchanged (build record `{id}`)")]
    Interrupted { id: String },
    /// The spec's base is nowhere: not in the store, not in the engine, and the engine cannot
    /// pull it (exit 1).
    #[error(
        "the base image `{name}` cannot be found: it is not in the store or the engine, and \
         pulling it failed: {reason}; supply it with `--base oci:DIR[:REF]`, \
         `--base oci-archive:FILE` or `--base docker-archive:FILE`"
    )]
    BaseNotFound { name: String, reason: String },
    /// The engine's image cannot be imported (exit 2; 1 when it is not on the spec's base).
    #[error(transparent)]
    EngineImport(crate::engine::import::Error),
    /// A registry said no (exit 1: credentials, access, not found, an immutable revision, a
    /// digest that does not match) or could not be reached (exit 2).
    #[error(transparent)]
    Registry(Box<crate::registry::Error>),
    /// A base the store lacks could not be pulled (the registry's exit code).
    #[error(
        "the base image `{name}` is not in the store, and pulling `{from}` failed: {source}; \
         supply it with `--base` (an OCI layout, an archive, or `docker://REF`), or pull it \
         first with `envc pull`"
    )]
    BasePull {
        name: String,
        from: String,
        source: Box<crate::registry::Error>,
    },
    /// An image whose files `check-image` will not read (exit 2).
    #[error(transparent)]
    Byod(#[from] crate::byod::Error),
    /// `check-image` cannot read the image it was given (exit 2).
    #[error("cannot check `{image}`: {source}")]
    CheckImage { image: String, source: Box<Error> },
    /// Not an image reference (exit 2).
    #[error("`{text}` is not an image reference: {source}")]
    Reference {
        text: String,
        source: crate::types::image_ref::RefError,
    },
}

impl From<crate::registry::Error> for Error {
    fn from(e: crate::registry::Error) -> Error {
        match e {
            crate::registry::Error::Store(s) => Error::from(s),
            e => Error::Registry(Box::new(e)),
        }
    }
}

fn build_failed_message(
    name: &str,
    id: &str,
    engine: &str,
    failure: &crate::engine::Failure,
) -> String {
    let mut out = format!("the build of `{name}` failed");
    if let Some(step) = &failure.step {
        out.push_str(&format!(" at `{step}`"));
    }
    out.push_str(&format!(" ({engine}: {})", failure.exit));
    if !failure.tail.is_empty() {
        out.push_str(&format!("; {engine}'s last lines:"));
        for line in &failure.tail {
            out.push_str(&format!("\n  | {line}"));
        }
    }
    out.push_str(&format!(
        "\n  = note: the store is unchanged; the full log: `envc logs {id}`"
    ));
    out
}

impl From<crate::oci::Error> for Error {
    fn from(e: crate::oci::Error) -> Error {
        Error::from(crate::store::Error::from(e))
    }
}

impl From<crate::store::Error> for Error {
    /// A registry's failure inside an import (a blob that could not be fetched) is the
    /// registry's error again, so its exit code and message are the registry's.
    fn from(e: crate::store::Error) -> Error {
        match e {
            crate::store::Error::Oci(crate::oci::Error::Source(b)) => {
                match b.downcast::<crate::registry::Error>() {
                    Ok(r) => Error::from(*r),
                    Err(b) => Error::Store(crate::store::Error::Oci(crate::oci::Error::Source(b))),
                }
            }
            e => Error::Store(e),
        }
    }
}

impl From<crate::input::read::ReadError> for Error {
    fn from(e: crate::input::read::ReadError) -> Error {
        Error::Read {
            path: e.name,
            source: e.source,
        }
    }
}

impl From<BakeError> for Error {
    fn from(e: BakeError) -> Error {
        match e {
            BakeError::Image(e) => Error::Image(e),
            other => Error::Bake(other),
        }
    }
}

impl From<MergeError> for Error {
    fn from(e: MergeError) -> Error {
        Error::Merge(e)
    }
}

impl From<working_dir::Error> for Error {
    fn from(e: working_dir::Error) -> Error {
        Error::Package(e)
    }
}

impl Error {
    /// The process exit code this error ends a command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Lock(e) => e.exit_code(),
            Error::Epoch(_)
            | Error::Name(_)
            | Error::Identifier(_)
            | Error::Address(_)
            | Error::NameNotFound { .. }
            | Error::Bake(_)
            | Error::Merge(_)
            | Error::Package(_)
            | Error::StemName { .. }
            | Error::BuildFailed { .. }
            | Error::ImportRefused(_)
            | Error::BaseNotFound { .. }
            | Error::EngineImport(crate::engine::import::Error::NotOnBase { .. }) => EXIT_NO,
            Error::Interrupted { .. } => EXIT_INTERRUPTED,
            Error::EngineImport(crate::engine::import::Error::Oci(e)) => {
                if matches!(e, crate::oci::Error::Io { .. }) {
                    EXIT_ERROR
                } else {
                    EXIT_NO
                }
            }
            Error::Store(e) | Error::Image(assemble::Error::Store(e)) => {
                if e.is_io() {
                    EXIT_ERROR
                } else {
                    EXIT_NO
                }
            }
            Error::Image(assemble::Error::Layer(_)) => EXIT_ERROR,
            Error::Registry(e) => {
                if e.is_io() {
                    EXIT_ERROR
                } else {
                    EXIT_NO
                }
            }
            Error::Reference { .. } => EXIT_ERROR,
            Error::BasePull { source, .. } => {
                if source.is_io() {
                    EXIT_ERROR
                } else {
                    EXIT_NO
                }
            }
            Error::Image(_) => EXIT_NO,
            Error::Json(_)
            | Error::Read { .. }
            | Error::Write { .. }
            | Error::Render(_)
            | Error::VarTwice { .. }
            | Error::StdinTwice
            | Error::NoSuchSide(_)
            | Error::BaseArg(_)
            | Error::NameTwice { .. }
            | Error::SpecNamedTwice { .. }
            | Error::Bakefile(_)
            | Error::Engine(_)
            | Error::EngineImport(_)
            | Error::Usage(_)
            | Error::DropPolicy(_)
            | Error::Byod(_)
            | Error::CheckImage { .. } => EXIT_ERROR,
        }
    }
}

/// Boxed: a lock error is large, and every use case returns this type.
impl From<crate::ops::lock::LockError> for Error {
    fn from(e: crate::ops::lock::LockError) -> Error {
        Error::Lock(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_carry_the_readme_exit_codes() {
        let epoch = Error::from(crate::epoch::parse(Some("x")).unwrap_err());
        assert_eq!(epoch.exit_code(), EXIT_NO);
        let base = Error::from(crate::store::base_arg::parse("docker://x").unwrap_err());
        assert_eq!(base.exit_code(), EXIT_ERROR);
        let missing = Error::NameNotFound { name: "app".into() };
        assert_eq!(missing.exit_code(), EXIT_NO);
        assert_eq!(
            missing.to_string(),
            crate::types::name::name_not_found_message("app")
        );
        let name = Error::from(crate::types::name::EnvName::parse("A").unwrap_err());
        assert_eq!(name.exit_code(), EXIT_NO);
        let usage = Error::VarTwice { name: "x".into() };
        assert_eq!(usage.exit_code(), EXIT_ERROR);
    }
}
