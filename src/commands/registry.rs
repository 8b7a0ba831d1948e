//! `pull` and `push`: arguments → a registry client and the use cases in `ops::registry` and
//! `ops::history`; the outcome as `REF sha256:<digest>` lines.

use super::{Error, Printer, EXIT_OK};
use crate::cli::{RegistryArgs, StoreArgs};
use crate::ops::{self, history, registry};
use crate::registry::auth::Credential;
use crate::registry::{Client, Options};
use crate::types::name::EnvName;
use std::io::{IsTerminal, Read};

/// The client the flags describe. The password comes from standard input, its trailing
/// newline removed (as `docker login --password-stdin` reads it).
pub(crate) fn client(
    printer: &Printer,
    args: &RegistryArgs,
    offline: bool,
) -> Result<Client, Error> {
    let credential = match &args.username {
        Some(username) => {
            let mut password = String::new();
            std::io::stdin()
                .take(64 << 10)
                .read_to_string(&mut password)
                .map_err(|source| Error::Read {
                    path: "standard input (--password-stdin)".into(),
                    source,
                })?;
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            if password.is_empty() {
                return Err(Error::Usage(
                    "--password-stdin read an empty password from standard input".into(),
                ));
            }
            Some(Credential::Basic {
                username: username.clone(),
                password,
            })
        }
        None => None,
    };
    Ok(Client::new(Options {
        insecure: args.insecure,
        credential,
        offline,
        jobs: usize::from(args.transfers),
        progress: std::io::stderr().is_terminal() && !printer.is_quiet(),
    })?)
}

pub(crate) struct PullArgs<'a> {
    pub(crate) reference: &'a str,
    pub(crate) from: Option<&'a str>,
    pub(crate) platform: Option<&'a str>,
    pub(crate) all_platforms: bool,
    pub(crate) registry: &'a RegistryArgs,
    pub(crate) store: &'a StoreArgs,
}

pub(crate) fn pull(printer: &Printer, args: &PullArgs<'_>) -> Result<u8, Error> {
    let client = client(printer, args.registry, false)?;
    let root = ops::store_dir(args.store.store.as_deref());
    if let Some(repo) = args.from {
        let name = EnvName::parse(args.reference)?;
        let outcome = history::pull(&root, &client, &name, repo)?;
        for r in &outcome.added {
            printer.data(&format!("{} {}\n", r.reference(), r.manifest.digest))?;
        }
        for (from, to) in &outcome.renumbered {
            printer.note(&format!(
                "{name}:{from} of this store was not in {repo}; it is now {name}:{to}"
            ));
        }
        if outcome.added.is_empty() {
            printer.note(&format!("{name}: this store has every revision of {repo}"));
        }
        return Ok(EXIT_OK);
    }
    let platform = args.platform.map(registry::parse_platform).transpose()?;
    let pulled = registry::pull(
        &root,
        &client,
        args.reference,
        &registry::PullOptions {
            platform,
            all_platforms: args.all_platforms,
        },
    )?;
    if pulled.platforms > 1 {
        printer.verbose(&format!("stored {} platforms", pulled.platforms));
    }
    if pulled.reused {
        printer.verbose("every blob was in the store already");
    }
    printer.data(&format!("{} {}\n", args.reference, pulled.digest))?;
    Ok(EXIT_OK)
}

pub(crate) fn push(
    printer: &Printer,
    what: &str,
    dest: &str,
    registry_args: &RegistryArgs,
    store_args: &StoreArgs,
) -> Result<u8, Error> {
    let store = ops::open(store_args.store.as_deref())?;
    let client = client(printer, registry_args, false)?;
    if let Ok(name) = EnvName::parse(what) {
        if !store.revisions(Some(&name))?.is_empty() && !what.contains(':') {
            let outcome = history::push(&store, &client, &name, dest)?;
            for (tag, digest) in &outcome.pushed {
                printer.data(&format!("{tag} {digest}\n"))?;
            }
            if outcome.pushed.is_empty() {
                printer.note(&format!("{dest} has every revision of {name} already"));
            }
            return Ok(EXIT_OK);
        }
    }
    let pushable = registry::find_pushable(&store, what)?;
    let pushed = registry::push(&store, &client, &pushable, dest)?;
    let r = &pushed.report;
    printer.verbose(&format!(
        "{} blob(s) uploaded ({} bytes), {} mounted, {} already there",
        r.uploaded, r.bytes_uploaded, r.mounted, r.skipped
    ));
    printer.data(&format!("{dest} {}\n", pushed.digest))?;
    Ok(EXIT_OK)
}
