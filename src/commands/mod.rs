//! One function per subcommand: arguments → library call → output. Everything printed goes
//! through [`Printer`]; stdout carries data (a Dockerfile, JSON), stderr carries messages.

mod printer;
mod runtime_env;
mod store;

use crate::cli::{Cli, ColorChoice, Command, Format, InputArgs};
use crate::config::{ConfigFor, Configs};
use crate::diag::{render, Diagnostic};
use crate::emit::dockerfile;
use crate::input::source::SourceFile;
use crate::{compile_path, diag::codes, CompileOptions, Compiled, TemplateInputs};
pub use printer::Printer;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Exit codes every command keeps.
pub const EXIT_OK: u8 = 0;
/// The answer is no: invalid input, a failed verification.
pub const EXIT_NO: u8 = 1;
/// Usage error, I/O error, a failing external tool.
pub const EXIT_ERROR: u8 = 2;

impl From<crate::input::read::ReadError> for Error {
    fn from(e: crate::input::read::ReadError) -> Error {
        Error::Read {
            path: e.name,
            source: e.source,
        }
    }
}

/// An error that ends the command with exit code 2 (I/O, a broken template override).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Render(#[from] dockerfile::Error),
    /// The answer is no (exit 1): a bad name, a missing revision, a refused input.
    #[error("{0}")]
    No(String),
    /// A usage error (exit 2).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Image(#[from] crate::assemble::Error),
}

impl From<crate::oci::Error> for Error {
    fn from(e: crate::oci::Error) -> Error {
        Error::Store(e.into())
    }
}

impl Error {
    /// I/O and usage problems are 2; a refused input or a failed check is 1.
    fn exit_code(&self) -> u8 {
        use crate::assemble;
        match self {
            Error::No(_) => EXIT_NO,
            Error::Store(e) | Error::Image(assemble::Error::Store(e)) => {
                if e.is_io() {
                    EXIT_ERROR
                } else {
                    EXIT_NO
                }
            }
            Error::Image(assemble::Error::Layer(_)) => EXIT_ERROR,
            Error::Image(_) => EXIT_NO,
            Error::Read { .. } | Error::Write { .. } | Error::Render(_) | Error::Usage(_) => {
                EXIT_ERROR
            }
        }
    }
}

pub fn run(cli: Cli) -> u8 {
    let color = match cli.color {
        ColorChoice::Never => false,
        ColorChoice::Always => true,
        ColorChoice::Auto => std::io::stderr().is_terminal(),
    } && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let printer = Printer::new(cli.quiet, cli.verbose, render::Style { color });
    let result = match cli.command {
        Command::Check {
            files,
            format,
            input,
        } => check(&printer, &files, format, &input),
        Command::Dockerfile {
            file,
            output,
            heredoc,
            cache_mounts,
            templates,
            input,
        } => dockerfile_cmd(
            &printer,
            &file,
            output.as_deref(),
            heredoc,
            cache_mounts,
            templates.as_deref(),
            &input,
        ),
        Command::Plan {
            file,
            digest,
            provenance,
            input,
        } => plan_cmd(&printer, &file, digest, provenance, &input),
        Command::Build {
            file,
            name,
            base,
            compression,
            store: st,
            input,
        } => store::build(
            &printer,
            &file,
            &name,
            base.as_deref(),
            compression,
            &st,
            &input,
        ),
        Command::Bake {
            runtime_env,
            name,
            from,
            compression,
            store: st,
        } => store::bake(&printer, &runtime_env, &name, &from, compression, &st),
        Command::List {
            name,
            format,
            store: st,
        } => store::list(&printer, name.as_deref(), format, &st),
        Command::Show {
            reference,
            format,
            store: st,
        } => store::show(&printer, &reference, format, &st),
        Command::Diff {
            a,
            b,
            format,
            store: st,
        } => store::diff(&printer, &a, &b, format, &st),
        Command::Rollback {
            name,
            to,
            store: st,
        } => store::rollback(&printer, &name, to, &st),
        Command::Export {
            reference,
            format,
            output,
            store: st,
        } => store::export(&printer, &reference, format, &output, &st),
        Command::Verify { store: st } => store::verify(&printer, &st),
        Command::Gc { store: st } => store::gc(&printer, &st),
        Command::Resolve { address, format } => store::resolve(&printer, &address, format),
        Command::RuntimeEnv(cmd) => runtime_env::run(&printer, cmd),
        Command::Package {
            dir,
            excludes,
            output,
            max_size,
            ray,
            follow_external_links,
            format,
        } => runtime_env::package_cmd(
            &printer,
            &dir,
            excludes,
            output.as_deref(),
            max_size,
            ray,
            follow_external_links,
            format,
        ),
        Command::Explain { code } => Ok(explain(&printer, code.as_deref())),
        Command::Schema => printer.data(&crate::spec::schema::json()).map(|()| EXIT_OK),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "envc", &mut buf);
            printer
                .data(&String::from_utf8_lossy(&buf))
                .map(|()| EXIT_OK)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            printer.error(&e.to_string());
            e.exit_code()
        }
    }
}

/// The template inputs; a name given twice (`--var`, `--public-var`, or one of each) is a
/// usage error rather than a silent last-one-wins.
fn options(input: &InputArgs) -> Result<CompileOptions, Error> {
    if !input.template {
        return Ok(CompileOptions { template: None });
    }
    let mut vars = BTreeMap::new();
    for (k, v) in input.vars.iter().chain(&input.public_vars) {
        if vars.insert(k.clone(), v.clone()).is_some() {
            return Err(Error::Usage(format!(
                "`{k}` is given twice among --var and --public-var: give each name once"
            )));
        }
    }
    Ok(CompileOptions {
        template: Some(TemplateInputs {
            process_env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            vars,
            public_vars: input.public_vars.iter().map(|(k, _)| k.clone()).collect(),
        }),
    })
}

/// One compiled spec: the outcome, whether warnings are denied, and the registry mirror.
struct Compilation {
    outcome: Result<Compiled, Vec<Diagnostic>>,
    deny: bool,
    mirror: Option<String>,
}

/// Compiles one file; `outcome` is `Err` when the spec or its configuration has errors.
fn compile_file(
    path: &Path,
    input: &InputArgs,
    printer: &Printer,
    configs: &mut Configs,
) -> Result<Compilation, Error> {
    let verbose = |p: &Path| printer.verbose(&format!("using configuration `{}`", p.display()));
    let config = match configs.for_spec(path, input.config.as_deref(), verbose)? {
        ConfigFor::Ok(c) => c,
        ConfigFor::Broken(diags) => {
            return Ok(Compilation {
                outcome: Err(diags),
                deny: false,
                mirror: None,
            })
        }
    };
    let outcome = compile_path(path, &config, &options(input)?)?;
    Ok(Compilation {
        outcome,
        deny: config.deny_warnings || input.deny_warnings,
        mirror: config.mirror.clone(),
    })
}

/// Checks every file, whatever happens to one of them: a file (or its `envc.toml`) that cannot
/// be read is reported as an E005 diagnostic for that file, and the rest are still checked, so
/// CI sees every spec's findings. Exit 2 if any file could not be read, else 1 if any is invalid.
fn check(
    printer: &Printer,
    files: &[PathBuf],
    format: Format,
    input: &InputArgs,
) -> Result<u8, Error> {
    let mut all = Vec::new();
    let mut failed = false;
    let mut unreadable = false;
    let mut configs = Configs::default();
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        return Err(Error::Usage(
            "standard input (`-`) can be read only once: name it once".into(),
        ));
    }
    // Each unreadable file is reported once, however many specs it governs.
    let mut reported: std::collections::HashSet<String> = std::collections::HashSet::new();
    for path in files {
        let c = match compile_file(path, input, printer, &mut configs) {
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
                    let mut d = crate::diag::Diagnostics::new(file);
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
                printer.verbose(&format!(
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
    match format {
        Format::Json => printer.data(&render::json(&all, files.len()))?,
        Format::Human => printer.diagnostics(&all),
    }
    Ok(if unreadable {
        EXIT_ERROR
    } else if failed {
        EXIT_NO
    } else {
        EXIT_OK
    })
}

/// Compiles one spec for `dockerfile`/`plan`, printing diagnostics; `None` means exit 1.
fn compile_one(
    printer: &Printer,
    path: &Path,
    input: &InputArgs,
) -> Result<Option<(Compiled, Option<String>)>, Error> {
    let c = compile_file(path, input, printer, &mut Configs::default())?;
    match c.outcome {
        Ok(compiled) => {
            printer.diagnostics(&compiled.warnings);
            if c.deny && !compiled.warnings.is_empty() {
                printer.error("warnings are denied (`--deny-warnings`)");
                return Ok(None);
            }
            Ok(Some((compiled, c.mirror)))
        }
        Err(d) => {
            printer.diagnostics(&d);
            Ok(None)
        }
    }
}

fn dockerfile_cmd(
    printer: &Printer,
    file: &Path,
    output: Option<&Path>,
    heredoc: bool,
    cache_mounts: bool,
    templates: Option<&Path>,
    input: &InputArgs,
) -> Result<u8, Error> {
    let template = match templates {
        Some(dir) => Some(
            dockerfile::load_template(dir).map_err(|source| Error::Read {
                path: dir.join(dockerfile::TEMPLATE_NAME).display().to_string(),
                source,
            })?,
        ),
        None => None,
    };
    let Some((compiled, mirror)) = compile_one(printer, file, input)? else {
        return Ok(EXIT_NO);
    };
    let text = dockerfile::render(
        &compiled.plan,
        &dockerfile::Options {
            heredoc,
            cache_mounts,
            mirror,
            template,
        },
    )?;
    match output {
        Some(path) => write_atomic(path, text.as_bytes())?,
        None => printer.data(&text)?,
    }
    Ok(EXIT_OK)
}

fn plan_cmd(
    printer: &Printer,
    file: &Path,
    digest: bool,
    provenance: bool,
    input: &InputArgs,
) -> Result<u8, Error> {
    let Some((compiled, _)) = compile_one(printer, file, input)? else {
        return Ok(EXIT_NO);
    };
    let out = if digest {
        format!("{}\n", compiled.digest)
    } else if provenance {
        let plan: serde_json::Value =
            serde_json::from_str(&compiled.plan.canonical_json()).unwrap_or_default();
        let doc = serde_json::json!({
            "digest": compiled.digest.to_string(),
            "plan": plan,
            "provenance": compiled.provenance,
        });
        format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        )
    } else {
        format!("{}\n", compiled.plan.canonical_json())
    };
    printer.data(&out)?;
    Ok(EXIT_OK)
}

fn explain(printer: &Printer, code: Option<&str>) -> u8 {
    let Some(code) = code else {
        let mut s = String::new();
        for d in codes::ALL {
            s.push_str(&format!("{}  {}\n", d.code, d.summary));
        }
        return match printer.data(&s) {
            Ok(()) => EXIT_OK,
            Err(_) => EXIT_ERROR,
        };
    };
    match codes::lookup(code) {
        Some(d) => match printer.data(&format!("{}: {}\n\n{}\n", d.code, d.summary, d.explanation))
        {
            Ok(()) => EXIT_OK,
            Err(_) => EXIT_ERROR,
        },
        None => {
            printer.error(&format!(
                "unknown code `{code}`; `envc explain` lists them all"
            ));
            EXIT_ERROR
        }
    }
}

/// Writes `bytes` to `path` via a temporary file in the same directory and a rename, so a
/// reader never sees a half-written file and a failure leaves nothing behind. The file is
/// 0666 & ~umask (an existing file keeps its mode); a symlink at `path` writes its target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.display().to_string(),
        source,
    };
    let mut file = crate::oci::blob::AtomicFile::create(path).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.commit().map_err(err)
}
