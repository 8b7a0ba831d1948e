//! What a spec must be for `--for anyscale`: a Containerfile for `anyscale image build`, which
//! only extends Anyscale's own base images. Runs after validation, on a valid spec, and reports
//! at the spec's own positions: a `docker_image` spec (E090), a base outside `anyscale/ray`,
//! `anyscale/ray-ml`, `anyscale/ray-llm` (E091), and a base not written `anyscale/REPO:TAG` — a
//! registry in front, a digest, no tag (E092). Everything else a valid spec holds (env vars,
//! packages, post-build commands) fits Anyscale's subset as the backend writes it; this module
//! owns no rendering.

use super::validate::Validated;
use super::Spec;
use crate::diag::{codes, Diagnostics};
use crate::types::image_ref::is_anyscale_repository;

/// Reports every reason `spec` (valid, as `valid`) cannot become an Anyscale Containerfile.
pub fn check(spec: &Spec, valid: &Validated, diags: &mut Diagnostics) {
    let (s, v) = match (spec, valid) {
        (Spec::Standard(s), Validated::Standard(v)) => (s, v),
        (Spec::Byod(b), _) => {
            let span = b.docker_image.as_ref().map(|d| d.span);
            let span = span.unwrap_or_else(|| crate::input::source::Span::new(0, 0));
            diags
                .error(
                    codes::ANYSCALE_BYOD,
                    span,
                    "`anyscale image build` cannot extend a `docker_image` (bring-your-own) image",
                )
                .label("an image built elsewhere")
                .help(
                    "register this image with Anyscale as it is, or write a `base_image` spec \
                     on `anyscale/ray`, `anyscale/ray-ml` or `anyscale/ray-llm`; or compile \
                     with `--for docker`",
                );
            return;
        }
        // Validation keeps the form: a standard spec validates to a standard one.
        (Spec::Standard(_), Validated::Byod(_)) => return,
    };
    let Some(written) = &s.base_image else {
        return;
    };
    let r = &v.base.reference;
    if !is_anyscale_repository(&r.repository) {
        diags
            .error(
                codes::ANYSCALE_BASE,
                written.span,
                format!(
                    "`anyscale image build` only extends Anyscale base images, not `{}`",
                    r.repository
                ),
            )
            .label("not `anyscale/ray`, `anyscale/ray-ml` or `anyscale/ray-llm`")
            .help(
                "use the Anyscale image with the same Ray and Python versions (for example \
                 `anyscale/ray:2.9.0-py310`), or compile with `--for docker`",
            );
        return;
    }
    let mut wrong = Vec::new();
    if let Some(registry) = &r.registry {
        wrong.push(format!("a registry (`{registry}/`)"));
    }
    if r.digest.is_some() {
        wrong.push("a digest".to_string());
    }
    if r.tag.is_none() {
        wrong.push("no tag".to_string());
    }
    if wrong.is_empty() {
        return;
    }
    let tag = r.tag.as_deref().unwrap_or("2.9.0-py310");
    diags
        .error(
            codes::ANYSCALE_BASE_REF,
            written.span,
            format!(
                "an Anyscale Containerfile names its base as `anyscale/REPO:TAG`; this one has {}",
                wrong.join(" and ")
            ),
        )
        .label("Anyscale resolves its bases by repository and tag")
        .help(format!("write `base_image: {}:{tag}`", r.repository));
}
