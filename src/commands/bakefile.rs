//! `envc bakefile`: the flags → [`crate::ops::bakefile`] → the bake file on stdout or, written
//! atomically, at `-o`. (Not `envc bake`, which is `store::bake`.)

use super::{dockerfile_options, spec_inputs, write_atomic, Error, Printer, EXIT_NO, EXIT_OK};
use crate::cli::{DockerfileArgs, InputArgs};
use crate::emit::bakefile;
use crate::ops::bakefile::Inputs;
use std::path::PathBuf;

/// The `bakefile` subcommand's arguments, as clap parsed them.
pub(super) struct Args {
    pub(super) specs: Vec<PathBuf>,
    pub(super) names: Vec<(String, PathBuf)>,
    pub(super) output: Option<PathBuf>,
    pub(super) tag_prefix: Option<String>,
    pub(super) cache_from: Vec<String>,
    pub(super) cache_to: Vec<String>,
    pub(super) platforms: Vec<String>,
    pub(super) dockerfile: DockerfileArgs,
    pub(super) input: InputArgs,
}

pub(super) fn run(printer: &Printer, args: Args) -> Result<u8, Error> {
    let inputs = Inputs {
        specs: args.specs,
        names: args.names,
        spec_inputs: spec_inputs(&args.input),
        dockerfile: dockerfile_options(&args.dockerfile)?,
        bake: bakefile::Options {
            cache_from: args.cache_from,
            cache_to: args.cache_to,
            platforms: args.platforms,
            tag_prefix: args.tag_prefix,
        },
    };
    let made = match crate::ops::bakefile::bakefile(&inputs, printer)? {
        Ok(made) => made,
        Err(refused) => {
            if let Some(message) = refused.message() {
                printer.error(message);
            }
            return Ok(EXIT_NO);
        }
    };
    match &args.output {
        Some(path) => {
            write_atomic(path, made.text.as_bytes())?;
            printer.verbose(&format!(
                "wrote `{}`: {} target(s)",
                path.display(),
                made.entries.len()
            ));
        }
        None => printer.data(&made.text)?,
    }
    Ok(EXIT_OK)
}
