//! `check-image`: Anyscale's BYOD requirements ([`crate::byod`]) checked against a stored
//! revision (`NAME[:REV]`) or an image source (`oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
//! `docker-archive:FILE[:REF]`; a multi-platform index at its linux/amd64 image, or, when it
//! has none, at its first, whose platform is then reported), from its config and one read of
//! each layer; nothing is run, extracted or written (a store is opened, never created). Every failure to read the image —
//! a missing image, a broken or missing config, a corrupt layer, a path escape, a symlinked
//! `/etc/passwd` — is [`Error::CheckImage`] (exit 2); a readable image that misses
//! requirements has diagnostics (exit 1).

use super::Error;
use crate::byod;
use crate::diag::Diagnostic;
use crate::oci::archive::{
    choose_image, choose_image_for, index_platforms, ImageSource, LayoutSource, SourceLocation,
};
use crate::oci::final_view::final_view;
use crate::oci::import::image_documents;
use crate::store::{base_arg, Store};
use crate::types::name::Identifier;
use std::path::Path;

/// What was checked and what it misses.
#[derive(Debug)]
pub struct Outcome {
    /// The image as the user named it.
    pub image: String,
    /// The manifest digest checked.
    pub manifest: String,
    /// One per requirement missed; empty when the image meets them all.
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        if self.diagnostics.is_empty() {
            super::EXIT_OK
        } else {
            super::EXIT_NO
        }
    }
}

/// Checks the image `arg` names (a store revision is looked up in `store`).
pub fn check_image(arg: &str, store: Option<&Path>) -> Result<Outcome, Error> {
    let wrap = |e: Error| Error::CheckImage {
        image: arg.to_string(),
        source: Box::new(e),
    };
    let is_source = ["oci:", "oci-archive:", "docker-archive:"]
        .iter()
        .any(|p| arg.starts_with(p));
    let (src, chosen) = if is_source {
        let location: SourceLocation = base_arg::parse(arg).map_err(|e| wrap(e.into()))?;
        let src = LayoutSource::open(&location).map_err(|e| wrap(e.into()))?;
        let chosen = match choose_image(&src, location.reference()) {
            Ok(c) => c,
            // A multi-platform image without linux/amd64: its first image is checked, and its
            // config's platform is reported (E076) like any other requirement.
            Err(e) => match index_platforms(&src, location.reference()) {
                Ok(platforms) if !platforms.is_empty() => {
                    choose_image_for(&src, location.reference(), Some(&platforms[0]))
                        .map_err(|e| wrap(e.into()))?
                }
                _ => return Err(wrap(e.into())),
            },
        };
        (src, chosen)
    } else {
        let id: Identifier = Identifier::parse(arg).map_err(|e| wrap(e.into()))?;
        let dir = super::store_dir(store);
        let st = Store::open(&dir).map_err(|e| wrap(e.into()))?;
        let rev = st.resolve(&id).map_err(|e| wrap(e.into()))?;
        (LayoutSource::Dir(dir), rev.manifest)
    };
    check_source(&src, &chosen)
        .map_err(wrap)
        .map(|diagnostics| Outcome {
            image: arg.to_string(),
            manifest: chosen.digest.to_string(),
            diagnostics,
        })
}

fn check_source(
    src: &dyn ImageSource,
    chosen: &crate::oci::Descriptor,
) -> Result<Vec<Diagnostic>, Error> {
    let docs = image_documents(src, chosen)?;
    if !docs.config.is_object() {
        return Err(Error::Usage(format!(
            "config {} is not a JSON object",
            docs.manifest.config.digest
        )));
    }
    let view = final_view(src, &docs.manifest.layers, &byod::select)?;
    let image = byod::Image {
        view: &view,
        layers: &docs.manifest.layers,
        config: &docs.config,
        config_digest: docs.manifest.config.digest.to_string(),
    };
    Ok(byod::check(&image)?)
}
