#!/usr/bin/env python3
"""Checks recorded HTTP exchanges against envc serve's OpenAPI document.

Usage: openapi-check.py [--partial] OPENAPI.json EXCHANGES.jsonl

Each exchange is {"method", "path" (with the query), "status", "content_type", "body"}. For
each: the path must match a documented path template and method, the status must be one the
operation documents, and a JSON body must validate against the documented schema for that
status and media type (JSON Schema 2020-12, which OpenAPI 3.1 uses; `$ref`s resolve within the
document). Every documented operation must have been exercised at least once (unless
`--partial`). Exit 1 with one
line per problem.
"""
import json
import re
import sys
from urllib.parse import urlsplit

import jsonschema

args = [a for a in sys.argv[1:] if a != "--partial"]
partial = "--partial" in sys.argv
doc = json.load(open(args[0]))
exchanges = [json.loads(l) for l in open(args[1]) if l.strip()]
templates = []
for template, ops in doc["paths"].items():
    pattern = "^" + re.sub(r"\\\{[a-z]+\\\}", "[^/]+", re.escape(template)) + "$"
    templates.append((re.compile(pattern), template, ops))

problems, seen = [], set()
for x in exchanges:
    path = urlsplit(x["path"]).path
    matches = [(t, ops) for (p, t, ops) in templates if p.match(path)]
    # A literal template (no parameters) wins over a parameterised one.
    matches.sort(key=lambda m: m[0].count("{"))
    if not matches:
        problems.append(f"{x['method']} {path}: no documented path")
        continue
    template, ops = matches[0]
    op = ops.get(x["method"].lower())
    if op is None:
        problems.append(f"{x['method']} {template}: method not documented")
        continue
    seen.add((x["method"].lower(), template))
    status = str(x["status"])
    resp = op["responses"].get(status)
    if resp is None:
        problems.append(f"{x['method']} {template}: status {status} not documented")
        continue
    ctype = (x.get("content_type") or "").split(";")[0].strip()
    content = resp.get("content", {})
    if not content:
        continue
    if ctype not in content:
        problems.append(f"{x['method']} {template} {status}: content type {ctype!r} not documented ({list(content)})")
        continue
    if ctype == "application/json":
        schema = dict(content[ctype]["schema"])
        schema["components"] = doc["components"]
        try:
            jsonschema.validate(json.loads(x["body"]), schema, cls=jsonschema.Draft202012Validator)
        except jsonschema.ValidationError as e:
            problems.append(f"{x['method']} {path} {status}: {e.message} at {list(e.absolute_path)}")

for template, ops in doc["paths"].items():
    for method in ops:
        if not partial and (method, template) not in seen:
            problems.append(f"{method.upper()} {template}: documented but never exercised")

for p in problems:
    print(p)
print(f"{len(exchanges)} exchanges, {len(seen)} operations exercised, {len(problems)} problems")
sys.exit(1 if problems else 0)
