//! Error documents: an `ops::Error` (or a refused spec, or a bad argument) as the JSON the
//! Python package turns into `envc.EnvcError` and its subclasses.
//!
//! Decisions: `class` picks the Python exception: `store` for what a store refuses (an unknown
//! name or revision, a bad name or `NAME:REV`, a store that cannot be opened), `runtime_env` for
//! what Ray's rules refuse (a merge conflict, a working dir that cannot be packaged), `spec` for
//! refused specs (with their diagnostics) and `envc` for the rest (unreadable files, usage).
//! `kind` is a stable snake-case name of the error's variant, never its message, so callers can
//! match on it; the message is the one the CLI prints.

use envc::diag::{render, Diagnostic};
use envc::ops::Error;
use serde_json::{json, Value};

/// The diagnostics as the `diagnostics` array of `envc check --format json`.
pub(crate) fn diagnostics(diags: &[Diagnostic]) -> Value {
    let doc: Value = serde_json::from_str(&render::json(diags, 1)).unwrap_or(Value::Null);
    doc.get("diagnostics").cloned().unwrap_or(json!([]))
}

/// A refused spec: the first error's code is the kind (a spec refused only because its
/// warnings are denied has the first warning's).
pub(crate) fn spec(diags: &[Diagnostic], message: Option<&str>) -> Value {
    let first = diags.iter().find(|d| d.is_error()).or(diags.first());
    let kind = first.map_or("spec", |d| d.code.0);
    let message = match (message, first) {
        (Some(m), _) => m.to_string(),
        (None, Some(d)) => format!("the spec is invalid: {} ({})", d.message, d.code.0),
        (None, None) => "the spec is invalid".to_string(),
    };
    json!({
        "class": "spec", "kind": kind, "message": message, "exit_code": 1,
        "diagnostics": diagnostics(diags),
    })
}

/// An error of an argument the SDK checks itself (exit 2, as the CLI's usage errors).
pub(crate) fn usage(class: &str, kind: &str, message: impl Into<String>) -> Value {
    json!({"class": class, "kind": kind, "message": message.into(), "exit_code": 2})
}

/// An error of a use case.
pub(crate) fn ops(e: &Error) -> Value {
    let (class, kind) = classify(e);
    let mut doc = json!({
        "class": class, "kind": kind, "message": e.to_string(), "exit_code": e.exit_code(),
    });
    if let Error::Merge(m) = e {
        doc["kind"] = json!(m.code().0);
        doc["help"] = json!(m.help());
    }
    doc
}

fn classify(e: &Error) -> (&'static str, &'static str) {
    use envc::store::Error as S;
    match e {
        Error::NameNotFound { .. } => ("store", "name_not_found"),
        Error::Store(S::NameNotFound { .. }) => ("store", "name_not_found"),
        Error::Store(S::RevisionNotFound { .. }) => ("store", "revision_not_found"),
        Error::Store(S::Changed { .. }) => ("store", "changed"),
        Error::Store(_) => ("store", "store"),
        Error::Name(_) => ("store", "invalid_name"),
        Error::Identifier(_) => ("store", "invalid_identifier"),
        Error::Merge(_) => ("runtime_env", "merge"),
        Error::Package(_) => ("runtime_env", "package"),
        Error::Bake(_) => ("runtime_env", "bake"),
        Error::Read { .. } => ("envc", "read"),
        Error::Write { .. } => ("envc", "write"),
        Error::Json(_) => ("envc", "json"),
        Error::Epoch(_) => ("envc", "epoch"),
        Error::Image(_) => ("envc", "image"),
        Error::Engine(_) => ("envc", "engine"),
        Error::BuildFailed { .. } => ("envc", "build_failed"),
        Error::BaseNotFound { .. } => ("envc", "base_not_found"),
        Error::BasePull { .. } => ("envc", "base_pull"),
        Error::Registry(_) => ("envc", "registry"),
        Error::Usage(_) | Error::StdinTwice | Error::VarTwice { .. } => ("envc", "usage"),
        Error::NoSuchSide(_) => ("envc", "no_such_side"),
        Error::Render(_) => ("envc", "render"),
        Error::DropPolicy(_) => ("envc", "drop_policy"),
        Error::Interrupted { .. } => ("envc", "interrupted"),
        _ => ("envc", "error"),
    }
}
