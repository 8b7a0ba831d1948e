//! `dockerfile`: a spec compiled and rendered as a Dockerfile. Owns the order of its inputs: a
//! template override (`--templates DIR`) is read before the spec, so an unreadable template
//! fails before any diagnostic of the spec is shown; the spec's configuration gives the
//! registry mirror. Where the text goes (a file, standard output) is the caller's choice.

use super::compile::{compile_one, Refused, SpecInputs, Usable};
use super::{Error, Log};
use crate::emit::dockerfile;
use std::path::{Path, PathBuf};

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct DockerfileOptions {
    /// Multi-line post-build commands as heredocs (`--heredoc`; needs BuildKit).
    pub heredoc: bool,
    /// apt's, conda's and pip's caches in BuildKit cache mounts (`--cache-mounts`).
    pub cache_mounts: bool,
    /// `DIR/Dockerfile.j2` instead of the embedded template (`--templates DIR`).
    pub templates: Option<PathBuf>,
    /// The builder written for (`--for`).
    pub target: crate::emit::Target,
}

impl DockerfileOptions {
    /// The emitter's options, the template override read (an unreadable one is an error) and
    /// `mirror` the spec's configuration's.
    pub fn render_options(&self, mirror: Option<String>) -> Result<dockerfile::Options, Error> {
        let template = match &self.templates {
            Some(dir) => Some(
                dockerfile::load_template(dir).map_err(|source| Error::Read {
                    path: dir.join(dockerfile::TEMPLATE_NAME).display().to_string(),
                    source,
                })?,
            ),
            None => None,
        };
        Ok(dockerfile::Options {
            heredoc: self.heredoc,
            cache_mounts: self.cache_mounts,
            mirror,
            template,
            target: self.target,
        })
    }
}

/// The Dockerfile of the spec at `file`; `Ok(Err(_))` says why the spec is not used (its
/// diagnostics are in the log).
pub fn dockerfile(
    file: &Path,
    options: &DockerfileOptions,
    input: &SpecInputs,
    log: &dyn Log,
) -> Result<Result<String, Refused>, Error> {
    let render_options = options.render_options(None)?;
    // The spec is checked for the builder written for (`--for anyscale` adds E090–E092).
    let input = SpecInputs {
        target: options.target,
        ..input.clone()
    };
    let Usable {
        compiled, mirror, ..
    } = match compile_one(file, &input, log)? {
        Ok(usable) => usable,
        Err(refused) => return Ok(Err(refused)),
    };
    let text = dockerfile::render(
        &compiled.plan,
        &dockerfile::Options {
            mirror,
            ..render_options
        },
    )?;
    Ok(Ok(text))
}
