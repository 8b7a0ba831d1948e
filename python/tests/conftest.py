"""Shared fixtures of the SDK tests: the shipped ``envc`` CLI, a tiny base image and a store.

Decisions: the CLI is the one the wheel installed beside this interpreter (the venv's scripts
directory), so the tests compare the SDK with exactly the binary users get. The base image is an
OCI image layout written here with the standard library (one gzip layer holding a file, a
linux/amd64 config), so no umoci, busybox or engine is needed; a spec whose only content is a
base and env vars assembles on it without running anything. The store is seeded by the CLI
(``envc build --base oci:DIR:1``), which records the base under the spec's ``base_image``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path
from typing import Any, List

import pytest

BASE_IMAGE = "anyscale/ray:2.9.0-py310"


def env_spec(**env: str) -> str:
    """An engine-free spec: the base and env vars only."""
    lines = [f"base_image: {BASE_IMAGE}", "env_vars:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in env.items()]
    return "\n".join(lines) + "\n"


def _envc_binary() -> str:
    candidates = [
        os.path.join(sysconfig.get_path("scripts"), "envc"),
        os.path.join(os.path.dirname(sys.executable), "envc"),
    ]
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    found = shutil.which("envc")
    if found is None:
        raise RuntimeError("the wheel's `envc` script is not installed beside this interpreter")
    return found


ENVC = _envc_binary()


def cli(
    *args: Any, cwd: "str | os.PathLike[str] | None" = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Runs the shipped CLI."""
    r = subprocess.run([ENVC, *map(str, args)], capture_output=True, text=True, cwd=cwd)
    if check and r.returncode not in (0, 1):
        raise AssertionError(f"envc {args} exited {r.returncode}: {r.stderr}")
    return r


def cli_json(*args: Any, cwd: "str | os.PathLike[str] | None" = None) -> Any:
    r = cli(*args, "--format", "json", cwd=cwd)
    return json.loads(r.stdout)


def _blob(root: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def write_base_layout(root: Path) -> Path:
    """An OCI image layout whose one image (tag ``1``) has one layer with ``/etc/envc-base``."""
    (root / "blobs" / "sha256").mkdir(parents=True)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("etc", "bin"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        content = b"a tiny base for the envc SDK tests\n"
        info = tarfile.TarInfo("etc/envc-base")
        info.size, info.mode = len(content), 0o644
        tar.addfile(info, io.BytesIO(content))
    raw = tar_bytes.getvalue()
    layer = _blob(root, gzip.compress(raw, mtime=0))
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]},
        "history": [{"created_by": "envc SDK tests"}],
    }
    cfg = _blob(root, json.dumps(config).encode())
    cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": cfg,
        "layers": [layer],
    }
    m = _blob(root, json.dumps(manifest).encode())
    m["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    m["annotations"] = {"org.opencontainers.image.ref.name": "1"}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [m]}))
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return root


@pytest.fixture(scope="session")
def base_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_base_layout(tmp_path_factory.mktemp("base") / "layout")


@pytest.fixture()
def seeded_store(tmp_path: Path, base_layout: Path) -> Path:
    """A store holding the base (through one CLI build of `seed`)."""
    store = tmp_path / "store"
    spec = tmp_path / "seed.yaml"
    spec.write_text(env_spec(SEED="1"))
    r = cli("build", spec, "--name", "seed", "--base", f"oci:{base_layout}:1", "--store", store)
    assert r.returncode == 0, r.stderr
    return store


def strip_files(diags: List[dict]) -> List[dict]:
    return [{k: v for k, v in d.items() if k != "file"} for d in diags]
