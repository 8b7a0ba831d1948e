//! References: `NAME:REV`, `anyscale://` addresses and image references.

use crate::registry::reference::Reference;
use crate::types::image_ref::ImageRef;

/// `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`: an accepted reference prints as a string that
/// parses back to the same reference.
pub fn image_ref(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = ImageRef::parse(text) {
        let shown = r.to_string();
        let again = ImageRef::parse(&shown).expect("a printed reference parses");
        assert_eq!(again.to_string(), shown, "printing is stable");
    }
    if let Ok(r) = Reference::parse(text) {
        assert!(!r.registry.is_empty() && !r.repository.is_empty());
    }
}
