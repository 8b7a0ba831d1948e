//! The store commands: `build`, `bake`, `list`, `show`, `diff`, `rollback`, `export`, `verify`,
//! `gc`, and `resolve`. Each turns arguments into the typed inputs of a use case in
//! [`crate::ops`], calls it, and formats its outcome (human text or JSON) through the
//! [`Printer`].

use super::{Error, Printer, EXIT_NO, EXIT_OK};
use crate::assemble;
use crate::cli::{ExportArg, Format, StoreArgs};
use crate::oci::archive::ExportFormat;
use crate::oci::Compression;
use crate::ops::bake::BakeOptions;
use crate::ops::build::BuildOutcome;
use crate::ops::{self, maintenance, revisions};
use crate::plan::diff::{Change, PlanDiff};
use crate::store::builds::BuildStatus;
use crate::store::view::RevisionDetail;
use crate::store::Store;
use crate::types::name::{Address, EnvName, Identifier};
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;

fn open(args: &StoreArgs) -> Result<Store, Error> {
    ops::open(args.store.as_deref())
}

fn env_name(name: &str) -> Result<EnvName, Error> {
    Ok(EnvName::parse(name)?)
}

fn identifier(reference: &str) -> Result<Identifier, Error> {
    Ok(Identifier::parse(reference)?)
}

fn print_commit(printer: &Printer, outcome: &BuildOutcome) -> Result<u8, Error> {
    printer.data(&super::build::commit_line(outcome))?;
    Ok(EXIT_OK)
}

fn short(d: &str) -> String {
    d.strip_prefix("sha256:")
        .map_or(d, |h| &h[..12.min(h.len())])
        .to_string()
}

/// `envc bake`'s arguments.
pub(crate) struct BakeArgs<'a> {
    pub(crate) runtime_env: &'a Path,
    pub(crate) name: &'a str,
    pub(crate) from: &'a str,
    pub(crate) compression: Compression,
    pub(crate) ray: crate::runtime_env::RayRules,
    pub(crate) format: Format,
}

pub(crate) fn bake(
    printer: &Printer,
    args: &BakeArgs<'_>,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    use crate::runtime_env::validate::Level;
    let BakeArgs {
        runtime_env,
        name,
        from,
        compression,
        ray,
        format,
    } = *args;
    let name = env_name(name)?;
    let epoch = crate::epoch::from_env()?;
    let (env, diags) = super::runtime_env::load(runtime_env, Level::Job, ray)?;
    printer.diagnostics(&diags);
    let Ok(env) = env else {
        return Ok(EXIT_NO);
    };
    let store = open(store_args)?;
    let from = identifier(from)?;
    let options = BakeOptions {
        compression,
        epoch,
        ray,
        ray_env: crate::runtime_env::working_dir::RayPackagingEnv::from_env(),
    };
    let outcome = ops::bake::bake(&store, &name, &from, &env, &options, printer)?;
    if format == Format::Json {
        let b = &outcome.build;
        let doc = json!({
            "name": b.name.to_string(),
            "revision": b.revision.revision,
            "manifest": b.revision.manifest.digest.to_string(),
            "unchanged": b.unchanged,
            "ray": ray.to_string(),
            "runtime_env": outcome.runtime_env,
            "note": outcome.note,
        });
        printer.data(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        return Ok(EXIT_OK);
    }
    print_commit(printer, &outcome.build)?;
    printer.note(&outcome.note);
    printer.data(&format!("runtime_env: {}\n", outcome.runtime_env))?;
    Ok(EXIT_OK)
}

pub(crate) fn list(
    printer: &Printer,
    name: Option<&str>,
    all: bool,
    format: Format,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let store = open(store_args)?;
    let name = name.map(env_name).transpose()?;
    let views = if all {
        let history = revisions::history(&store, name.as_ref())?;
        if format == Format::Json {
            return json_out(printer, &history);
        }
        history.revisions
    } else {
        revisions::list(&store, name.as_ref())?
    };
    if format == Format::Json {
        return json_out(printer, &views);
    }
    let mut rows = vec![[
        "REVISION".to_string(),
        "MANIFEST".into(),
        "SPEC".into(),
        "BASE".into(),
        "NOTE".into(),
    ]];
    for r in views {
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
    let mut out = String::new();
    format_table(&mut out, &rows);
    if all {
        let failed: Vec<_> = store
            .builds(name.as_ref().map(EnvName::as_str))?
            .into_iter()
            .filter(|b| b.status != BuildStatus::Succeeded)
            .collect();
        if !failed.is_empty() {
            let mut rows = vec![[
                "BUILD".to_string(),
                "STATUS".into(),
                "STARTED".into(),
                "FAILING STEP".into(),
            ]];
            for b in failed {
                rows.push([
                    b.id,
                    b.status.to_string(),
                    b.started,
                    b.failing_step.map_or_else(
                        || "-".to_string(),
                        |s| s.lines().next().unwrap_or("").to_string(),
                    ),
                ]);
            }
            out.push('\n');
            format_table(&mut out, &rows);
        }
    }
    printer.data(&out)?;
    Ok(EXIT_OK)
}

/// `list --environments`.
pub(crate) fn environments(
    printer: &Printer,
    format: Format,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let store = open(store_args)?;
    let envs = revisions::environments(&store)?;
    if format == Format::Json {
        return json_out(printer, &envs);
    }
    let mut rows = vec![[
        "NAME".to_string(),
        "REVISIONS".into(),
        "LATEST".into(),
        "MANIFEST".into(),
    ]];
    for e in envs {
        rows.push([
            e.name,
            e.revisions.to_string(),
            e.latest,
            short(&e.manifest),
        ]);
    }
    let mut out = String::new();
    format_table(&mut out, &rows);
    printer.data(&out)?;
    Ok(EXIT_OK)
}

/// A document as `--format json` prints it: pretty, keys sorted (through `Value`).
fn json_out(printer: &Printer, doc: &impl serde::Serialize) -> Result<u8, Error> {
    let doc = serde_json::to_value(doc)?;
    printer.data(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    Ok(EXIT_OK)
}

/// Rows as columns padded to the widest cell, two spaces apart, no trailing blanks.
pub(crate) fn format_table<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
}

pub(crate) fn diff(
    printer: &Printer,
    a: &str,
    b: &str,
    format: Format,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let outcome = match ops::diff::diff(a, b, store_args.store.as_deref(), printer) {
        Ok(outcome) => outcome,
        Err(e) => {
            if let Some(message) = e.message() {
                printer.error(&message);
            }
            return Ok(e.exit_code());
        }
    };
    let code = outcome.exit_code();
    if format == Format::Json {
        let doc = outcome.document();
        printer.data(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        return Ok(code);
    }
    let ops::diff::DiffOutcome {
        a,
        b,
        changes: d,
        layers_known,
        locked,
        ..
    } = outcome;
    let mut out = format!("--- {}\n+++ {}\n", a.label, b.label);
    render_diff(&mut out, &d);
    if let Some(locked) = locked.as_ref().filter(|l| !l.is_empty()) {
        out.push_str("locked versions:\n");
        for c in locked {
            let line = match (&c.from, &c.to) {
                (Some(f), Some(t)) => format!("  ~ {} {} {f} → {t}", c.ecosystem, c.name),
                (None, Some(t)) => format!("  + {} {} {t}", c.ecosystem, c.name),
                (Some(f), None) => format!("  - {} {} {f}", c.ecosystem, c.name),
                (None, None) => continue,
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
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

pub(crate) fn show(
    printer: &Printer,
    reference: &str,
    format: Format,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let store = open(store_args)?;
    let view = revisions::show(&store, &identifier(reference)?)?;
    if format == Format::Json {
        let doc = serde_json::to_value(&view)?;
        printer.data(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        return Ok(EXIT_OK);
    }
    let RevisionDetail {
        revision: v,
        layers,
        plan,
        locked,
        hermetic_layers,
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
    if let Some(locked) = &locked {
        let _ = writeln!(out, "  locked (built with --lock):");
        for (ecosystem, packages) in locked {
            for (name, version) in packages {
                let _ = writeln!(out, "    {ecosystem:<7} {name} {version}");
            }
        }
    }
    let hermetic = hermetic_layers.unwrap_or_default();
    let _ = writeln!(out, "  layers:");
    for l in &layers {
        let mark = if hermetic.contains(&l.digest.to_string()) {
            "  hermetic"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "    {} {:>12} bytes  {}{mark}",
            l.digest, l.size, l.media_type
        );
    }
    let _ = writeln!(out, "  plan (/{}):", assemble::PLAN_PATH);
    // Through `Value`, so keys print sorted, as in the canonical form.
    let pretty = serde_json::to_string_pretty(&json!(plan))?;
    for l in pretty.lines() {
        let _ = writeln!(out, "    {l}");
    }
    printer.data(&out)?;
    Ok(EXIT_OK)
}

pub(crate) fn rollback(
    printer: &Printer,
    name: &str,
    to: u32,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let store = open(store_args)?;
    let name = env_name(name)?;
    let outcome = revisions::rollback(&store, &name, to)?;
    print_commit(printer, &outcome)
}

pub(crate) fn export(
    printer: &Printer,
    reference: &str,
    format: ExportArg,
    output: &Path,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let store = open(store_args)?;
    let id = identifier(reference)?;
    let f = match format {
        ExportArg::OciArchive => ExportFormat::OciArchive,
        ExportArg::DockerArchive => ExportFormat::DockerArchive,
    };
    let r = revisions::export(&store, &id, f, output)?;
    printer.verbose(&format!(
        "wrote {}:{} to {}",
        r.name,
        r.revision,
        output.display()
    ));
    Ok(EXIT_OK)
}

pub(crate) fn verify(printer: &Printer, store_args: &StoreArgs) -> Result<u8, Error> {
    let store = open(store_args)?;
    let report = maintenance::verify(&store)?;
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
    Ok(maintenance::verify_exit_code(&report))
}

pub(crate) fn gc(printer: &Printer, store_args: &StoreArgs) -> Result<u8, Error> {
    let store = open(store_args)?;
    let r = maintenance::gc(&store)?;
    printer.data(&format!(
        "removed {} unreachable blob(s) and {} temporary file(s), {} bytes freed\n",
        r.removed_blobs, r.removed_temp, r.bytes_freed
    ))?;
    Ok(EXIT_OK)
}

pub(crate) fn resolve(printer: &Printer, address: &str, format: Format) -> Result<u8, Error> {
    let a = Address::parse(address)?;
    let out = match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&a)?),
        Format::Human => {
            let mut s = String::new();
            let v = serde_json::to_value(&a)?;
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
