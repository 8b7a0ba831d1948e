//! The checked values validation produces and later stages rely on: environment variables
//! (`env`), package entries (`package`), image references and Anyscale's tag grammar
//! (`image_ref`), environment names, revisions and `anyscale://` addresses (`name`), and
//! content digests (`digest`). Each constructor keeps its own invariants.

pub mod digest;
pub mod env;
pub mod image_ref;
pub mod name;
pub mod package;
