"""``envc.runtime_env`` (validate, normalize, merge) and ``envc.package`` against the CLI.

The dicts are written to files for the CLI (``envc runtime-env check|normalize|merge``,
``envc package``); the SDK's answers must be the CLI's, positions and codes included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest

import envc
from conftest import cli, cli_json, strip_files


def as_file(tmp_path: Path, name: str, env: Dict[str, Any]) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(env))
    return p


def test_a_valid_env_has_no_diagnostics_and_normalizes_as_the_cli(tmp_path: Path) -> None:
    env = {"pip": ["requests==2.31.0"], "env_vars": {"A": "1"}}
    assert envc.runtime_env.validate(env) == []
    r = cli("runtime-env", "normalize", as_file(tmp_path, "e.json", env))
    assert r.returncode == 0, r.stderr
    assert envc.runtime_env.normalize(env) == json.loads(r.stdout)


def test_an_invalid_env_reports_what_the_cli_reports(tmp_path: Path) -> None:
    env = {"pip": 3, "env_vars": {"A": 1}}
    diags = envc.runtime_env.validate(env)
    assert diags and diags[0].code == "E061" and diags[0].line == 1 and diags[0].column >= 1
    expected = cli_json("runtime-env", "check", as_file(tmp_path, "bad.json", env))["diagnostics"]
    got = [
        {k: getattr(d, k) for k in ("code", "severity", "message", "line", "column", "help")}
        for d in diags
    ]
    assert got == strip_files(
        [
            {k: e.get(k) for k in ("code", "severity", "message", "line", "column", "help", "file")}
            for e in expected
        ]
    )
    with pytest.raises(envc.RuntimeEnvError) as info:
        envc.runtime_env.normalize(env)
    assert info.value.code == "E061" and info.value.diagnostics == diags


def test_task_level_refuses_local_paths() -> None:
    diags = envc.runtime_env.validate({"working_dir": "."}, level="task")
    assert any(d.is_error for d in diags)
    assert envc.runtime_env.validate({"working_dir": "."}) == []


def test_merge_equals_the_cli(tmp_path: Path) -> None:
    parent = {"env_vars": {"A": "1", "B": "1"}, "pip": ["requests"]}
    child = {"env_vars": {"B": "2"}, "pip": ["numpy"]}
    r = cli(
        "runtime-env",
        "merge",
        as_file(tmp_path, "p.json", parent),
        as_file(tmp_path, "c.json", child),
    )
    assert r.returncode == 0, r.stderr
    assert envc.runtime_env.merge(parent, child) == json.loads(r.stdout)
    assert envc.runtime_env.merge(parent, child)["env_vars"] == {"A": "1", "B": "2"}


def test_a_job_merge_conflict_raises_with_rays_code(tmp_path: Path) -> None:
    a, b = {"env_vars": {"A": "1"}}, {"env_vars": {"A": "2"}}
    with pytest.raises(envc.RuntimeEnvError) as info:
        envc.runtime_env.merge(a, b, mode="job")
    r = cli(
        "runtime-env",
        "merge",
        "--mode",
        "job",
        as_file(tmp_path, "a.json", a),
        as_file(tmp_path, "b.json", b),
    )
    assert r.returncode == 1
    assert info.value.code.startswith("E") and info.value.exit_code == 1
    assert info.value.message in r.stderr


def test_merging_an_invalid_env_raises_with_its_diagnostics() -> None:
    with pytest.raises(envc.RuntimeEnvError) as info:
        envc.runtime_env.merge({"env_vars": {"A": "1"}}, {"pip": 3})
    assert [d.code for d in info.value.diagnostics] == ["E061"]
    assert info.value.diagnostics[0].file == "<child>"


def test_bad_arguments() -> None:
    with pytest.raises(envc.RuntimeEnvError) as info:
        envc.runtime_env.validate({}, ray="9.1")
    assert info.value.code == "ray_version"
    with pytest.raises(envc.RuntimeEnvError):
        envc.runtime_env.validate({}, level="cluster")
    with pytest.raises(envc.RuntimeEnvError):
        envc.runtime_env.merge({}, {}, mode="x")
    with pytest.raises(TypeError):
        envc.runtime_env.validate(["pip"])  # type: ignore[arg-type]


def test_package_equals_the_cli(tmp_path: Path) -> None:
    work = tmp_path / "app"
    (work / "pkg").mkdir(parents=True)
    (work / "main.py").write_text("print('hi')\n")
    (work / "pkg" / "mod.py").write_text("X = 1\n")
    (work / "big.ckpt").write_bytes(b"0" * 1000)
    pkg = envc.package(work, excludes=["*.ckpt"])
    out = tmp_path / "cli.zip"
    doc = cli_json("package", work, "--exclude", "*.ckpt", "-o", out)
    assert (pkg.uri, pkg.sha256, pkg.size, pkg.file_count) == (
        doc["uri"],
        doc["sha256"],
        doc["size"],
        doc["file_count"],
    )
    assert pkg.uri.startswith("gcs://_ray_pkg_") and pkg.uri.endswith(".zip")
    assert Path(pkg.path).read_bytes() == out.read_bytes()
    assert Path(pkg.path).name == pkg.uri.rsplit("/", 1)[-1]
    assert all("ckpt" not in f["path"] for f in pkg.files)
    chosen = tmp_path / "mine.zip"
    assert envc.package(work, ["*.ckpt"], output=chosen).path == str(chosen) and chosen.is_file()


def test_package_of_a_missing_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(envc.RuntimeEnvError) as info:
        envc.package(tmp_path / "nothing")
    assert info.value.code == "package" and info.value.exit_code == 1
    with pytest.raises(envc.RuntimeEnvError):
        envc.package(tmp_path, max_size=1)
