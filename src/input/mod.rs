//! The front end every input goes through: reading it (`read`: one size cap, stdin, UTF-8 for
//! every input), its text and spans (`source`), optional Jinja rendering (`template`) and the
//! spanned YAML tree with envc's safety limits, mapping entries and the YAML-error diagnostic
//! (`yaml`).

pub mod read;
pub mod source;
pub mod template;
pub mod yaml;
