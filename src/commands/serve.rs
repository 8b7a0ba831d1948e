//! `envc serve`: the flags → [`crate::server::serve`]. The configuration (`--config`) is read
//! here, its diagnostics printed as `envc check` prints them; the address actually bound is
//! printed on stderr, so a caller that asked for port 0 learns it.

use super::{Error, Printer, EXIT_NO, EXIT_OK};
use crate::server::ServeOptions;
use std::path::Path;
use std::sync::Arc;

pub(crate) fn serve(
    printer: &Printer,
    mut options: ServeOptions,
    config: Option<&Path>,
) -> Result<u8, Error> {
    if let Some(path) = config {
        let loaded = crate::config::load(path).map_err(crate::ops::Error::from)?;
        match loaded {
            Ok(c) => options.config = Arc::new(c),
            Err(diags) => {
                printer.diagnostics(&diags);
                return Ok(EXIT_NO);
            }
        }
    }
    let store = options.store.display().to_string();
    let result = crate::server::serve(options, |addr| {
        printer.note(&format!("serving the store {store} on http://{addr}/"));
    });
    match result {
        Ok(()) => Ok(EXIT_OK),
        Err(e) => {
            printer.error(&e.to_string());
            Ok(e.exit_code())
        }
    }
}
