//! `lock`, `lock --check`, `fetch` and `sbom`: arguments → [`crate::ops::lock`] and
//! [`crate::lock::sbom`], outcomes printed.

use super::{compile_one, write_atomic, Error, Printer, EXIT_NO, EXIT_OK};
use crate::cli::{InputArgs, RegistryArgs, ResolverArgs, SbomFormat, StoreArgs};
use crate::lock::cache::Cache;
use crate::lock::pip::PipSettings;
use crate::ops::compile::Usable;
use crate::ops::{self, lock::LockOptions};
use std::path::Path;
use std::sync::Arc;

pub(crate) struct LockArgs<'a> {
    pub(crate) file: &'a Path,
    pub(crate) base: Option<&'a str>,
    pub(crate) output: &'a Path,
    pub(crate) check: bool,
    pub(crate) resolver: &'a ResolverArgs,
    pub(crate) registry: &'a RegistryArgs,
    pub(crate) store: &'a StoreArgs,
    pub(crate) input: &'a InputArgs,
}

pub(crate) fn cache(dir: Option<&Path>) -> Cache {
    Cache::new(dir.map_or_else(Cache::default_dir, Path::to_path_buf))
}

fn pip_settings(r: &ResolverArgs) -> PipSettings {
    PipSettings {
        uv: r.uv.clone(),
        index_url: r.index_url.clone(),
        extra_index_urls: r.extra_index_url.clone(),
        find_links: r.find_links.clone(),
    }
}

pub(crate) fn lock(printer: &Printer, args: &LockArgs<'_>) -> Result<u8, Error> {
    let Some(Usable {
        compiled, mirror, ..
    }) = compile_one(printer, args.file, args.input)?
    else {
        return Ok(EXIT_NO);
    };
    let store_dir = ops::store_dir(args.store.store.as_deref());
    let settings = pip_settings(args.resolver);
    if args.check {
        let lock = ops::lock::read_lock(args.output)?;
        let now =
            ops::lock::current_inputs(&store_dir, &compiled.plan, args.base, &settings, &lock)?;
        ops::lock::check(args.output, &lock, &now)?;
        printer.note(&format!("{} is current", args.output.display()));
        return Ok(EXIT_OK);
    }
    let registry = Arc::new(super::registry::client(printer, args.registry, false)?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let options = LockOptions {
        base: args.base.map(str::to_string),
        registry,
        mirror,
        cache: cache(args.resolver.cache.as_deref()),
        pip: settings,
        now,
    };
    let lock = ops::lock::lock(&store_dir, &compiled.plan, &options, printer)?;
    write_atomic(args.output, lock.to_text().as_bytes())?;
    printer.note(&format!(
        "{}: {} deb(s), {} wheel(s) on {}",
        args.output.display(),
        lock.debs.len(),
        lock.wheels.len(),
        lock.inputs.base
    ));
    Ok(EXIT_OK)
}

pub(crate) fn fetch(
    printer: &Printer,
    path: &Path,
    cache_dir: Option<&Path>,
    registry: &RegistryArgs,
) -> Result<u8, Error> {
    let lock = ops::lock::read_lock(path)?;
    let cache = cache(cache_dir);
    let client = Arc::new(super::registry::client(printer, registry, false)?);
    let n = ops::lock::fetch(&lock, &cache, client)?;
    printer.note(&format!(
        "{n} artifact(s) of {} verified in {}",
        path.display(),
        cache.root().display()
    ));
    Ok(EXIT_OK)
}

pub(crate) fn sbom(
    printer: &Printer,
    path: &Path,
    format: SbomFormat,
    output: Option<&Path>,
) -> Result<u8, Error> {
    let lock = ops::lock::read_lock(path)?;
    let epoch = crate::epoch::from_env()?;
    let text = match format {
        SbomFormat::Cyclonedx => crate::lock::sbom::cyclonedx(&lock),
        SbomFormat::Spdx => crate::lock::sbom::spdx(&lock, epoch),
    };
    match output {
        Some(out) => write_atomic(out, text.as_bytes())?,
        None => printer.data(&text)?,
    }
    Ok(EXIT_OK)
}
