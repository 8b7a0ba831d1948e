"""``envc.remote.Client`` against a real ``envc serve`` (the wheel's binary) on a free port.

The server serves a store the CLI seeded (conftest); every read must equal the CLI's
``--format json`` document for that store, every refusal must be the documented exception.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

import envc
from conftest import ENVC, cli_json, env_spec


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, store: Path, extra: Optional[List[str]] = None) -> None:
        self.store = store
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The server's log goes to a file: a pipe nobody reads could fill and stall it.
        self.log = store.parent / f"serve-{self.port}.log"
        self._log_file = open(self.log, "w")
        self.proc = subprocess.Popen(
            [
                ENVC,
                "serve",
                "--store",
                str(store),
                "--listen",
                f"127.0.0.1:{self.port}",
                *(extra or []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                self._log_file.close()
                raise AssertionError(
                    f"envc serve exited {self.proc.returncode}: {self.log.read_text()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("envc serve did not answer /healthz within 30 s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


@pytest.fixture()
def server(seeded_store: Path) -> Iterator[Server]:
    s = Server(seeded_store)
    try:
        yield s
    finally:
        s.stop()


def test_reads_equal_the_cli(server: Server) -> None:
    c = envc.connect(server.url)
    assert c.health() == {"status": "ok"}
    assert c.openapi()["openapi"].startswith("3.1")
    s = ["--store", server.store]
    assert c.environments() == cli_json("list", "--environments", *s)
    assert c.list("seed") == cli_json("list", "seed", *s)
    assert c.list("seed", all=True) == cli_json("list", "seed", "--all", *s)
    assert c.show("seed:1") == cli_json("show", "seed:1", *s)
    assert c.show("seed") == c.show("seed:latest") == c.show("seed:1")
    assert c.dockerfile("seed:1") == envc.dockerfile(env_spec(SEED="1"))


def test_check_matches_the_local_sdk(server: Server) -> None:
    c = envc.Client(server.url)
    assert c.check(env_spec(A="1")) == []
    bad = env_spec(A="1") + "base_imge: x\n"
    assert c.check(bad, filename="spec.yaml") == envc.check(bad, filename="spec.yaml")


def test_build_waits_and_the_store_has_the_revision(server: Server, tmp_path: Path) -> None:
    c = envc.Client(server.url)
    build = c.build(env_spec(GREETING="hi"), "app", timeout=120)
    assert build["status"] == "succeeded" and build["revision"] == "app:1"
    assert build["error"] is None and build["finished"]
    assert any(b["id"] == build["id"] for b in c.builds())
    assert c.build_status(build["id"]) == build
    log = c.build_log(build["id"])
    assert f"app:1 {c.show('app:1')['manifest']}" in log
    # The SSE stream of a finished build: every line, then the end event.
    assert list(c.follow_log(build["id"])) == log.splitlines()
    s = ["--store", server.store]
    assert c.show("app:1") == cli_json("show", "app:1", *s)
    queued = c.build(env_spec(GREETING="bye"), "app", wait=False)
    assert queued["status"] in ("pending", "in_progress", "succeeded")
    deadline = time.monotonic() + 120
    while c.build_status(queued["id"])["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert c.diff("app:1", "app:2") == cli_json("diff", "app:1", "app:2", *s)
    posted = c.diff("app:1", spec=env_spec(GREETING="hi"), filename="hi.yaml")
    assert (posted["a"], posted["b"], posted["differ"]) == ("app:1", "hi.yaml", False)
    assert c.diff("app:2", spec=env_spec(GREETING="hi"))["differ"] is True
    rb = c.rollback("app", 1)
    assert rb == cli_json("list", "app", *s)[-1]
    assert rb["reference"] == "app:3"


def test_refusals(server: Server) -> None:
    c = envc.Client(server.url)
    with pytest.raises(envc.SpecError) as info:
        c.build(env_spec(A="1") + "base_imge: x\n", "app")
    assert [(d.code, d.line) for d in info.value.errors] == [("E010", 4)]
    with pytest.raises(envc.RemoteError) as info:
        c.list("nobody")
    assert info.value.status == 404 and info.value.body["error"]["code"]
    with pytest.raises(envc.RemoteError) as info:
        c.show("seed:9")
    assert info.value.status == 404
    with pytest.raises(envc.RemoteError) as info:
        c.show("Bad:1")
    assert (info.value.status, info.value.code) == (400, "bad_request")
    with pytest.raises(envc.RemoteError) as info:
        c.build_status("no-such-build")
    assert info.value.status in (400, 404)
    with pytest.raises(envc.RemoteError) as info:
        c.rollback("seed", 7)
    assert 400 <= int(info.value.status or 0) < 500


def test_a_token_is_required_when_the_server_has_one(seeded_store: Path, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token-0123456789abcdef\n")
    s = Server(seeded_store, ["--token-file", str(token)])
    try:
        assert envc.Client(s.url).health() == {"status": "ok"}
        with pytest.raises(envc.RemoteError) as info:
            envc.Client(s.url).environments()
        assert info.value.status == 401
        with pytest.raises(envc.RemoteError):
            envc.Client(s.url, token="wrong").environments()
        assert envc.Client(s.url, token="s3cret-token-0123456789abcdef").environments() == cli_json(
            "list", "--environments", "--store", seeded_store
        )
    finally:
        s.stop()


def test_an_unreachable_server_is_a_remote_error() -> None:
    with pytest.raises(ValueError):
        envc.connect("127.0.0.1:8080")
    with pytest.raises(envc.RemoteError) as info:
        envc.Client(f"http://127.0.0.1:{_free_port()}", timeout=2).environments()
    assert info.value.status is None and info.value.code == "unreachable"
