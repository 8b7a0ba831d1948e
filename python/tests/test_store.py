"""``envc.Store``: builds of engine-free specs, then every read equal to the CLI's JSON.

Every store starts from the CLI's build of ``seed`` on the tiny base (conftest), so the SDK's
builds find the base in the store, as ``envc build`` without ``--base`` does.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import envc
from conftest import cli, cli_json, env_spec


def test_build_list_show_diff_rollback_equal_the_cli(seeded_store: Path, tmp_path: Path) -> None:
    store = envc.Store(seeded_store)
    b1 = store.build(env_spec(GREETING="hello"), "app")
    assert set(b1) == {"name", "revision", "manifest", "unchanged"}
    assert (b1["name"], b1["revision"], b1["unchanged"]) == ("app", 1, False)
    assert b1["manifest"].startswith("sha256:")
    again = store.build(env_spec(GREETING="hello"), "app")
    assert again == {**b1, "unchanged": True}
    spec2 = tmp_path / "v2.yaml"
    spec2.write_text(env_spec(GREETING="goodbye"))
    b2 = store.build(spec2, "app")
    assert (b2["revision"], b2["unchanged"]) == (2, False) and b2["manifest"] != b1["manifest"]
    assert store.build(spec2, "app", rebuild=True, compression="zstd")["revision"] == 3

    rb = store.rollback("app", 1)
    assert (rb["revision"], rb["manifest"], rb["unchanged"]) == (4, b1["manifest"], False)

    s = ["--store", seeded_store]
    assert store.environments() == cli_json("list", "--environments", *s)
    assert store.list() == cli_json("list", *s)
    assert store.list("app") == cli_json("list", "app", *s)
    assert store.list("app", all=True) == cli_json("list", "app", "--all", *s)
    assert len(store.list("app")) == 4
    for ref in ("app:1", "app:2", "app", "seed:1"):
        assert store.show(ref) == cli_json("show", ref, *s)
    d = store.diff("app:1", "app:2")
    assert d == cli_json("diff", "app:1", "app:2", *s)
    assert d["differ"] is True
    assert store.diff("app:1", "app:4")["differ"] is False
    assert store.diff("app:2", str(spec2)) == cli_json("diff", "app:2", spec2, *s)


def test_store_errors(seeded_store: Path, tmp_path: Path) -> None:
    store = envc.Store(seeded_store)
    with pytest.raises(envc.StoreError) as info:
        store.show("seed:9")
    assert info.value.code == "revision_not_found" and info.value.exit_code == 1
    assert "Revision 9" in str(info.value)
    with pytest.raises(envc.StoreError) as info:
        store.list("nobody")
    assert info.value.code == "name_not_found"
    with pytest.raises(envc.StoreError) as info:
        store.show("seed:x:y")
    assert info.value.code == "invalid_identifier"
    with pytest.raises(envc.StoreError) as info:
        store.build(env_spec(A="1"), "Bad Name")
    assert info.value.code == "invalid_name"
    with pytest.raises(envc.StoreError):
        store.rollback("seed", 5)
    with pytest.raises(envc.StoreError) as info:
        envc.Store(tmp_path / "none").environments()
    assert info.value.code == "store"
    with pytest.raises(envc.EnvcError) as info:
        store.build(env_spec(A="1"), "app", compression="lz4")
    assert info.value.code == "compression"
    with pytest.raises(envc.EnvcError) as info:
        store.diff("seed:1", "nobody-here")
    assert info.value.code == "no_such_side"


def test_an_invalid_spec_is_refused_and_nothing_is_written(seeded_store: Path) -> None:
    store = envc.Store(seeded_store)
    before = store.list(all=True)
    with pytest.raises(envc.SpecError) as info:
        store.build(env_spec(A="1") + "base_imge: x\n", "app")
    assert [(d.code, d.line) for d in info.value.errors] == [("E010", 4)]
    assert store.list(all=True) == before


def test_a_base_the_store_lacks_is_an_error_not_a_hang(
    seeded_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No engine, and every registry request goes to a proxy that is not there.
    monkeypatch.setenv("PATH", "/nonexistent")
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("NO_PROXY", "no_proxy", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(envc.EnvcError) as info:
        envc.Store(seeded_store).build(
            "base_image: anyscale/ray:2.9.0-py311\nenv_vars:\n  A: b\n", "other"
        )
    assert info.value.code == "base_pull", info.value
    assert "anyscale/ray:2.9.0-py311" in str(info.value)
    assert "other" not in {e["name"] for e in envc.Store(seeded_store).environments()}


def test_concurrent_builds_and_checks_from_threads(seeded_store: Path) -> None:
    store = envc.Store(seeded_store)
    results: dict = {}

    def work(i: int) -> None:
        results[i] = (store.build(env_spec(T=str(i)), f"t{i}"), envc.check(env_spec(T=str(i))))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1, 2, 3]
    assert all(r[0]["revision"] == 1 and r[1] == [] for r in results.values())
    assert {e["name"] for e in store.environments()} == {"seed", "t0", "t1", "t2", "t3"}
    r = cli("verify", "--store", seeded_store)
    assert r.returncode == 0, r.stderr


def test_a_spec_file_builds_with_its_envc_toml(seeded_store: Path, tmp_path: Path) -> None:
    spec = tmp_path / "team" / "env.yaml"
    spec.parent.mkdir()
    spec.write_text(env_spec(A="1"))
    (spec.parent / "envc.toml").write_text("[warnings]\ndeny = true\n")
    # The spec has no warnings: deny changes nothing.
    assert envc.Store(seeded_store).build(spec, "team")["revision"] == 1
    spec.write_text(env_spec(N="1").replace('"1"', "1"))  # an unquoted integer: W001
    with pytest.raises(envc.SpecError) as info:
        envc.Store(seeded_store).build(spec, "team")
    assert info.value.code == "W001"
    # The same text given as a string has the default configuration: built.
    assert envc.Store(seeded_store).build(spec.read_text(), "team")["revision"] == 2
