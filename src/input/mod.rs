//! The front end every input goes through: the text and its spans (`source`), optional Jinja
//! rendering (`template`) and the spanned YAML tree with envc's safety limits (`yaml`).

pub mod source;
pub mod template;
pub mod yaml;
