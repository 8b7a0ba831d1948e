//! oci-archive and docker-archive files, imported into a store's layout as `envc import` does.

use crate::oci::archive::{choose_image, LayoutSource, SourceLocation};
use crate::oci::layout::Layout;
use crate::types::digest::Digest;
use std::path::Path;

/// The bytes after the first as an oci-archive (first byte even) or a docker-archive: an
/// import that succeeds or fails writes nothing outside the store, leaves no blob whose bytes
/// differ from its digest name, and adds nothing to the store's index.
pub fn archive(data: &[u8]) {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("a temp dir");
    let path = tmp.path().join("in.tar");
    std::fs::write(&path, bytes).expect("write the archive");
    let location = if first % 2 == 0 {
        SourceLocation::archive(path.clone())
    } else {
        SourceLocation::DockerArchive {
            path: path.clone(),
            reference: None,
        }
    };
    let store = tmp.path().join("store");
    let layout = Layout::open_or_create(&store).expect("a new layout");
    let before = std::fs::read(store.join("index.json")).expect("index.json");
    if let Ok(src) = LayoutSource::open(&location) {
        if let Ok(chosen) = choose_image(&src, None) {
            let _ = layout.import_image(&src, &chosen);
        }
    }
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read the temp dir")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["in.tar", "store"],
        "nothing is written beside the store"
    );
    assert_eq!(
        std::fs::read(store.join("index.json")).expect("index.json"),
        before,
        "an import alone adds no entry"
    );
    check_blobs(&store);
}

/// Every file under `blobs/sha256` is named for its bytes, and nothing else is there.
fn check_blobs(store: &Path) {
    let dir = store.join("blobs/sha256");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries {
        let e = e.expect("a blob entry");
        let meta = std::fs::symlink_metadata(e.path()).expect("its metadata");
        assert!(
            meta.is_file(),
            "{} is not a regular file",
            e.path().display()
        );
        let bytes = std::fs::read(e.path()).expect("the blob");
        let name = e.file_name().into_string().expect("a hex name");
        assert_eq!(Digest::of(&bytes).to_string(), format!("sha256:{name}"));
    }
}
