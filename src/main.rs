//! The `envc` binary: parse arguments, run the command, exit with its code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match envc::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are successes; every other parse failure is a usage error (2).
            return ExitCode::from(if e.use_stderr() {
                envc::ops::EXIT_ERROR
            } else {
                0
            });
        }
    };
    ExitCode::from(envc::commands::run(cli))
}
