#!/usr/bin/env python3
"""Writes the hand-made seeds under fuzz/seeds/TARGET (committed; run again only on purpose).

Each seed is a small valid input of its target's surface, so the fuzzer starts from inputs
that get past the first check; the byte-prefixed ones carry the mode byte the target reads.
"""
import gzip, hashlib, io, json, os, tarfile, zipfile, base64

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tar_bytes(files, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            elif isinstance(content, tuple):
                info.type = tarfile.SYMTYPE
                info.linkname = content[0]
                t.addfile(info)
            else:
                info.size = len(content)
                info.mode = 0o644
                t.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


# runtime_env: mode byte (rules, level), then JSON or YAML; a parent and a child after a NUL.
put("runtime_env", "pip", b"\x02" + json.dumps({"pip": ["requests==2.31.0", "numpy"], "env_vars": {"A": "1"}}).encode())
put("runtime_env", "uris", b"\x01" + json.dumps({"working_dir": "s3://bucket/wd.zip", "py_modules": ["gcs://b/m.zip"], "excludes": ["*.ckpt"]}).encode())
put("runtime_env", "conda", b"\x00conda:\n  dependencies:\n    - python=3.10\n    - pip:\n      - torch\nenv_vars:\n  X: y\n")
put("runtime_env", "merge", b"\x02" + json.dumps({"env_vars": {"A": "1"}, "pip": ["a"]}).encode() + b"\0" + json.dumps({"env_vars": {"B": "2"}}).encode())
put("runtime_env", "uv", b"\x06" + json.dumps({"uv": {"packages": ["requests"]}, "config": {"setup_timeout_seconds": 60}}).encode())

put("config", "full", """[base-image]
allow = ["rayproject/*", "registry.example.com/ml/*"]
mirror = "mirror.example.com"

[warnings]
deny = false
ignore = ["W002"]

[[image]]
match = "ubuntu"
user = "root"
uid = 0
gid = 0
home = "/root"
pip = "/usr/bin/pip3"
conda-prefix = "/opt/conda"

[engine]
name = "podman"
""")

put("pathspec", "gitignore", "# comment\n*.pyc\n/build/\n!keep.pyc\n**/data/**\n[a-c]?.txt\n\0a/b.pyc\0build/x\0keep.pyc\0x/data/y\0b1.txt")

config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/usr/bin"]},
                     "rootfs": {"type": "layers", "diff_ids": [sha(b"layer")]}}, sort_keys=True, separators=(",", ":")).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(b"l"), "size": 1}]},
                      sort_keys=True, separators=(",", ":")).encode()
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest),
                                   "annotations": {"org.opencontainers.image.ref.name": "my-env:1"},
                                   "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
put("oci_json", "config", config)
put("oci_json", "manifest", manifest)
put("oci_json", "index", index)
put("oci_json", "descriptor", json.dumps({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(b"x"), "size": 1}))
put("oci_json", "numbers", '{"a":[1,-0,1.5e300,12345678901234567890,"\\u00e9\\ud83d\\ude00"],"b":{"z":null,"a":true}}')

put("registry", "challenge", b"\x00" + b'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')
put("registry", "basic", b"\x04" + b'Basic realm="registry", Bearer realm="https://a.example/t"')
put("registry", "token", b"\x01" + b'{"token":"abc.def","expires_in":300}')
put("registry", "record", b"\x02" + index)
put("registry", "manifest", b"\x03" + manifest)

layer = tar_bytes([("app/", None), ("app/main.py", b"print(1)\n"), ("app/link", ("main.py",))])
put("layer_scan", "plain", b"\x00" + layer)
put("layer_scan", "gzip", b"\x01" + gzip.compress(layer, mtime=0))
put("layer_scan", "gnu", b"\x00" + tar_bytes([("a/" + "x" * 120, b"long")], tarfile.GNU_FORMAT))
put("layer_roundtrip", "mixed", b"\x00\xedapp\n\x01\xa4app/main.py=print(1)\n\x02\xffapp/link=main.py\n\x03\xa4run/fifo\n\x01\xa4deep/er/file=x")

# archive: an oci-archive (mode 0) and a docker-archive (mode 1) of one tiny image.
lgz = gzip.compress(tar_bytes([("hello.txt", b"hello\n")]), mtime=0)
diff = sha(gzip.decompress(lgz))
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(lgz), "size": len(lgz)}]}).encode()
idx = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(man), "size": len(man),
                                                     "annotations": {"org.opencontainers.image.ref.name": "tiny"}}]}).encode()
blobs = [("blobs/sha256/" + sha(b)[7:], b) for b in (lgz, cfg, man)]
put("archive", "oci", b"\x00" + tar_bytes([("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", idx), ("blobs/", None), ("blobs/sha256/", None)] + blobs))
dm = json.dumps([{"Config": sha(cfg)[7:] + ".json", "RepoTags": ["tiny:latest"], "Layers": ["layer.tar"]}]).encode()
put("archive", "docker", b"\x01" + tar_bytes([("manifest.json", dm), (sha(cfg)[7:] + ".json", cfg), ("layer.tar", gzip.decompress(lgz))]))

put("apt", "packages", """Package: jq
Version: 1.6-2.1
Architecture: amd64
Multi-Arch: foreign
Priority: optional
Depends: libjq1 (= 1.6-2.1), libc6 (>= 2.34) | libc6-udeb
Provides: jq-tool
Filename: pool/main/j/jq/jq_1.6-2.1_amd64.deb
Size: 64848
SHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

Package: libjq1
Version: 1:1.6-2.1
Architecture: amd64
Status: install ok installed
Description: a library
 continued here
""")
put("apt", "release", """Origin: Debian
Suite: stable
Codename: bookworm
Date: Sat, 10 Jun 2023 08:55:36 UTC
Valid-Until: Sat, 17 Jun 2023 08:55:36 UTC
Acquire-By-Hash: yes
Architectures: all amd64 arm64
SHA256:
 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1234 main/binary-amd64/Packages
 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 567 main/binary-amd64/Packages.xz
""")
put("apt", "packages.gz", gzip.compress(b"Package: a\nVersion: 1\n", mtime=0))


def ar(members):
    out = b"!<arch>\n"
    for name, data in members:
        hdr = f"{name:<16}{0:<12}{0:<6}{0:<6}{0o100644:<8o}{len(data):<10}`\n".encode()
        out += hdr + data + (b"\n" if len(data) % 2 else b"")
    return out


control = tar_bytes([("./", None), ("./control", b"Package: hello\nVersion: 1.0\nArchitecture: amd64\nMaintainer: x\nDescription: y\n"),
                     ("./postinst", b"#!/bin/sh\nldconfig\n"), ("./md5sums", b"00000000000000000000000000000000  usr/bin/hello\n")])
data = tar_bytes([("./", None), ("./usr/", None), ("./usr/bin/", None), ("./usr/bin/hello", b"#!/bin/sh\necho hi\n"), ("./usr/bin/hi", ("hello",))])
put("deb", "hello", ar([("debian-binary", b"2.0\n"), ("control.tar.gz", gzip.compress(control, mtime=0)), ("data.tar.gz", gzip.compress(data, mtime=0))]))
put("deb", "plain", ar([("debian-binary", b"2.0\n"), ("control.tar", control), ("data.tar", data)]))


def record_hash(b):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()


files = {"fuzz/__init__.py": b"X = 1\n", "fuzz-1.0.data/scripts/tool": b"#!python\nprint(1)\n",
         "fuzz-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: fuzz\nVersion: 1.0\n",
         "fuzz-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
         "fuzz-1.0.dist-info/entry_points.txt": b"[console_scripts]\nfz = fuzz:main\n"}
record = "".join(f"{n},{record_hash(b)},{len(b)}\n" for n, b in files.items()) + "fuzz-1.0.dist-info/RECORD,,\n"
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for n, b in list(files.items()) + [("fuzz-1.0.dist-info/RECORD", record.encode())]:
        zi = zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0))
        zi.external_attr = 0o644 << 16
        z.writestr(zi, b, zipfile.ZIP_DEFLATED)
put("wheel", "fuzz-1.0", buf.getvalue())
put("wheel", "record", record)

spec = b"base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  A: b\npost_build_cmds:\n  - echo hi\n"
put("http", "check-yaml", b"\x01\x01\n" + spec)
put("http", "check-json", b"\x01\x00\n" + json.dumps({"spec": spec.decode()}).encode())
put("http", "diff", b"\x02\x00\n" + json.dumps({"from": spec.decode(), "to": spec.decode()}).encode())
put("http", "list", b"\x00\x00environments")
put("http", "revisions", b"\x04\x00my-env")
put("http", "rollback", b"\x03\x00my-env\n" + json.dumps({"to": 1}).encode())
put("http", "unauthorized", b"\x00\x04builds?limit=5")
put("http", "healthz", b"\x05\x04healthz")

put("spec", "minimal", spec)
put("spec", "template", b"base_image: anyscale/ray:{{ '2.9.0' }}-py310\npost_build_cmds:\n  - |\n    set -x\n    echo {{ env.get('HOME', 'x') }}\n")
