//! One function per subcommand: arguments → library call ([`crate::ops`]) → output. Clap
//! arguments become the use cases' typed inputs here, and their typed outcomes become text or
//! JSON; nothing else happens here. Everything printed goes through [`Printer`]; stdout
//! carries data (a Dockerfile, JSON), stderr carries messages.

mod bakefile;
mod build;
mod lock;
mod printer;
mod registry;
mod runtime_env;
mod serve;
mod store;

use crate::cli::{Cli, ColorChoice, Command, DockerfileArgs, Format, InputArgs};
use crate::diag::{codes, render};
use crate::ops::compile::{Refused, SpecInputs, Usable};
use crate::ops::dockerfile::DockerfileOptions;
pub(crate) use crate::ops::{Error, EXIT_ERROR, EXIT_NO, EXIT_OK};
pub(crate) use printer::Printer;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

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
            target,
            dockerfile,
            input,
        } => dockerfile_cmd(
            &printer,
            &file,
            output.as_deref(),
            target,
            &dockerfile,
            &input,
        ),
        Command::Bakefile {
            specs,
            names,
            output,
            tag_prefix,
            cache_from,
            cache_to,
            platforms,
            dockerfile,
            input,
        } => bakefile::run(
            &printer,
            bakefile::Args {
                specs,
                names,
                output,
                tag_prefix,
                cache_from,
                cache_to,
                platforms,
                dockerfile,
                input,
            },
        ),
        Command::Plan {
            file,
            digest,
            provenance,
            input,
        } => plan_cmd(&printer, &file, digest, provenance, &input),
        Command::Build {
            files,
            names,
            base,
            compression,
            engine,
            engine_args,
            rebuild,
            jobs,
            offline,
            lock,
            cache,
            registry: reg,
            dockerfile,
            store: st,
            input,
        } => build::build(
            &printer,
            &build::BuildArgs {
                files: &files,
                names: &names,
                base: base.as_deref(),
                compression,
                engine: engine.as_deref(),
                engine_args: &engine_args,
                rebuild,
                jobs,
                offline,
                lock: lock.as_deref(),
                cache: cache.as_deref(),
                registry: &reg,
                dockerfile: &dockerfile,
                store: &st,
                input: &input,
            },
        ),
        Command::Lock {
            file,
            base,
            output,
            check,
            resolver,
            registry: reg,
            store: st,
            input,
        } => lock::lock(
            &printer,
            &lock::LockArgs {
                file: &file,
                base: base.as_deref(),
                output: &output,
                check,
                resolver: &resolver,
                registry: &reg,
                store: &st,
                input: &input,
            },
        ),
        Command::Fetch {
            lock: path,
            cache,
            registry: reg,
        } => lock::fetch(&printer, &path, cache.as_deref(), &reg),
        Command::Sbom {
            lock: path,
            format,
            output,
        } => lock::sbom(&printer, &path, format, output.as_deref()),
        Command::Import {
            name,
            spec,
            image,
            base,
            force,
            store: st,
            input,
        } => build::import(
            &printer,
            &build::ImportArgs {
                name: &name,
                spec: &spec,
                image: &image,
                base: base.as_deref(),
                force,
                store: &st,
                input: &input,
            },
        ),
        Command::Logs { build, store: st } => build::logs(&printer, &build, &st),
        Command::Serve {
            store: st,
            listen,
            token_file,
            cors_origin,
            max_body,
            max_queue,
            max_builds,
            grace,
            engine,
            engine_arg,
            config,
        } => serve::serve(
            &printer,
            crate::server::ServeOptions {
                store: crate::ops::store_dir(st.store.as_deref()),
                listen,
                token_file,
                max_body,
                max_queue: usize::from(max_queue),
                max_builds: usize::from(max_builds),
                grace: std::time::Duration::from_secs(grace),
                engine,
                engine_args: engine_arg,
                cors_origins: cors_origin,
                config: Default::default(),
            },
            config.as_deref(),
        ),
        Command::Bake {
            runtime_env,
            name,
            from,
            compression,
            ray,
            format,
            store: st,
        } => store::bake(
            &printer,
            &store::BakeArgs {
                runtime_env: &runtime_env,
                name: &name,
                from: &from,
                compression,
                ray,
                format,
            },
            &st,
        ),
        Command::List {
            environments: true,
            format,
            store: st,
            ..
        } => store::environments(&printer, format, &st),
        Command::List {
            name,
            all,
            format,
            store: st,
            ..
        } => store::list(&printer, name.as_deref(), all, format, &st),
        Command::Show {
            reference,
            format,
            store: st,
        } => store::show(&printer, &reference, format, &st),
        Command::CheckImage {
            image,
            format,
            store: st,
        } => check_image(&printer, &image, format, &st),
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
        Command::Pull {
            reference,
            from,
            platform,
            all_platforms,
            registry: reg,
            store: st,
        } => registry::pull(
            &printer,
            &registry::PullArgs {
                reference: &reference,
                from: from.as_deref(),
                platform: platform.as_deref(),
                all_platforms,
                registry: &reg,
                store: &st,
            },
        ),
        Command::Push {
            what,
            dest,
            registry: reg,
            store: st,
        } => registry::push(&printer, &what, &dest, &reg, &st),
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
        Command::Schema => printer
            .data(&crate::spec::schema::json())
            .map(|()| EXIT_OK)
            .map_err(Error::from),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "envc", &mut buf);
            printer
                .data(&String::from_utf8_lossy(&buf))
                .map(|()| EXIT_OK)
                .map_err(Error::from)
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

/// The input flags as the use cases take them.
fn spec_inputs(input: &InputArgs) -> SpecInputs {
    SpecInputs {
        template: input.template,
        vars: input.vars.clone(),
        public_vars: input.public_vars.clone(),
        config: input.config.clone(),
        deny_warnings: input.deny_warnings,
        target: crate::emit::Target::Docker,
    }
}

/// The Dockerfile flags as the emitter takes them (the mirror comes from each spec's
/// configuration); `--templates DIR` is read here, once.
fn dockerfile_options(args: &DockerfileArgs) -> Result<crate::emit::dockerfile::Options, Error> {
    DockerfileOptions {
        heredoc: args.heredoc,
        cache_mounts: args.cache_mounts,
        templates: args.templates.clone(),
        target: crate::emit::Target::Docker,
    }
    .render_options(None)
}

fn check(
    printer: &Printer,
    files: &[PathBuf],
    format: Format,
    input: &InputArgs,
) -> Result<u8, Error> {
    let outcome = crate::ops::check::check(files, &spec_inputs(input), printer)?;
    match format {
        Format::Json => printer.data(&render::json(&outcome.diagnostics, outcome.files))?,
        Format::Human => printer.diagnostics(&outcome.diagnostics),
    }
    Ok(outcome.exit_code())
}

fn check_image(
    printer: &Printer,
    image: &str,
    format: Format,
    store: &crate::cli::StoreArgs,
) -> Result<u8, Error> {
    let outcome = crate::ops::check_image::check_image(image, store.store.as_deref())?;
    match format {
        Format::Json => printer.data(&render::json(&outcome.diagnostics, 1))?,
        Format::Human => {
            printer.diagnostics(&outcome.diagnostics);
            let n = outcome.diagnostics.len();
            printer.note(&if n == 0 {
                format!(
                    "`{}` ({}) meets Anyscale's BYOD image requirements",
                    outcome.image, outcome.manifest
                )
            } else {
                format!(
                    "`{}` ({}) misses {n} of Anyscale's BYOD image requirements ({})",
                    outcome.image,
                    outcome.manifest,
                    crate::byod::SOURCE_URL
                )
            });
        }
    }
    Ok(outcome.exit_code())
}

/// Compiles one spec for `dockerfile`/`plan`/`build`, printing diagnostics; `None` means
/// exit 1.
fn compile_one(printer: &Printer, path: &Path, input: &InputArgs) -> Result<Option<Usable>, Error> {
    match crate::ops::compile::compile_one(path, &spec_inputs(input), printer)? {
        Ok(usable) => Ok(Some(usable)),
        Err(r) => {
            refused(printer, r);
            Ok(None)
        }
    }
}

/// Says why a spec is not used (if the diagnostics do not say it); exit 1.
fn refused(printer: &Printer, refused: Refused) -> u8 {
    if let Some(message) = refused.message() {
        printer.error(message);
    }
    EXIT_NO
}

fn dockerfile_cmd(
    printer: &Printer,
    file: &Path,
    output: Option<&Path>,
    target: crate::cli::For,
    args: &DockerfileArgs,
    input: &InputArgs,
) -> Result<u8, Error> {
    let target = match target {
        crate::cli::For::Docker => crate::emit::Target::Docker,
        crate::cli::For::Anyscale => crate::emit::Target::Anyscale,
    };
    if target == crate::emit::Target::Anyscale {
        // Anyscale's subset has no heredocs or `--mount`; its Containerfile has its own template.
        let flag = [
            (args.heredoc, "--heredoc"),
            (args.cache_mounts, "--cache-mounts"),
            (args.templates.is_some(), "--templates"),
        ];
        if let Some((_, flag)) = flag.iter().find(|(set, _)| *set) {
            return Err(Error::Usage(format!(
                "`{flag}` cannot be used with `--for anyscale`: Anyscale's Containerfile subset \
                 has no heredocs or cache mounts, and envc writes it from its own template"
            )));
        }
    }
    let options = DockerfileOptions {
        heredoc: args.heredoc,
        cache_mounts: args.cache_mounts,
        templates: args.templates.clone(),
        target,
    };
    let inputs = spec_inputs(input);
    let text = match crate::ops::dockerfile::dockerfile(file, &options, &inputs, printer)? {
        Ok(text) => text,
        Err(r) => return Ok(refused(printer, r)),
    };
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
    let Some(Usable { compiled, .. }) = compile_one(printer, file, input)? else {
        return Ok(EXIT_NO);
    };
    let out = if digest {
        format!("{}\n", compiled.digest)
    } else if provenance {
        let plan: serde_json::Value = serde_json::from_str(&compiled.plan.canonical_json())?;
        let doc = serde_json::json!({
            "digest": compiled.digest.to_string(),
            "plan": plan,
            "provenance": compiled.provenance,
        });
        format!("{}\n", serde_json::to_string_pretty(&doc)?)
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
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.display().to_string(),
        source,
    };
    let mut file = crate::oci::blob::AtomicFile::create(path).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.commit().map_err(err)
}
