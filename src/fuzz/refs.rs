//! References: `NAME:REV`, `anyscale://` addresses and image references.

use crate::registry::reference::Reference;
use crate::types::image_ref::ImageRef;
use crate::types::name::{Address, EnvName, Identifier, MAX_NAME_LEN};

/// Every reference grammar envc reads from a command line or a spec: an accepted value prints
/// as a string that parses back to the same value.
pub fn refs(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = ImageRef::parse(text) {
        let shown = r.to_string();
        let again = ImageRef::parse(&shown).expect("a printed image reference parses");
        assert_eq!(again.to_string(), shown, "printing is stable");
    }
    if let Ok(r) = Reference::parse(text) {
        assert!(!r.registry.is_empty() && !r.repository.is_empty());
    }
    if let Ok(name) = EnvName::parse(text) {
        assert_eq!(name.to_string(), text, "a name is kept as written");
        assert!(text.chars().count() <= MAX_NAME_LEN);
    }
    if let Ok(id) = Identifier::parse(text) {
        let again = Identifier::parse(&id.to_string()).expect("a printed NAME:REV parses");
        assert_eq!(again, id);
    }
    let _ = Address::parse(text);
}
