"""``envc.check``, ``envc.compile`` and ``envc.dockerfile`` against the shipped CLI.

Each call's answer is compared with what ``envc check|plan|dockerfile`` prints for the same
input, and each failure with its documented exception, code and 1-based position.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

import envc
from conftest import cli, cli_json, env_spec, strip_files

ROOT = Path(__file__).resolve().parents[2]
VALID = "base_image: anyscale/ray:2.9.0-py310\n"


def test_valid_text_has_no_diagnostics() -> None:
    assert envc.check(VALID) == []


def test_invalid_text_reports_code_position_and_help() -> None:
    diags = envc.check(VALID + "base_imge: x\n")
    assert len(diags) == 1
    d = diags[0]
    assert (d.code, d.severity, d.line, d.column, d.file) == ("E010", "error", 2, 1, "<string>")
    assert d.help == "did you mean `base_image`?"
    assert d.is_error and "E010" in str(d)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.code = "x"  # type: ignore[misc]


def test_filename_names_text_in_diagnostics() -> None:
    [d] = envc.check("base_image: [\n", filename="spec.yaml")
    assert d.file == "spec.yaml" and d.is_error


def test_check_of_a_file_equals_the_cli(tmp_path: Path) -> None:
    spec = tmp_path / "env.yaml"
    spec.write_text(VALID + "env_vars:\n  N: 3\nbase_imge: x\n")
    expected = cli_json("check", spec)["diagnostics"]
    got = envc.check(spec)
    assert [d.code for d in got] == [e["code"] for e in expected]
    for d, e in zip(got, expected):
        assert (d.severity, d.message, d.file, d.line, d.column, d.help) == (
            e["severity"],
            e["message"],
            e["file"],
            e["line"],
            e["column"],
            e.get("help"),
        )
    # A str naming an existing file is the file, not text.
    assert envc.check(str(spec)) == got


def test_check_finds_envc_toml_as_the_cli_does(tmp_path: Path) -> None:
    spec = tmp_path / "w" / "env.yaml"
    spec.parent.mkdir()
    spec.write_text((ROOT / "fixtures" / "seed.yaml").read_text())
    assert "W002" in [d.code for d in envc.check(spec)]
    (spec.parent / "envc.toml").write_text('[warnings]\nignore = ["W002"]\n')
    assert "W002" not in [d.code for d in envc.check(spec)]
    assert strip_files([d.__dict__ for d in envc.check(spec)]) == strip_files(
        [
            {k: e.get(k) for k in envc.Diagnostic.__dataclass_fields__}
            for e in cli_json("check", spec)["diagnostics"]
        ]
    )


def test_check_never_raises_for_unreadable_or_broken_input(tmp_path: Path) -> None:
    [missing] = envc.check(tmp_path / "missing.yaml")
    assert missing.code == "E005" and missing.line is None
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"base_image: \xff\n")
    assert [d.code for d in envc.check(binary)] == ["E003"]
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    expected = [e["code"] for e in cli_json("check", empty)["diagnostics"]]
    assert expected and [d.code for d in envc.check("")] == expected
    with pytest.raises(TypeError):
        envc.check(42)  # type: ignore[arg-type]


def test_compile_gives_the_cli_plan_and_digest(tmp_path: Path) -> None:
    spec = ROOT / "fixtures" / "llm-serving.yaml"
    c = envc.compile(spec)
    r = cli("plan", spec)
    assert r.returncode == 0, r.stderr
    assert c.plan == json.loads(r.stdout)
    assert c.digest == cli("plan", spec, "--digest").stdout.strip()
    assert c.digest.startswith("sha256:")
    # The same text compiled as a string has the same plan.
    assert envc.compile(spec.read_text()).digest == c.digest


def test_compile_of_an_invalid_spec_raises_spec_error() -> None:
    with pytest.raises(envc.SpecError) as info:
        envc.compile(VALID + "env_vars:\n  A: [1]\n  B: 2\nbase_imge: x\n")
    e = info.value
    assert isinstance(e, envc.EnvcError) and e.exit_code == 1
    assert e.code == e.errors[0].code
    codes = {(d.code, d.line, d.column) for d in e.diagnostics}
    assert ("E010", 5, 1) in codes
    assert all(d.line is not None and d.line >= 1 and d.column >= 1 for d in e.diagnostics)


def test_compile_of_a_missing_file_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(envc.EnvcError) as info:
        envc.compile(tmp_path / "nope.yaml")
    assert not isinstance(info.value, envc.SpecError)
    assert info.value.code == "read" and info.value.exit_code == 2
    assert "nope.yaml" in str(info.value)


def test_dockerfile_equals_the_cli(tmp_path: Path) -> None:
    for name in ("minimal.yaml", "training-gpu.yaml", "multiline-setup.yaml"):
        spec = ROOT / "fixtures" / name
        r = cli("dockerfile", spec)
        assert r.returncode == 0, r.stderr
        assert envc.dockerfile(spec) == r.stdout
        assert envc.dockerfile(spec.read_text()) == r.stdout
    with pytest.raises(envc.SpecError):
        envc.dockerfile("base_imge: x\n")


def generated_specs(n: int, seed: int = 13):
    """``n`` spec variants: ``(text, expected error code or None, its line)``."""
    rng = random.Random(seed)
    bases = [
        "anyscale/ray:2.9.0-py310",
        "anyscale/ray:2.9.0-py39",
        "anyscale/ray-ml:2.9.0-py310-gpu",
    ]
    out = []
    for i in range(n):
        env = {f"V{j}": f"value-{i}-{j}" for j in range(rng.randint(0, 4))}
        text = env_spec(**env).replace("anyscale/ray:2.9.0-py310", rng.choice(bases))
        if env == {}:
            text = text.replace("env_vars:\n", "")
        if i % 3 == 0:
            line = text.count("\n") + 1
            out.append((text + f"base_imge{i}: x\n", "E010", line))
        else:
            out.append((text, None, None))
    return out


def test_check_of_1000_generated_specs_in_one_process(tmp_path: Path) -> None:
    specs = generated_specs(1000)
    paths = []
    for i, (text, code, line) in enumerate(specs):
        p = tmp_path / f"spec-{i:04}.yaml"
        p.write_text(text)
        paths.append(p)
        diags = envc.check(p)
        errors = [d for d in diags if d.is_error]
        if code is None:
            assert errors == [], (text, errors)
        else:
            assert [(d.code, d.line, d.column) for d in errors] == [(code, line, 1)], text
        assert envc.check(text) == [
            d.__class__(**{**d.__dict__, "file": "<string>"}) for d in diags
        ]
    # The batch call and the CLI over the same 1,000 files agree.
    batch = envc.check_files(paths)
    cli_diags = cli_json("check", *paths)["diagnostics"]
    assert [(d.file, d.code, d.line, d.column, d.message) for d in batch] == [
        (e["file"], e["code"], e["line"], e["column"], e["message"]) for e in cli_diags
    ]
    assert sum(1 for d in batch if d.is_error) == sum(1 for s in specs if s[1])


def test_a_str_naming_no_file_is_spec_text() -> None:
    [d] = envc.check("no-such-file.yaml")
    assert d.file == "<string>" and d.is_error


def test_compile_returns_the_warnings_of_a_usable_spec() -> None:
    c = envc.compile(ROOT / "fixtures" / "seed.yaml")
    assert "W002" in [w.code for w in c.warnings]
    assert all(not w.is_error for w in c.warnings)
