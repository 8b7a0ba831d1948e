#!/usr/bin/env python3
"""Validate one image of an OCI image layout against the image-spec JSON schemas.

Usage: tests/support/oci-schema.py LAYOUT REF [SCHEMA_DIR]

Validates LAYOUT/oci-layout (image-layout-schema.json), LAYOUT/index.json
(image-index-schema.json), the manifest that index.json tags REF
(`org.opencontainers.image.ref.name`; image-manifest-schema.json) and its config
(config-schema.json), with Python's `jsonschema` (draft 4). It also checks that each of those
blobs hashes to its digest and has its descriptor's size, and that the descriptors' media types
are the OCI ones.

The schemas are the ones Debian's golang-github-opencontainers-image-spec-dev ships in
/usr/share/gocode/src/github.com/opencontainers/image-spec/schema/ (or SCHEMA_DIR). Their
`$ref`s name sibling files ("defs-descriptor.json", "content-descriptor.json") relative to
nested `id`s, so they are resolved locally: every *.json in the directory is registered under
its `id`, and any other URI whose last path segment is one of the files maps to that file.
Nothing is fetched from the network.

Exit status: 0 valid, 1 invalid, 2 usage or missing tools.
"""

import hashlib
import json
import os
import sys

DEFAULT_SCHEMA_DIR = "/usr/share/gocode/src/github.com/opencontainers/image-spec/schema"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"


def fail(msg, code=1):
    print(f"oci-schema: {msg}", file=sys.stderr)
    sys.exit(code)


try:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT4
except ImportError as e:  # pragma: no cover - reported to the caller
    fail(f"needs jsonschema >= 4.18 and referencing ({e}); pip install jsonschema", 2)


def load_schemas(schema_dir):
    by_file = {}
    for name in sorted(os.listdir(schema_dir)):
        if name.endswith(".json"):
            with open(os.path.join(schema_dir, name), encoding="utf-8") as f:
                by_file[name] = json.load(f)
    if not by_file:
        fail(f"no *.json schemas in {schema_dir}", 2)

    def resource(contents):
        return Resource.from_contents(contents, default_specification=DRAFT4)

    def retrieve(uri):
        base = uri.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if base in by_file:
            return resource(by_file[base])
        raise NoSuchResource(ref=uri)

    pairs = []
    for name, contents in by_file.items():
        res = resource(contents)
        if isinstance(contents.get("id"), str):
            pairs.append((contents["id"], res))
        pairs.append((f"file://{os.path.join(schema_dir, name)}", res))
    registry = Registry(retrieve=retrieve).with_resources(pairs)
    return by_file, registry


def validate(by_file, registry, schema_name, instance, what):
    schema = by_file[schema_name]
    validator = jsonschema.Draft4Validator(
        schema,
        registry=registry,
        format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        for e in errors:
            path = "/".join(str(p) for p in e.absolute_path) or "(root)"
            print(f"oci-schema: {what} at {path}: {e.message}", file=sys.stderr)
        fail(f"{what} does not match {schema_name}")
    print(f"ok: {what} matches {schema_name}")


def read_blob(layout, descriptor, what):
    digest = descriptor.get("digest", "")
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64:
        fail(f"{what}: unsupported digest {digest!r}")
    path = os.path.join(layout, "blobs", "sha256", hexpart)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"{what}: cannot read blob {digest}: {e}")
    if hashlib.sha256(data).hexdigest() != hexpart:
        fail(f"{what}: blob {digest} does not hash to its digest")
    if descriptor.get("size") != len(data):
        fail(f"{what}: descriptor size {descriptor.get('size')} != blob size {len(data)}")
    try:
        return json.loads(data)
    except ValueError as e:
        fail(f"{what}: blob {digest} is not JSON: {e}")


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    layout, ref = argv[1], argv[2]
    schema_dir = argv[3] if len(argv) == 4 else DEFAULT_SCHEMA_DIR
    if not os.path.isdir(schema_dir):
        fail(
            f"schema directory {schema_dir} missing "
            "(apt-get install golang-github-opencontainers-image-spec-dev)",
            2,
        )
    by_file, registry = load_schemas(schema_dir)

    with open(os.path.join(layout, "oci-layout"), encoding="utf-8") as f:
        validate(by_file, registry, "image-layout-schema.json", json.load(f), "oci-layout")
    with open(os.path.join(layout, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    validate(by_file, registry, "image-index-schema.json", index, "index.json")

    entries = [
        m
        for m in index.get("manifests", [])
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref
    ]
    if len(entries) != 1:
        fail(f"index.json has {len(entries)} entries named {ref!r}, expected 1")
    desc = entries[0]
    if desc.get("mediaType") != MANIFEST:
        fail(f"{ref}: index entry media type {desc.get('mediaType')!r}, expected {MANIFEST}")
    manifest = read_blob(layout, desc, f"{ref} manifest")
    validate(by_file, registry, "image-manifest-schema.json", manifest, f"{ref} manifest")
    if manifest.get("config", {}).get("mediaType") != CONFIG:
        fail(f"{ref}: config media type {manifest['config'].get('mediaType')!r}")
    config = read_blob(layout, manifest["config"], f"{ref} config")
    validate(by_file, registry, "config-schema.json", config, f"{ref} config")
    n_layers = len(manifest.get("layers", []))
    n_diff_ids = len(config.get("rootfs", {}).get("diff_ids", []))
    if n_layers != n_diff_ids:
        fail(f"{ref}: {n_layers} layers but {n_diff_ids} diff_ids")
    non_empty = [h for h in config.get("history", []) if not h.get("empty_layer")]
    if config.get("history") is not None and len(non_empty) != n_layers:
        fail(f"{ref}: {len(non_empty)} non-empty history entries for {n_layers} layers")
    print(f"ok: {ref}")


if __name__ == "__main__":
    main(sys.argv)
