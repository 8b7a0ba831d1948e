//! The store commands: `build`, `list`, `show`, `diff`, `rollback`, `export`, `verify`, `gc`,
//! and `resolve`. Each turns arguments into library calls on [`Store`] and
//! [`assemble`](crate::assemble), and prints through the [`Printer`].

use super::{compile_one, Error, Printer, EXIT_ERROR, EXIT_NO, EXIT_OK};
use crate::assemble::{self, Base, LayerCompression};
use crate::cli::{CompressionArg, ExportArg, Format, InputArgs, StoreArgs};
use crate::oci::archive::{ExportFormat, SourceLocation};
use crate::oci::Descriptor;
use crate::plan::diff::{self, Change, PlanDiff};
use crate::store::annotations::PROVENANCE;
use crate::store::view::{RevisionDetail, RevisionView};
use crate::store::{Commit, Revision, Store};
use crate::types::name::{Address, EnvName, Identifier};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn store_dir(args: &StoreArgs) -> PathBuf {
    args.store
        .clone()
        .unwrap_or_else(|| PathBuf::from(".envc/store"))
}

fn open(args: &StoreArgs) -> Result<Store, Error> {
    Ok(Store::open(&store_dir(args))?)
}

/// The build clock: `SOURCE_DATE_EPOCH` when set, else 0. The only source of time.
fn epoch() -> Result<u64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| {
            Error::No(format!(
                "SOURCE_DATE_EPOCH=`{v}` is not a number of seconds since 1970-01-01"
            ))
        }),
        _ => Ok(0),
    }
}

fn env_name(name: &str) -> Result<EnvName, Error> {
    EnvName::parse(name).map_err(|e| Error::No(e.to_string()))
}

fn identifier(reference: &str) -> Result<Identifier, Error> {
    Identifier::parse(reference).map_err(|e| Error::No(e.to_string()))
}

/// The `--base` grammar, as skopeo's transports: `oci:DIR[:REF]` (an OCI layout) and
/// `oci-archive:FILE[:REF]`, where the path ends at the first `:` and REF is everything after
/// it (so `oci:./store:app:2` names `app:2`, envc's own ref names); and, without a transport,
/// `DIR[:REF]`, split after whichever prefix is an existing directory (exactly one must be).
fn base_source(arg: &str) -> Result<SourceLocation, Error> {
    let forms = "a base is `oci:DIR[:REF]` or `DIR[:REF]` (an OCI layout) or \
                 `oci-archive:FILE[:REF]`";
    let split = |rest: &str, what: &str| -> Result<(PathBuf, Option<String>), Error> {
        let (path, reference) = match rest.split_once(':') {
            Some((p, r)) => (p, Some(r.to_string())),
            None => (rest, None),
        };
        if path.is_empty() || reference.as_deref() == Some("") {
            return Err(Error::Usage(format!(
                "`--base {arg}`: the {what} or the ref after `:` is empty; {forms}"
            )));
        }
        Ok((PathBuf::from(path), reference))
    };
    // skopeo's other transports name a registry or an engine, which envc does not read (yet).
    let transport = arg.split_once(':').map_or("", |(t, _)| t);
    if arg.contains("://")
        || [
            "docker",
            "docker-archive",
            "docker-daemon",
            "containers-storage",
            "dir",
        ]
        .contains(&transport)
    {
        return Err(Error::Usage(format!(
            "`--base {arg}`: envc reads bases from OCI layouts and oci-archives only, not from a \
             registry or an engine; copy the image into a layout first (`skopeo copy \
             docker://IMAGE oci:DIR:REF`) and pass `--base oci:DIR:REF`"
        )));
    }
    if let Some(rest) = arg.strip_prefix("oci-archive:") {
        let (path, reference) = split(rest, "archive")?;
        return Ok(SourceLocation::Archive { path, reference });
    }
    if let Some(rest) = arg.strip_prefix("oci:") {
        let (dir, reference) = split(rest, "directory")?;
        return Ok(SourceLocation::Layout { dir, reference });
    }
    let mut found: Vec<(&str, Option<&str>)> = Vec::new();
    if Path::new(arg).is_dir() {
        found.push((arg, None));
    }
    for (i, _) in arg.match_indices(':') {
        let (dir, reference) = (&arg[..i], &arg[i + 1..]);
        if !dir.is_empty() && !reference.is_empty() && Path::new(dir).is_dir() {
            found.push((dir, Some(reference)));
        }
    }
    match found.as_slice() {
        [(dir, reference)] => Ok(SourceLocation::Layout {
            dir: PathBuf::from(dir),
            reference: reference.map(str::to_string),
        }),
        [] if Path::new(arg).exists() => Ok(SourceLocation::Layout {
            dir: PathBuf::from(arg),
            reference: None,
        }), // not a directory: the import says so (and suggests oci-archive:)
        [] => Err(Error::Read {
            path: arg.split(':').next().unwrap_or(arg).to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no such OCI layout directory (from `--base {arg}`; {forms})"),
            ),
        }),
        several => Err(Error::Usage(format!(
            "`--base {arg}` is ambiguous: {} are all directories; write `oci:DIR:REF`",
            several
                .iter()
                .map(|(d, _)| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        ))),
    }
}

/// `NAME:REV sha256:<manifest>`, followed by `unchanged` when no revision was added.
fn print_commit(printer: &Printer, name: &EnvName, commit: &Commit) -> Result<u8, Error> {
    let r = &commit.revision;
    let note = if commit.unchanged { " unchanged" } else { "" };
    printer.data(&format!(
        "{name}:{} {}{note}\n",
        r.revision, r.manifest.digest
    ))?;
    Ok(EXIT_OK)
}

#[allow(clippy::too_many_arguments)]
pub fn build(
    printer: &Printer,
    file: &Path,
    name: &str,
    base: Option<&str>,
    compression: CompressionArg,
    store_args: &StoreArgs,
    input: &InputArgs,
) -> Result<u8, Error> {
    let name = env_name(name)?;
    let epoch = epoch()?;
    let Some((compiled, _)) = compile_one(printer, file, input)? else {
        return Ok(EXIT_NO);
    };
    let plan = &compiled.plan;
    let pending = assemble::steps_needing_execution(plan);
    if !pending.is_empty() {
        return Err(assemble::Error::NeedsExecution {
            steps: pending.join(", "),
        }
        .into());
    }
    let root = store_dir(store_args);
    let existed = root.exists();
    let store = Store::open_or_create(&root)?;
    let result = build_into(printer, &store, &name, &compiled, base, compression, epoch);
    // A store this command created and that holds nothing (the base could not be read, say)
    // is removed again, so a failed build leaves the disk as it was.
    if result.is_err() && !existed && store.is_empty().unwrap_or(false) {
        let _ = std::fs::remove_dir_all(&root);
    }
    result
}

fn build_into(
    printer: &Printer,
    store: &Store,
    name: &EnvName,
    compiled: &crate::Compiled,
    base: Option<&str>,
    compression: CompressionArg,
    epoch: u64,
) -> Result<u8, Error> {
    let plan = &compiled.plan;
    let base_name = plan.base.reference.clone();
    let imported = match base {
        Some(arg) => store.import_base(&base_source(arg)?, &base_name)?,
        None => store.stored_base(&base_name)?.ok_or_else(|| {
            Error::Usage(format!(
                "the base image `{base_name}` is not in the store: supply its content with \
                 `--base oci:DIR[:REF]` (an OCI layout) or `--base oci-archive:FILE[:REF]` \
                 (envc does not pull from registries yet)"
            ))
        })?,
    };
    if imported.reused {
        printer.verbose(&format!(
            "base `{base_name}` already in the store ({})",
            imported.manifest.digest
        ));
    } else {
        printer.verbose(&format!(
            "imported base `{base_name}` ({})",
            imported.manifest.digest
        ));
    }
    // The base's layers are checked before anything is written, so a corrupt one leaves no
    // blob behind.
    for layer in &imported.layers {
        store.check_layer(layer)?;
    }
    let base = Base {
        name: base_name,
        manifest: imported.manifest.clone(),
        config: imported.config.clone(),
        layers: imported.layers.clone(),
    };
    let options = assemble::Options {
        epoch,
        compression: match compression {
            CompressionArg::Gzip => LayerCompression::Gzip,
            CompressionArg::None => LayerCompression::None,
        },
    };
    let mut manifest = assemble::assemble(store, plan, &base, &options)?.manifest;
    if let Some(p) = &compiled.provenance {
        // Template inputs: recorded beside the revision, never part of the image's digest.
        let text = serde_json::to_string(p).unwrap_or_default();
        manifest.annotations.insert(PROVENANCE.into(), text);
    }
    let lock = store.lock()?;
    let commit = store.commit(&lock, name, manifest)?;
    drop(lock);
    print_commit(printer, name, &commit)
}

fn revision_json(r: &Revision) -> Value {
    serde_json::to_value(RevisionView::new(r)).unwrap_or_default()
}

fn short(d: &str) -> String {
    d.strip_prefix("sha256:")
        .map_or(d, |h| &h[..12.min(h.len())])
        .to_string()
}

pub fn bake(
    printer: &Printer,
    runtime_env: &Path,
    name: &str,
    from: &str,
    compression: CompressionArg,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    use crate::runtime_env::validate::{Level, RayGeneration};
    let name = env_name(name)?;
    let epoch = epoch()?;
    let (env, diags) = super::runtime_env::load(runtime_env, Level::Job, RayGeneration::V2)?;
    printer.diagnostics(&diags);
    let Ok(env) = env else {
        return Ok(EXIT_NO);
    };
    let store = open(store_args)?;
    let from_rev = store.resolve(&identifier(from)?)?;
    let config = store.image_config(&from_rev)?;
    let base = Base {
        name: from_rev.reference(),
        manifest: from_rev.manifest.clone(),
        config,
        layers: store.layers(&from_rev)?,
    };
    let plan = assemble::read_plan(&store, &from_rev.manifest.digest)?;
    // Checked before anything is written: a corrupt layer leaves no blob behind.
    for layer in &base.layers {
        store.check_layer(layer)?;
    }
    let options = assemble::Options {
        epoch,
        compression: match compression {
            CompressionArg::Gzip => LayerCompression::Gzip,
            CompressionArg::None => LayerCompression::None,
        },
    };
    let baked =
        crate::assemble::runtime_env::bake(&store, &base, &plan, &env, &options).map_err(|e| {
            match e {
                crate::assemble::runtime_env::BakeError::Image(e) => Error::Image(e),
                other => Error::No(other.to_string()),
            }
        })?;
    for note in &baked.notes {
        printer.note(note);
    }
    if env.pip.is_some() || env.conda.is_some() {
        printer.note("`pip` and `conda` are not installed by baking: Ray installs them when the job starts (or build them into the cluster environment)");
    }
    if let Some(uri) = &baked.working_dir_uri {
        printer.verbose(&format!(
            "working_dir {uri} at {}",
            crate::assemble::runtime_env::WORKING_DIR
        ));
    }
    let lock = store.lock()?;
    let commit = store.commit(&lock, &name, baked.image.manifest)?;
    drop(lock);
    print_commit(printer, &name, &commit)
}

pub fn list(
    printer: &Printer,
    name: Option<&str>,
    format: Format,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let store = open(store_args)?;
    let name = name.map(env_name).transpose()?;
    let revisions = store.revisions(name.as_ref())?;
    if let Some(n) = &name {
        if revisions.is_empty() {
            return Err(Error::No(crate::types::name::name_not_found_message(
                n.as_str(),
            )));
        }
    }
    if format == Format::Json {
        let items: Vec<Value> = revisions.iter().map(revision_json).collect();
        return printer
            .data(&format!(
                "{}\n",
                serde_json::to_string_pretty(&items).unwrap_or_default()
            ))
            .map(|()| EXIT_OK);
    }
    let mut rows = vec![[
        "REVISION".to_string(),
        "MANIFEST".into(),
        "SPEC".into(),
        "BASE".into(),
        "NOTE".into(),
    ]];
    for r in revisions.iter().map(RevisionView::new) {
        let note = match &r.rollback_to {
            Some(to) => format!("rollback to {}:{to}", r.name),
            None => String::new(),
        };
        rows.push([
            r.reference,
            short(&r.manifest),
            short(r.spec_digest.as_deref().unwrap_or("-")),
            r.base.unwrap_or_else(|| "-".to_string()),
            note,
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    printer.data(&out)?;
    Ok(EXIT_OK)
}

/// One side of a `diff` or a `show`: a plan, and the layers when it is a stored revision.
struct Side {
    label: String,
    plan: crate::plan::Plan,
    layers: Vec<Descriptor>,
}

/// How `diff` reads an argument: `-` and anything with a `/` is a spec file; `NAME:REV` is
/// always a stored revision (a file of that name is `./NAME:REV`); a bare word is the spec file
/// of that name when one exists, else the latest revision of the environment of that name. The
/// reading not taken is never silent: a note names it.
fn side(printer: &Printer, arg: &str, store_args: &StoreArgs) -> Result<Option<Side>, Error> {
    const FORMS: &str = "a spec file is a path such as `./env.yaml` (or `-`, standard input); \
                         a stored revision is `NAME` (the latest) or `NAME:REV`";
    let path = Path::new(arg);
    let id = if arg == "-" || arg.contains('/') {
        None
    } else {
        Identifier::parse(arg).ok()
    };
    let spec_file = || -> Result<Option<Side>, Error> {
        let input = InputArgs {
            template: false,
            vars: Vec::new(),
            public_vars: Vec::new(),
            config: None,
            deny_warnings: false,
        };
        Ok(compile_one(printer, path, &input)?.map(|(c, _)| Side {
            label: arg.to_string(),
            plan: c.plan,
            layers: Vec::new(),
        }))
    };
    let Some(id) = id else {
        if arg != "-" && !arg.contains('/') && !path.exists() {
            return Err(Error::Usage(format!(
                "`{arg}`: no such spec file, and not a revision name; {FORMS}"
            )));
        }
        return spec_file();
    };
    if id.revision.is_some() {
        if path.exists() {
            printer.note(&format!(
                "`{arg}` is read as the stored revision {arg}, not as the file `{arg}` (write \
                 `./{arg}` for the file)"
            ));
        }
    } else if path.is_file() {
        if open(store_args)
            .and_then(|s| Ok(s.revisions(Some(&id.name))?))
            .is_ok_and(|r| !r.is_empty())
        {
            printer.note(&format!(
                "`{arg}` is read as the spec file `{arg}`, not as the stored environment \
                 {arg} (write `{arg}:REV` for a revision)"
            ));
        }
        return spec_file();
    }
    let stored = || -> Result<Side, Error> {
        let store = open(store_args)?;
        let r = store.resolve(&id)?;
        Ok(Side {
            label: format!("{}:{}", r.name, r.revision),
            plan: assemble::read_plan(&store, &r.manifest.digest)?,
            layers: store.layers(&r)?,
        })
    };
    match stored() {
        Err(Error::Store(
            crate::store::Error::NameNotFound { .. }
            | crate::store::Error::Oci(crate::oci::Error::NotALayout { .. }),
        )) if id.revision.is_none() => Err(Error::Usage(format!(
            "`{arg}` is neither a spec file (no file `{arg}` exists) nor a cluster environment \
             in the store; {FORMS}"
        ))),
        r => r.map(Some),
    }
}

pub fn diff(
    printer: &Printer,
    a: &str,
    b: &str,
    format: Format,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    // diff(1)'s contract, so CI can ask "does this change alter the image?": 0 equal,
    // 1 different, 2 trouble (a side that cannot be read, resolved or compiled).
    if a == "-" && b == "-" {
        printer.error("standard input (`-`) can be read only once: name it for one side");
        return Ok(EXIT_ERROR);
    }
    let sides = side(printer, a, store_args).and_then(|a| Ok((a, side(printer, b, store_args)?)));
    let (a, b) = match sides {
        Ok((Some(a), Some(b))) => (a, b),
        Ok(_) => return Ok(EXIT_ERROR),
        Err(e) => {
            printer.error(&e.to_string());
            return Ok(EXIT_ERROR);
        }
    };
    let d = diff::diff(&a.plan, &b.plan);
    let layers_known = !a.layers.is_empty() && !b.layers.is_empty();
    let layers_differ = layers_known
        && a.layers
            .iter()
            .map(|l| &l.digest)
            .ne(b.layers.iter().map(|l| &l.digest));
    let code = if d.is_empty() && !layers_differ {
        EXIT_OK
    } else {
        EXIT_NO
    };
    if format == Format::Json {
        let layer_json = |s: &Side| {
            s.layers
                .iter()
                .map(|l| l.digest.to_string())
                .collect::<Vec<_>>()
        };
        let doc = json!({
            "a": a.label, "b": b.label, "changes": d, "differ": code == EXIT_NO,
            "layers": layers_known.then(|| json!({"a": layer_json(&a), "b": layer_json(&b)})),
        });
        return printer
            .data(&format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            ))
            .map(|()| code);
    }
    let mut out = format!("--- {}\n+++ {}\n", a.label, b.label);
    render_diff(&mut out, &d);
    if layers_known {
        out.push_str("layers:\n");
        for l in &a.layers {
            let mark = if b.layers.iter().any(|x| x.digest == l.digest) {
                "="
            } else {
                "-"
            };
            let _ = writeln!(out, "  {mark} {} ({} bytes)", l.digest, l.size);
        }
        for l in b
            .layers
            .iter()
            .filter(|l| !a.layers.iter().any(|x| x.digest == l.digest))
        {
            let _ = writeln!(out, "  + {} ({} bytes)", l.digest, l.size);
        }
    }
    if code == EXIT_OK {
        out.push_str("no differences\n");
    }
    printer.data(&out)?;
    Ok(code)
}

fn render_diff(out: &mut String, d: &PlanDiff) {
    if let Some((from, to)) = &d.base {
        let _ = writeln!(out, "base: {from} -> {to}");
    }
    let section = |out: &mut String, title: &str, changes: &[Change], sep: &str| {
        if changes.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title}:");
        for c in changes {
            let _ = match c {
                Change::Added { key, value } if key.is_empty() || sep.is_empty() => {
                    writeln!(out, "  + {value}")
                }
                Change::Removed { key, value } if key.is_empty() || sep.is_empty() => {
                    writeln!(out, "  - {value}")
                }
                Change::Added { key, value } => writeln!(out, "  + {key}{sep}{value}"),
                Change::Removed { key, value } => writeln!(out, "  - {key}{sep}{value}"),
                Change::Changed { key, from, to } => writeln!(out, "  ~ {key}: {from} -> {to}"),
            };
        }
    };
    section(out, "env", &d.env, "=");
    for (kind, changes) in &d.packages {
        section(out, kind, changes, "");
    }
    section(out, "post_build_cmds", &d.post_build, "");
}

pub fn show(
    printer: &Printer,
    reference: &str,
    format: Format,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let store = open(store_args)?;
    let r = store.resolve(&identifier(reference)?)?;
    let view = RevisionDetail {
        plan: assemble::read_plan(&store, &r.manifest.digest)?,
        layers: store.layers(&r)?,
        revision: RevisionView::new(&r),
    };
    if format == Format::Json {
        let doc = serde_json::to_value(&view).unwrap_or_default();
        return printer
            .data(&format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            ))
            .map(|()| EXIT_OK);
    }
    let RevisionDetail {
        revision: v,
        layers,
        plan,
    } = view;
    let mut out = String::new();
    let _ = writeln!(out, "{}", v.reference);
    let _ = writeln!(out, "  manifest     {}", v.manifest);
    for (label, value) in [
        ("spec digest", &v.spec_digest),
        ("base", &v.base),
        ("base digest", &v.base_digest),
        ("parent", &v.parent),
        ("rollback to", &v.rollback_to),
        ("rolled back from", &v.rolled_back_from),
    ] {
        if let Some(value) = value {
            let _ = writeln!(out, "  {label:<12} {value}");
        }
    }
    if let Some(shown) = &v.provenance {
        let _ = writeln!(out, "  {:<12} {shown}", "provenance");
    }
    let _ = writeln!(out, "  layers:");
    for l in &layers {
        let _ = writeln!(
            out,
            "    {} {:>12} bytes  {}",
            l.digest, l.size, l.media_type
        );
    }
    let _ = writeln!(out, "  plan (/{}):", assemble::PLAN_PATH);
    // Through `Value`, so keys print sorted, as in the canonical form.
    let pretty = serde_json::to_string_pretty(&json!(plan)).unwrap_or_default();
    for l in pretty.lines() {
        let _ = writeln!(out, "    {l}");
    }
    printer.data(&out)?;
    Ok(EXIT_OK)
}

pub fn rollback(
    printer: &Printer,
    name: &str,
    to: u32,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let store = open(store_args)?;
    let name = env_name(name)?;
    let commit = store.rollback(&name, to)?;
    print_commit(printer, &name, &commit)
}

pub fn export(
    printer: &Printer,
    reference: &str,
    format: ExportArg,
    output: &Path,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let store = open(store_args)?;
    let r = store.resolve(&identifier(reference)?)?;
    let f = match format {
        ExportArg::OciArchive => ExportFormat::OciArchive,
        ExportArg::DockerArchive => ExportFormat::DockerArchive,
    };
    store.export(&r, f, output)?;
    printer.verbose(&format!(
        "wrote {}:{} to {}",
        r.name,
        r.revision,
        output.display()
    ));
    Ok(EXIT_OK)
}

pub fn verify(printer: &Printer, store_args: &StoreArgs) -> Result<u8, Error> {
    let store = open(store_args)?;
    let report = store.verify()?;
    let mut out = String::new();
    for p in &report.problems {
        let _ = writeln!(out, "problem: {p}");
    }
    let _ = writeln!(
        out,
        "{}: {} revision(s), {} base(s), {} blob(s), {} bytes checked",
        if report.problems.is_empty() {
            "ok"
        } else {
            "FAILED"
        },
        report.revisions,
        report.bases,
        report.blobs_checked,
        report.bytes_checked
    );
    printer.data(&out)?;
    Ok(if report.problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_NO
    })
}

pub fn gc(printer: &Printer, store_args: &StoreArgs) -> Result<u8, Error> {
    let store = open(store_args)?;
    let r = store.gc()?;
    printer.data(&format!(
        "removed {} unreachable blob(s) and {} temporary file(s), {} bytes freed\n",
        r.removed_blobs, r.removed_temp, r.bytes_freed
    ))?;
    Ok(EXIT_OK)
}

pub fn resolve(printer: &Printer, address: &str, format: Format) -> Result<u8, Error> {
    let a = Address::parse(address).map_err(|e| Error::No(e.to_string()))?;
    let out = match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&a).unwrap_or_default()),
        Format::Human => {
            let mut s = String::new();
            let v = serde_json::to_value(&a).unwrap_or_default();
            if let Some(m) = v.as_object() {
                for (k, v) in m {
                    if !v.is_null() {
                        let shown = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                        let _ = writeln!(s, "{k:<16} {shown}");
                    }
                }
            }
            s
        }
    };
    printer.data(&out)?;
    Ok(EXIT_OK)
}
