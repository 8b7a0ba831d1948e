#!/usr/bin/env python3
"""A fault-injecting reverse proxy in front of a real registry, for envc's registry-client tests.

    python3 registry_proxy.py --upstream http://127.0.0.1:PORT [--token-user U --token-password P]

Binds 127.0.0.1:0 and prints the port on its first stdout line. Every request except the control
endpoints is forwarded to the upstream, bodies streamed both ways in chunks (blobs are hundreds
of MiB; nothing is buffered whole), status and headers preserved, hop-by-hop headers dropped,
`Location` headers that point at the upstream rewritten to point at the proxy.

Control endpoints (never forwarded):
  POST   /__envc/faults   a JSON list of faults; replaces the current list
  GET    /__envc/faults   the current list (with the `times` left)
  GET    /__envc/log      the requests seen: [{method, path, query, status, auth, fault,
                          as_proxy}] (as_proxy: sent to it as an HTTP proxy: an absolute URL,
                          or a CONNECT tunnel, logged as method CONNECT, path HOST:PORT)
  DELETE /__envc/log      forget them
  GET    /__envc/tokens   {"requests": N, "granted": M}: token endpoint requests, tokens issued

A fault is {"method": "GET" (optional), "path": REGEX (searched in the path, no query),
"times": N (optional, default unlimited), "delay": SECONDS (optional, before acting), ACTION}
where ACTION is one of
  "status": CODE [, "headers": {...}] [, "code": "ERROR_CODE"]  reply with an error, no forward
  "drop_after": N       forward; headers as upstream's, N body bytes, then close the socket
  "truncate": N         forward; Content-Length N and only the first N bytes
  "corrupt": true       forward; one byte in the middle of the body flipped, length kept
  "redirect_loop": true 307 to the same URL
  "huge": BYTES         200, an OCI manifest media type, Content-Length BYTES of filler
  "huge_chunked": BYTES the same filler without a Content-Length (chunked)
The first fault that matches and has times left fires (and loses one of its times). In bearer
mode faults apply after the token check, and the token endpoint (path /token) takes the faults
the proxy answers itself (status, redirect_loop, huge, huge_chunked).

Bearer mode (--token-user/--token-password): every /v2/ request needs a token from GET /token
(Basic auth with that user and password) for the scopes it needs; forwarded requests lose
their Authorization header. Python 3.11 standard library only.
"""

import argparse
import base64
import datetime
import http.client
import json
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 256 * 1024
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
SERVICE = "envc-test"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
# Faults answered by the proxy itself; the others (drop_after, truncate, corrupt) forward.
OWN_ACTIONS = ("status", "redirect_loop", "huge", "huge_chunked")
REPO_RE = re.compile(r"^/v2/(.+?)/(?:blobs|manifests|tags)/")


class State:
    def __init__(self, upstream, token_user, token_password):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.upstream_prefix = f"{self.upstream.scheme}://{self.upstream.netloc}"
        self.token_user = token_user
        self.token_password = token_password
        self.lock = threading.Lock()
        self.faults = []  # dicts, each with a compiled "_re"
        self.log = []
        self.token_requests = 0
        self.tokens_granted = 0
        self.tokens = {}  # token -> set of (repo, action)
        self.port = 0

    def bearer(self):
        return self.token_user is not None

    def take_fault(self, method, path, own_only=False):
        """The first matching fault with times left (one time taken), as (index, fault).
        `own_only`: only faults the proxy answers itself (the token endpoint has no upstream)."""
        with self.lock:
            for i, f in enumerate(self.faults):
                if "method" in f and f["method"].upper() != method:
                    continue
                if own_only and not any(a in f for a in OWN_ACTIONS):
                    continue
                if not f["_re"].search(path):
                    continue
                times = f.get("times")
                if times is not None:
                    if times <= 0:
                        continue
                    f["times"] = times - 1
                return i, f
        return None, None

    def set_faults(self, faults):
        if not isinstance(faults, list):
            raise ValueError("faults must be a JSON list")
        compiled = []
        for f in faults:
            if not isinstance(f, dict) or not isinstance(f.get("path"), str):
                raise ValueError(f"a fault needs a string `path`: {f!r}")
            actions = [
                a
                for a in (
                    "status",
                    "drop_after",
                    "truncate",
                    "corrupt",
                    "redirect_loop",
                    "huge",
                    "huge_chunked",
                )
                if a in f
            ]
            if len(actions) != 1:
                raise ValueError(f"a fault needs exactly one action: {f!r}")
            g = dict(f)
            g["_re"] = re.compile(f["path"])
            compiled.append(g)
        with self.lock:
            self.faults = compiled

    def faults_json(self):
        with self.lock:
            return [{k: v for k, v in f.items() if k != "_re"} for f in self.faults]


def error_body(status, path, code=None):
    if code is None:
        if status == 401:
            code = "UNAUTHORIZED"
        elif status == 403:
            code = "DENIED"
        elif status == 404:
            if "/blobs/uploads" in path:
                code = "BLOB_UPLOAD_UNKNOWN"
            elif "/blobs/" in path:
                code = "BLOB_UNKNOWN"
            elif "/manifests/" in path:
                code = "MANIFEST_UNKNOWN"
            else:
                code = "NAME_UNKNOWN"
        elif status == 429:
            code = "TOOMANYREQUESTS"
        elif status == 400:
            code = "UNSUPPORTED"
        else:
            code = "UNKNOWN"
    return json.dumps({"errors": [{"code": code, "message": "injected"}]}).encode()


def filler(total):
    """`{"a":"aaaa…"}` of exactly `total` bytes, in chunks, never allocated whole."""
    head, tail = b'{"a":"', b'"}'
    if total < len(head) + len(tail):
        if total > 0:
            yield b"a" * total
        return
    yield head
    left = total - len(head) - len(tail)
    block = b"a" * CHUNK
    while left > 0:
        n = min(left, CHUNK)
        yield block[:n]
        left -= n
    yield tail


def auth_kind(header):
    if not header:
        return "none"
    scheme = header.split(None, 1)[0].lower()
    if scheme in ("basic", "bearer"):
        return scheme
    return "other"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "envc-registry-proxy"
    state: State = None  # set in main

    def log_message(self, format, *args):  # noqa: A002 - silence the default access log
        pass

    # Every method goes through one dispatcher.
    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def do_CONNECT(self):
        """As an HTTP proxy: a tunnel to HOST:PORT (logged; its bytes are not looked at)."""
        with self.state.lock:
            self.state.log.append(
                {"method": "CONNECT", "path": self.path, "query": "", "status": 200,
                 "auth": "none", "fault": None, "as_proxy": True}
            )
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
        except (OSError, ValueError):
            self.send_error(502)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        client = self.connection

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(CHUNK)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        t = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        t.start()
        pump(client, upstream)
        t.join()
        upstream.close()
        self.close_connection = True

    # ----- request plumbing

    def dispatch(self):
        self.status_sent = None
        self.logged = False
        self.fault_index = None
        # A client using this as its HTTP proxy sends absolute URLs: serve them as if they
        # were for the upstream (the tests point them at it), and say so in the log.
        self.forwarded = self.path.startswith("http://")
        if self.forwarded:
            target = urllib.parse.urlsplit(self.path)
            self.path = target.path + (("?" + target.query) if target.query else "")
        split = urllib.parse.urlsplit(self.path)
        self.req_path, self.req_query = split.path, split.query
        try:
            if self.req_path.startswith("/__envc/"):
                self.control()
                return
            self.serve()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            # A request that never got a status (the client went away) is logged here.
            if not self.logged and not self.req_path.startswith("/__envc/"):
                self.record()

    def sent(self, status):
        """Notes the status and logs the request *before* the client can see the reply, so
        a test that reads the log right after its client returns finds the request there."""
        self.status_sent = status
        if not self.req_path.startswith("/__envc/"):
            self.record()

    def record(self):
        self.logged = True
        with self.state.lock:
            self.state.log.append(
                {
                    "method": self.command,
                    "path": self.req_path,
                    "query": self.req_query,
                    "status": self.status_sent,
                    "auth": auth_kind(self.headers.get("Authorization")),
                    "fault": self.fault_index,
                    "as_proxy": self.forwarded,
                }
            )

    def request_body(self):
        """The client's request body as a generator of chunks, or None if it has none."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            return self.chunked_body()
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.sized_body(int(length))

    def sized_body(self, length):
        while length > 0:
            data = self.rfile.read(min(length, CHUNK))
            if not data:
                raise ConnectionResetError("client closed mid-body")
            length -= len(data)
            yield data

    def chunked_body(self):
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionResetError("client closed mid-chunk")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return
            yield from self.sized_body(size)
            self.rfile.readline(65537)

    def drain_body(self):
        body = self.request_body()
        if body is not None:
            for _ in body:
                pass

    def reply(self, status, headers=(), body=b""):
        """A complete, small response of our own."""
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        names = set()
        for k, v in headers:
            names.add(k.lower())
            self.send_header(k, v)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.sent(status)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def reply_json(self, status, value):
        self.reply(
            status, [("Content-Type", "application/json")], json.dumps(value).encode()
        )

    def own_base(self):
        host = self.headers.get("Host") or f"127.0.0.1:{self.state.port}"
        return f"http://{host}"

    # ----- control endpoints

    def control(self):
        st = self.state
        if self.req_path == "/__envc/faults" and self.command == "POST":
            try:
                body = b"".join(self.request_body() or [])
                st.set_faults(json.loads(body or b"[]"))
            except (ValueError, re.error) as e:
                self.reply_json(400, {"error": str(e)})
                return
            self.reply_json(200, st.faults_json())
        elif self.req_path == "/__envc/faults" and self.command == "GET":
            self.reply_json(200, st.faults_json())
        elif self.req_path == "/__envc/log" and self.command == "GET":
            with st.lock:
                log = list(st.log)
            self.reply_json(200, log)
        elif self.req_path == "/__envc/log" and self.command == "DELETE":
            self.drain_body()
            with st.lock:
                st.log.clear()
            self.reply_json(200, [])
        elif self.req_path == "/__envc/tokens" and self.command == "GET":
            with st.lock:
                value = {"requests": st.token_requests, "granted": st.tokens_granted}
            self.reply_json(200, value)
        else:
            self.drain_body()
            self.reply_json(404, {"error": f"no control endpoint {self.command} {self.req_path}"})

    # ----- bearer mode

    def token_endpoint(self):
        st = self.state
        with st.lock:
            st.token_requests += 1
        query = urllib.parse.parse_qs(self.req_query, keep_blank_values=True)
        user = password = None
        if self.command == "POST":
            # The OAuth2 password grant some clients use.
            form = urllib.parse.parse_qs(
                b"".join(self.request_body() or []).decode(), keep_blank_values=True
            )
            query = {**query, **form}
            user = (form.get("username") or [None])[0]
            password = (form.get("password") or [None])[0]
        else:
            self.drain_body()
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, _, password = (
                    base64.b64decode(header.split(None, 1)[1]).decode().partition(":")
                )
            except (ValueError, UnicodeDecodeError):
                user = password = None
        if user != st.token_user or password != st.token_password:
            self.reply(
                401,
                [
                    ("WWW-Authenticate", f'Basic realm="{SERVICE}"'),
                    ("Content-Type", "application/json"),
                ],
                error_body(401, self.req_path),
            )
            return
        granted = set()
        for scope in query.get("scope", []):
            for one in scope.split():
                parts = one.split(":")
                if len(parts) < 3 or parts[0] != "repository":
                    continue
                repo, actions = ":".join(parts[1:-1]), parts[-1]
                for action in actions.split(","):
                    if action:
                        granted.add((repo, action))
        token = secrets.token_urlsafe(24)
        with st.lock:
            st.tokens[token] = granted
            st.tokens_granted += 1
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        self.reply_json(
            200,
            {
                "token": token,
                "access_token": token,
                "expires_in": 300,
                "issued_at": now.isoformat().replace("+00:00", "Z"),
            },
        )

    def needed_scopes(self):
        """[(repo, [actions])] this /v2/ request needs; [] for /v2/ itself (any token)."""
        m = REPO_RE.match(self.req_path)
        if not m:
            return []
        repo = m.group(1)
        actions = ["pull"] if self.command in ("GET", "HEAD") else ["pull", "push"]
        needed = [(repo, actions)]
        query = urllib.parse.parse_qs(self.req_query)
        if self.command == "POST" and "mount" in query and "from" in query:
            needed.append((query["from"][0], ["pull"]))
        return needed

    def authorized(self):
        """True if the request may go on; otherwise it has been answered with a 401."""
        st = self.state
        needed = self.needed_scopes()
        header = self.headers.get("Authorization", "")
        granted = None
        if header.lower().startswith("bearer "):
            with st.lock:
                granted = st.tokens.get(header.split(None, 1)[1].strip())
        if granted is not None and all(
            (repo, a) in granted for repo, actions in needed for a in actions
        ):
            return True
        challenge = f'Bearer realm="http://127.0.0.1:{st.port}/token",service="{SERVICE}"'
        if needed:
            scope = " ".join(f"repository:{repo}:{','.join(a)}" for repo, a in needed)
            challenge += f',scope="{scope}"'
        self.drain_body()
        self.reply(
            401,
            [
                ("WWW-Authenticate", challenge),
                ("Content-Type", "application/json"),
                ("Docker-Distribution-API-Version", "registry/2.0"),
            ],
            error_body(401, self.req_path),
        )
        return False

    # ----- forwarding and faults

    def serve(self):
        st = self.state
        if st.bearer() and self.req_path == "/token":
            # Faults can hit the token endpoint too (those the proxy answers itself).
            index, fault = st.take_fault(self.command, self.req_path, own_only=True)
            self.fault_index = index
            if fault is None:
                self.token_endpoint()
            else:
                self.apply(fault)
            return
        if st.bearer() and (self.req_path == "/v2" or self.req_path.startswith("/v2/")):
            # Auth first: a fault models the registry failing a request it would have served.
            if not self.authorized():
                return
        index, fault = st.take_fault(self.command, self.req_path)
        self.fault_index = index
        if fault is None:
            self.forward(None)
        else:
            self.apply(fault)

    def apply(self, fault):
        if fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if "status" in fault:
            self.drain_body()
            status = int(fault["status"])
            headers = [("Content-Type", "application/json")]
            headers += list((fault.get("headers") or {}).items())
            self.reply(status, headers, error_body(status, self.req_path, fault.get("code")))
        elif fault.get("redirect_loop"):
            self.drain_body()
            self.reply(307, [("Location", self.own_base() + self.path)])
        elif "huge" in fault or "huge_chunked" in fault:
            self.drain_body()
            chunked = "huge_chunked" in fault
            total = int(fault["huge_chunked"] if chunked else fault["huge"])
            self.send_response_only(200)
            self.send_header("Date", self.date_time_string())
            self.send_header("Content-Type", MANIFEST_TYPE)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(total))
            self.sent(200)
            self.end_headers()
            if self.command != "HEAD":
                for piece in filler(total):
                    self.write_body(piece, chunked)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
        else:
            self.forward(fault)

    def upstream_connection(self):
        u = self.state.upstream
        if u.scheme == "https":
            return http.client.HTTPSConnection(
                u.hostname, u.port or 443, timeout=600, context=ssl._create_unverified_context()
            )
        return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=600)

    def forward(self, fault):
        st = self.state
        headers = {}
        connection_tokens = {
            t.strip().lower()
            for v in self.headers.get_all("Connection", [])
            for t in v.split(",")
        }
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in connection_tokens or lk in ("host", "expect"):
                continue
            if lk == "authorization" and st.bearer():
                continue
            # Repeated headers (skopeo sends several Accept lines) become one comma-joined line.
            if lk in headers:
                name, value = headers[lk]
                headers[lk] = (name, value + ", " + v)
            else:
                headers[lk] = (k, v)
        body = self.request_body()
        if body is not None and "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            headers.pop("content-length", None)
        headers = dict(headers.values())
        conn = self.upstream_connection()
        try:
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                if isinstance(e, (BrokenPipeError, ConnectionResetError)) and self.status_sent:
                    raise
                self.close_connection = True
                self.reply(
                    502,
                    [("Content-Type", "application/json")],
                    json.dumps(
                        {"errors": [{"code": "UNKNOWN", "message": f"upstream: {e}"}]}
                    ).encode(),
                )
                return
            self.relay(resp, fault)
        finally:
            conn.close()

    def relay(self, resp, fault):
        st = self.state
        resp_conn_tokens = {
            t.strip().lower()
            for v in (resp.msg.get_all("Connection") or [])
            for t in v.split(",")
        }
        out = []
        length = None
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in resp_conn_tokens:
                continue
            if lk == "content-length":
                length = int(v)
                continue
            if lk == "location" and v.startswith(st.upstream_prefix):
                v = self.own_base() + v[len(st.upstream_prefix) :]
            out.append((k, v))
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        truncate = fault.get("truncate") if fault else None
        drop_after = fault.get("drop_after") if fault else None
        corrupt = bool(fault and fault.get("corrupt"))
        if truncate is not None and not no_body:
            send_length = int(truncate)
        else:
            send_length = length
        chunked = not no_body and send_length is None

        self.send_response_only(resp.status, resp.reason)
        for k, v in out:
            self.send_header(k, v)
        if send_length is not None:
            self.send_header("Content-Length", str(send_length))
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.sent(resp.status)
        self.end_headers()
        if no_body:
            return

        limit = None
        if drop_after is not None:
            limit = int(drop_after)
        elif truncate is not None:
            limit = int(truncate)
        flip_at = None
        if corrupt:
            flip_at = length // 2 if length else 0
        sent = 0
        while True:
            if limit is not None and sent >= limit:
                break
            want = CHUNK if limit is None else min(CHUNK, limit - sent)
            data = resp.read(want)
            if not data:
                break
            if flip_at is not None and sent <= flip_at < sent + len(data):
                i = flip_at - sent
                data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
            self.write_body(data, chunked)
            sent += len(data)
        if drop_after is not None:
            # A connection dropped mid-body: no terminating chunk, the socket closed under it.
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        if send_length is not None and sent < send_length:
            # The upstream's body was shorter than promised; this connection cannot go on.
            self.close_connection = True

    def write_body(self, data, chunked):
        if chunked:
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up (or a fault that hung up on it) is not an error worth a trace.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--token-user")
    ap.add_argument("--token-password")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if (args.token_user is None) != (args.token_password is None):
        ap.error("--token-user and --token-password go together")
    state = State(args.upstream.rstrip("/"), args.token_user, args.token_password)
    Handler.state = state
    server = Server(("127.0.0.1", args.port), Handler)
    state.port = server.server_address[1]
    print(state.port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
