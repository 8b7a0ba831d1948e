//! Tar layers: scanning a layer envc did not write, and writing one and reading it back.

use crate::oci::layer::{write, Entry, EntryKind, FileSource, Options};
use crate::oci::scan::{scan_layer, unsafe_path};
use crate::oci::tar_read::Reader;
use crate::oci::Compression;
use crate::types::digest::Digest;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

fn compression(b: u8) -> Compression {
    match b % 3 {
        0 => Compression::None,
        1 => Compression::Gzip,
        _ => Compression::Zstd,
    }
}

/// Bytes after the first as a layer blob (the first byte picks the compression): an accepted
/// layer has the blob's own digest and size, and the `tar` crate, a second reader, sees no
/// entry in it that is absolute or has a `..`: two readers cannot disagree about a path.
pub fn layer_scan(data: &[u8]) {
    let Some((&first, blob)) = data.split_first() else {
        return;
    };
    let c = compression(first);
    let digest = Digest::of(blob);
    let Ok((scan, _)) = scan_layer(blob, c, &digest, Path::new("fuzz"), None) else {
        return;
    };
    assert_eq!(scan.digest, digest);
    assert_eq!(scan.size, blob.len() as u64);
    if c == Compression::None {
        assert_eq!(
            scan.diff_id, digest,
            "an uncompressed layer is its own diff"
        );
        let mut archive = tar::Archive::new(blob);
        let Ok(entries) = archive.entries() else {
            return;
        };
        for entry in entries {
            let Ok(e) = entry else { break };
            assert_eq!(unsafe_path(&e.path_bytes()), None);
            if e.header().entry_type() == tar::EntryType::Link {
                if let Some(link) = e.link_name_bytes() {
                    assert_eq!(unsafe_path(&link), None);
                }
            }
        }
    }
}

/// What one entry should read back as: kind letter, mode, uid, gid, content or link target.
type Expect = (char, u32, u64, u64, Vec<u8>);

/// Entries decoded from the bytes (records split at `\n`: a kind byte, a mode byte, then the
/// path, and after a `=` the content or link target) are written as a layer; reading it back
/// gives exactly those entries plus the parents envc adds, sorted, and the scan accepts it
/// with the diff_id the writer reported.
pub fn layer_roundtrip(data: &[u8]) {
    let mut entries: Vec<Entry> = Vec::new();
    for rec in data.split(|b| *b == b'\n') {
        let [k, m, rest @ ..] = rec else { continue };
        let rest = String::from_utf8_lossy(rest);
        let (path, payload) = rest.split_once('=').unwrap_or((&rest, ""));
        let kind = match k % 4 {
            0 => EntryKind::Dir,
            1 => EntryKind::File(FileSource::Bytes(payload.as_bytes().to_vec())),
            2 if !payload.is_empty() && !payload.contains('\0') => {
                EntryKind::Symlink(payload.to_string())
            }
            _ => EntryKind::Fifo,
        };
        entries.push(Entry {
            path: path.to_string(),
            kind,
            mode: u32::from(*m) | 0o400,
            uid: u32::from(*k),
            gid: u32::from(*m),
            xattrs: BTreeMap::new(),
        });
    }
    let options = Options {
        compression: Compression::None,
        threads: 1,
        ..Options::default()
    };
    let mut out = Vec::new();
    let Ok(written) = write(entries.clone(), &options, &mut out) else {
        return;
    };
    let mut want: BTreeMap<String, Expect> = BTreeMap::new();
    for e in &entries {
        let mut parent = e.path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            want.entry(p.to_string())
                .or_insert(('d', 0o755, 0, 0, Vec::new()));
            parent = p;
        }
        let (letter, body) = match &e.kind {
            EntryKind::Dir => ('d', Vec::new()),
            EntryKind::File(FileSource::Bytes(b)) => ('f', b.clone()),
            EntryKind::Symlink(t) => ('l', t.as_bytes().to_vec()),
            _ => ('p', Vec::new()),
        };
        want.insert(
            e.path.clone(),
            (letter, e.mode, u64::from(e.uid), u64::from(e.gid), body),
        );
    }
    let mut got: Vec<(String, Expect)> = Vec::new();
    let mut r = Reader::new(out.as_slice());
    while let Some(e) = r.next_entry().expect("a written layer reads") {
        let mut content = Vec::new();
        (&mut r)
            .take(e.size)
            .read_to_end(&mut content)
            .expect("its contents read");
        let letter = match e.kind {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Regular => 'f',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Fifo => 'p',
            other => panic!("envc wrote a {other:?}"),
        };
        if letter == 'l' {
            content = e.link.clone();
        }
        let path = String::from_utf8(e.path).expect("a UTF-8 path");
        got.push((
            path.trim_end_matches('/').to_string(),
            (letter, e.mode & 0o7777, e.uid, e.gid, content),
        ));
    }
    let sorted = {
        let mut s = got.clone();
        s.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        s
    };
    assert_eq!(got, sorted, "entries are sorted by path bytes");
    assert_eq!(
        got.len(),
        written.entries,
        "the writer counted what it wrote"
    );
    assert_eq!(got.into_iter().collect::<BTreeMap<_, _>>(), want);
    let (scan, _) = scan_layer(
        out.as_slice(),
        Compression::None,
        &written.digest,
        Path::new("w"),
        None,
    )
    .expect("a layer envc wrote scans");
    assert_eq!(scan.diff_id, written.diff_id);
}
