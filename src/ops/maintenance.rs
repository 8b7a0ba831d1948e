//! Store maintenance: `verify` (every blob re-hashed, every reference followed) and `gc`
//! (unreachable blobs and stale temporary files removed, under the store's lock). The reports
//! are the store's own; a report with problems is the answer no (exit 1), which
//! [`verify_exit_code`] says.

use super::{Error, EXIT_NO, EXIT_OK};
use crate::oci::verify::GcReport;
use crate::store::{Store, VerifyReport};

/// Checks the whole store.
pub fn verify(store: &Store) -> Result<VerifyReport, Error> {
    Ok(store.verify()?)
}

/// 0 when the store is sound, 1 when it has problems.
pub fn verify_exit_code(report: &VerifyReport) -> u8 {
    if report.is_ok() {
        EXIT_OK
    } else {
        EXIT_NO
    }
}

/// Removes what no revision or base reaches.
pub fn gc(store: &Store) -> Result<GcReport, Error> {
    Ok(store.gc()?)
}
