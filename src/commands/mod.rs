//! One function per subcommand: arguments → library call → output. Everything printed goes
//! through [`Printer`]; stdout carries data (a Dockerfile, JSON), stderr carries messages.

mod printer;

use crate::cli::{Cli, ColorChoice, Command, Format, InputArgs};
use crate::config::{self, Config};
use crate::diag::{render, Diagnostic};
use crate::emit::dockerfile;
use crate::source::SourceFile;
use crate::{codes, compile, CompileOptions, Compiled, TemplateInputs};
pub use printer::Printer;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Exit codes every command keeps.
pub const EXIT_OK: u8 = 0;
/// The answer is no: invalid input, a failed verification.
pub const EXIT_NO: u8 = 1;
/// Usage error, I/O error, a failing external tool.
pub const EXIT_ERROR: u8 = 2;

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
        Command::Explain { code } => Ok(explain(&printer, code.as_deref())),
        Command::Schema => printer.data(&crate::schema::json()).map(|()| EXIT_OK),
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
            EXIT_ERROR
        }
    }
}

fn read_input(path: &Path) -> Result<(String, Vec<u8>), Error> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|source| Error::Read {
                path: "<stdin>".into(),
                source,
            })?;
        return Ok(("<stdin>".into(), buf));
    }
    let name = path.display().to_string();
    // Refuse huge inputs before reading them into memory.
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.len() > crate::yaml::MAX_BYTES as u64 {
            return Ok((name, vec![b' '; crate::yaml::MAX_BYTES + 1]));
        }
    }
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: name.clone(),
        source,
    })?;
    Ok((name, bytes))
}

/// Loads the configuration for a spec: `--config`, else `envc.toml` found upwards.
fn load_config(
    spec: &Path,
    input: &InputArgs,
    printer: &Printer,
) -> Result<Result<Config, Vec<Diagnostic>>, Error> {
    let path = match &input.config {
        Some(p) => Some(p.clone()),
        None => {
            let dir = if spec == Path::new("-") {
                std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
            } else {
                spec.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            };
            let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
            config::discover(&dir)
        }
    };
    let Some(path) = path else {
        return Ok(Ok(Config::default()));
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: name.clone(),
        source,
    })?;
    printer.verbose(&format!("using configuration `{name}`"));
    let mut result = config::parse(Arc::new(SourceFile::new(name, text)), Some(path));
    if let Ok(c) = &mut result {
        c.deny_warnings |= input.deny_warnings;
    }
    Ok(result)
}

fn options(input: &InputArgs) -> CompileOptions {
    CompileOptions {
        template: input.template.then(|| TemplateInputs {
            process_env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            vars: input.vars.iter().cloned().collect::<BTreeMap<_, _>>(),
        }),
    }
}

/// Compiles one file; `Err(diagnostics)` when it has errors (or warnings under deny).
fn compile_file(
    path: &Path,
    input: &InputArgs,
    printer: &Printer,
) -> Result<(Result<Compiled, Vec<Diagnostic>>, bool), Error> {
    let config = match load_config(path, input, printer)? {
        Ok(c) => c,
        Err(diags) => return Ok((Err(diags), false)),
    };
    let deny = config.deny_warnings || input.deny_warnings;
    let (name, bytes) = read_input(path)?;
    Ok((compile(&name, &bytes, &config, &options(input)), deny))
}

fn check(
    printer: &Printer,
    files: &[PathBuf],
    format: Format,
    input: &InputArgs,
) -> Result<u8, Error> {
    let mut all = Vec::new();
    let mut failed = false;
    for path in files {
        let (outcome, deny) = compile_file(path, input, printer)?;
        match outcome {
            Ok(c) => {
                failed |= deny && !c.warnings.is_empty();
                printer.verbose(&format!("{}: ok, spec digest {}", path.display(), c.digest));
                all.extend(c.warnings);
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
    Ok(if failed { EXIT_NO } else { EXIT_OK })
}

/// Compiles one spec for `dockerfile`/`plan`, printing diagnostics; `None` means exit 1.
fn compile_one(
    printer: &Printer,
    path: &Path,
    input: &InputArgs,
) -> Result<Option<Compiled>, Error> {
    let (outcome, deny) = compile_file(path, input, printer)?;
    match outcome {
        Ok(c) => {
            printer.diagnostics(&c.warnings);
            if deny && !c.warnings.is_empty() {
                printer.error("warnings are denied (`--deny-warnings`)");
                return Ok(None);
            }
            Ok(Some(c))
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
    let Some(compiled) = compile_one(printer, file, input)? else {
        return Ok(EXIT_NO);
    };
    let mirror = load_config(file, input, printer)?
        .ok()
        .and_then(|c| c.mirror);
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
    let Some(compiled) = compile_one(printer, file, input)? else {
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
/// reader never sees a half-written file and a failure leaves nothing behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".envc-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
