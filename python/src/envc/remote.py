"""A client of ``envc serve`` (the HTTP API v1): the local SDK's calls over HTTP.

Decisions: pure standard library (``urllib.request``), one request per call, no retries, and a
``timeout`` per request. A 2xx answer is returned as the server's JSON document (text for the
logs and Dockerfiles); any other status raises :class:`RemoteError` carrying the status and the
server's error document, except a 422 from ``check``/``build``, which raises :class:`SpecError`
with the spec's diagnostics. A server that cannot be reached is a :class:`RemoteError` with
``status=None``. ``build(..., wait=True)`` posts the build, then polls ``GET /v1/builds/{id}``
until it is ``succeeded`` (the Build document is returned) or ``failed`` (:class:`SpecError` when
it failed on diagnostics, else :class:`BuildFailed`), or the wait times out (:class:`TimeoutError`).
"""

from __future__ import annotations

import gzip
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from ._errors import BuildFailed, Diagnostic, RemoteError, SpecError, diagnostics
from ._source import SpecInput, resolve

_DONE = ("succeeded", "failed")


def _spec_text(spec: SpecInput, filename: Optional[str]) -> Tuple[str, str]:
    """The text to post and the file name diagnostics give it."""
    path, text, shown = resolve(spec, filename)
    if path is not None:
        with open(path, encoding="utf-8") as f:
            return f.read(), filename or os.path.basename(path)
    return text or "", shown


def _split_reference(reference: str) -> Tuple[str, str]:
    name, sep, rev = reference.rpartition(":")
    if not sep:
        return reference, "latest"
    return name, rev


class Client:
    """The envc server at ``url`` (``http://HOST:PORT``), with an optional bearer ``token``."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 30) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"`{url}` is not a server URL: write http://HOST:PORT (or https://)")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # -- transport -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: Optional[Mapping[str, Any]] = None,
        *,
        accept: str = "application/json",
        spec_errors: bool = False,
    ) -> Tuple[int, bytes, str]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", accept)
        # A 1,000-revision list is 500 KB of JSON and 90 KB compressed; the server keeps both.
        req.add_header("Accept-Encoding", "gzip")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                if resp.headers.get("Content-Encoding", "").lower() == "gzip":
                    raw = gzip.decompress(raw)
                return resp.status, raw, resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            raw = e.read()
            raise self._error(e.code, raw, method, path, spec_errors) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise RemoteError(
                f"{method} {self.url}{path}: cannot reach the server: {reason}",
                status=None,
                body=None,
                code="unreachable",
            ) from None

    @staticmethod
    def _error(status: int, raw: bytes, method: str, path: str, spec_errors: bool) -> Exception:
        try:
            doc: Any = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            doc = raw.decode("utf-8", "replace")
        if status == 422 and spec_errors and isinstance(doc, dict) and "diagnostics" in doc:
            diags = diagnostics(doc["diagnostics"])
            first = next((d for d in diags if d.is_error), diags[0] if diags else None)
            return SpecError(
                f"the spec is invalid: {first.message} ({first.code})"
                if first
                else "the spec is invalid",
                diagnostics=diags,
                code=first.code if first else "spec",
                exit_code=1,
            )
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            return RemoteError(
                f"{method} {path}: {status}: {err.get('message', '')}",
                status=status,
                body=doc,
                code=str(err.get("code", "error")),
                help=err.get("help"),
            )
        return RemoteError(
            f"{method} {path}: {status}: {doc}", status=status, body=doc, code="http"
        )

    def _json(
        self, method: str, path: str, body: Optional[Mapping[str, Any]] = None, **kw: Any
    ) -> Any:
        _, raw, _ = self._request(method, path, body, **kw)
        return json.loads(raw.decode("utf-8"))

    def _text(self, path: str) -> str:
        _, raw, _ = self._request("GET", path, accept="text/plain")
        return raw.decode("utf-8")

    # -- the API ---------------------------------------------------------------------------

    def health(self) -> Dict[str, Any]:
        """``GET /healthz``."""
        result: Dict[str, Any] = self._json("GET", "/healthz")
        return result

    def openapi(self) -> Dict[str, Any]:
        """The server's OpenAPI document."""
        result: Dict[str, Any] = self._json("GET", "/v1/openapi.json")
        return result

    def environments(self) -> List[Dict[str, Any]]:
        """``envc list --environments --format json`` of the server's store."""
        result: List[Dict[str, Any]] = self._json("GET", "/v1/environments")
        return result

    def list(self, name: str, all: bool = False) -> Any:
        """``envc list NAME [--all] --format json`` of the server's store."""
        query = "?all=true" if all else ""
        return self._json(
            "GET", f"/v1/environments/{urllib.parse.quote(name, safe='')}/revisions{query}"
        )

    def show(self, reference: str) -> Dict[str, Any]:
        """``envc show NAME[:REV] --format json`` (no revision: the latest)."""
        name, rev = _split_reference(reference)
        q = urllib.parse.quote
        result: Dict[str, Any] = self._json(
            "GET", f"/v1/environments/{q(name, safe='')}/revisions/{q(rev, safe='')}"
        )
        return result

    def dockerfile(self, reference: str) -> str:
        """The Dockerfile of a stored revision's plan."""
        name, rev = _split_reference(reference)
        q = urllib.parse.quote
        return self._text(
            f"/v1/environments/{q(name, safe='')}/revisions/{q(rev, safe='')}/dockerfile"
        )

    def diff(
        self,
        a: str,
        b: Optional[str] = None,
        *,
        spec: Optional[SpecInput] = None,
        filename: Optional[str] = None,
    ) -> Dict[str, Any]:
        """``envc diff A B --format json`` of two stored revisions, or of revision ``a`` against
        a ``spec`` (text or a local file, posted; side ``b`` is labelled ``filename``, a local
        file's name by default)."""
        if (b is None) == (spec is None):
            raise ValueError("give exactly one of b (a revision) and spec")
        if spec is not None:
            text, shown = _spec_text(spec, filename)
            body: Dict[str, Any] = {"a": a, "spec": text}
            if shown != "<string>":
                body["filename"] = shown
            result: Dict[str, Any] = self._json("POST", "/v1/diff", body, spec_errors=True)
            return result
        query = urllib.parse.urlencode({"a": a, "b": b})
        result = self._json("GET", f"/v1/diff?{query}")
        return result

    def check(self, spec: SpecInput, *, filename: Optional[str] = None) -> List[Diagnostic]:
        """The spec's diagnostics, checked by the server (``POST /v1/check``)."""
        text, shown = _spec_text(spec, filename)
        body = {"spec": text} if shown == "<string>" else {"spec": text, "filename": shown}
        doc = self._json("POST", "/v1/check", body, spec_errors=True)
        return diagnostics(doc["diagnostics"])

    def build(
        self,
        spec: SpecInput,
        name: str,
        *,
        wait: bool = True,
        timeout: float = 600,
        rebuild: bool = False,
        compression: str = "gzip",
        poll_interval: float = 0.2,
        filename: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Queues a build of ``spec`` as a revision of ``name``; with ``wait``, its final Build.
        ``filename`` names the spec in diagnostics (a local file's name by default)."""
        text, shown = _spec_text(spec, filename)
        body: Dict[str, Any] = {
            "name": name,
            "spec": text,
            "options": {"rebuild": rebuild, "compression": compression},
        }
        if shown != "<string>":
            body["filename"] = shown
        build: Dict[str, Any] = self._json("POST", "/v1/builds", body, spec_errors=True)
        if not wait:
            return build
        deadline = time.monotonic() + timeout
        while build.get("status") not in _DONE:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"build {build.get('id')} is still {build.get('status')} after {timeout} s"
                )
            time.sleep(poll_interval)
            build = self.build_status(str(build["id"]))
        if build["status"] == "failed":
            diags = diagnostics(build.get("diagnostics") or [])
            reason = build.get("error") or "see its log"
            message = f"the build {build.get('id')} of `{name}` failed: {reason}"
            if diags:
                first = next((d for d in diags if d.is_error), diags[0])
                raise SpecError(message, diagnostics=diags, code=first.code, exit_code=1)
            raise BuildFailed(message, build=build, code="build_failed", exit_code=1)
        return build

    def builds(self) -> List[Dict[str, Any]]:
        """The server's builds, newest first."""
        result: List[Dict[str, Any]] = self._json("GET", "/v1/builds")
        return result

    def build_status(self, build_id: str) -> Dict[str, Any]:
        """``GET /v1/builds/{id}``."""
        result: Dict[str, Any] = self._json(
            "GET", f"/v1/builds/{urllib.parse.quote(build_id, safe='')}"
        )
        return result

    def build_log(self, build_id: str) -> str:
        """The build's log so far."""
        return self._text(f"/v1/builds/{urllib.parse.quote(build_id, safe='')}/log")

    def follow_log(self, build_id: str) -> Iterator[str]:
        """The build's log lines as the server streams them (SSE), until the build ends."""
        path = f"/v1/builds/{urllib.parse.quote(build_id, safe='')}/log"
        req = urllib.request.Request(self.url + path, headers={"Accept": "text/event-stream"})
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            raise self._error(e.code, e.read(), "GET", path, False) from None
        with resp:
            event, data = "message", []
            for raw in resp:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:][1:] if line[5:].startswith(" ") else line[5:])
                elif line == "":
                    if event == "end":
                        return
                    if data:
                        yield "\n".join(data)
                    event, data = "message", []

    def rollback(self, name: str, to: int) -> Dict[str, Any]:
        """A new revision of ``name`` equal to revision ``to``: its RevisionView."""
        result: Dict[str, Any] = self._json(
            "POST",
            f"/v1/environments/{urllib.parse.quote(name, safe='')}/rollback",
            {"to": int(to)},
        )
        return result


def connect(url: str, token: Optional[str] = None, timeout: float = 30) -> Client:
    """A :class:`Client` of the server at ``url``."""
    return Client(url, token=token, timeout=timeout)
