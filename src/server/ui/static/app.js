/*
 * The envc UI's script: only what a server-rendered page cannot do alone. The rollback
 * confirmation (revision page), following a running build's log (build page) and checking a
 * pasted spec before building it (new page). It talks only to the JSON API under /v1/, the same
 * origin, so the token cookie goes along.
 *
 * Decisions: text from the server is always put in with textContent, never as HTML, so a spec's
 * values cannot become markup here either; nothing is inline in the pages (the
 * Content-Security-Policy is default-src 'self'), so the page's data comes in data- attributes.
 */
"use strict";

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function show(e, text) {
  e.textContent = text;
  e.classList.remove("hidden");
}

async function apiError(response) {
  try {
    const doc = await response.json();
    if (doc && doc.error) {
      return doc.error.message + (doc.error.help ? " (" + doc.error.help + ")" : "");
    }
  } catch (_) {
    /* not JSON: the status says it */
  }
  return "the server answered " + response.status + " " + response.statusText;
}

/* Revision page: a new revision N+1 equal to this one, after a confirmation. */
function revisionPage() {
  const button = document.getElementById("rollback");
  if (!button) return;
  button.addEventListener("click", async () => {
    const name = button.dataset.name;
    const to = Number(button.dataset.to);
    const question =
      "Roll " + name + " back to revision " + to + "?\n\n" +
      "This makes a new revision of " + name + " with the content of " + name + ":" + to +
      " (the latest is " + button.dataset.latest + ").";
    if (!window.confirm(question)) return;
    button.disabled = true;
    const error = document.getElementById("rollback-error");
    try {
      const response = await fetch("/v1/environments/" + encodeURIComponent(name) + "/rollback", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ to: to }),
      });
      if (response.status !== 201) {
        show(error, "The rollback failed: " + (await apiError(response)));
        button.disabled = false;
        return;
      }
      const view = await response.json();
      window.location.assign("/environments/" + encodeURIComponent(view.name) + "/" + view.revision);
    } catch (e) {
      show(error, "The rollback failed: " + e);
      button.disabled = false;
    }
  });
}

/* Build page: a running build's log, line by line, then its result. */
function buildPage() {
  const body = document.body;
  if (body.dataset.live !== "true") return;
  const id = body.dataset.build;
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const setStatus = (s) => {
    status.textContent = s;
    status.className = "status status-" + s;
  };
  let running = false;
  const source = new EventSource("/v1/builds/" + encodeURIComponent(id) + "/log");
  // Every (re)connection sends the log from its first line.
  source.addEventListener("open", () => {
    log.textContent = "";
  });
  source.addEventListener("message", (event) => {
    // A line means the build has left the queue.
    if (!running) {
      running = true;
      setStatus("in_progress");
    }
    const line = el("span", "line", event.data);
    log.appendChild(line);
    log.appendChild(document.createTextNode("\n"));
    line.scrollIntoView({ block: "nearest" });
  });
  source.addEventListener("end", async (event) => {
    source.close();
    const final = event.data;
    setStatus(final);
    log.appendChild(el("span", "line end", "build " + final));
    log.appendChild(document.createTextNode("\n"));
    await showResult(id);
  });
}

async function showResult(id) {
  const result = document.getElementById("result");
  const response = await fetch("/v1/builds/" + encodeURIComponent(id), {
    headers: { Accept: "application/json" },
  });
  if (!response.ok) {
    result.appendChild(el("p", "error", await apiError(response)));
    return;
  }
  const build = await response.json();
  result.textContent = "";
  if (build.revision) {
    const p = el("p", "ok", "Revision ");
    const a = el("a", null, build.revision);
    a.id = "revision-link";
    const rev = build.revision.slice(build.revision.lastIndexOf(":") + 1);
    a.href = "/environments/" + encodeURIComponent(build.name) + "/" + rev;
    p.appendChild(a);
    result.appendChild(p);
  }
  if (build.error) {
    const p = el("p", "error", build.error);
    p.id = "build-error";
    result.appendChild(p);
  }
  const diags = build.diagnostics && build.diagnostics.diagnostics;
  if (diags && diags.length) {
    const list = el("ul", "diagnostics");
    for (const d of diags) list.appendChild(el("li", null, d.severity + "[" + d.code + "] " + d.message + (d.line ? " (line " + d.line + ")" : "")));
    result.appendChild(list);
  }
}

/* New page: check the spec, show its diagnostics at their lines, or build it. */
function newPage() {
  const form = document.getElementById("new-form");
  if (!form) return;
  const spec = document.getElementById("spec");
  const file = document.getElementById("spec-file");
  const name = document.getElementById("env-name");
  const status = document.getElementById("new-status");
  const error = document.getElementById("new-error");
  const submit = document.getElementById("submit");
  let filename = "spec.yaml";

  file.addEventListener("change", () => {
    const f = file.files && file.files[0];
    if (!f) return;
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      spec.value = String(reader.result);
      filename = f.name.replace(/[\\/]/g, "_") || "spec.yaml";
    });
    reader.addEventListener("error", () => show(error, "Cannot read " + f.name + ": " + reader.error));
    reader.readAsText(f);
  });
  spec.addEventListener("input", () => {
    filename = "spec.yaml";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.classList.add("hidden");
    document.getElementById("diagnostics").classList.add("hidden");
    submit.disabled = true;
    status.textContent = "checking…";
    try {
      const text = spec.value;
      const check = await fetch("/v1/check", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ spec: text, filename: filename }),
      });
      if (!check.ok) throw new Error(await apiError(check));
      const doc = await check.json();
      if (doc.summary.errors > 0) {
        showDiagnostics(text, doc);
        status.textContent = "not built: the spec has errors";
        return;
      }
      status.textContent = "building…";
      const build = await fetch("/v1/builds", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ name: name.value.trim(), spec: text, filename: filename }),
      });
      if (build.status === 422) {
        showDiagnostics(text, await build.json());
        status.textContent = "not built: the spec has errors";
        return;
      }
      if (build.status !== 202) throw new Error(await apiError(build));
      const job = await build.json();
      window.location.assign("/builds/" + encodeURIComponent(job.id));
    } catch (e) {
      show(error, String(e.message || e));
      status.textContent = "";
    } finally {
      submit.disabled = false;
    }
  });
}

/* The spec, line-numbered, each line with a diagnostic highlighted and its message beside it. */
function showDiagnostics(text, doc) {
  const section = document.getElementById("diagnostics");
  const list = document.getElementById("spec-lines");
  list.textContent = "";
  const byLine = new Map();
  const unplaced = [];
  for (const d of doc.diagnostics) {
    if (d.line) {
      if (!byLine.has(d.line)) byLine.set(d.line, []);
      byLine.get(d.line).push(d);
    } else {
      unplaced.push(d);
    }
  }
  const lines = text.split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  // A diagnostic past the last line (an unterminated document) still gets a line.
  const last = Math.max(lines.length, ...Array.from(byLine.keys()));
  for (let n = 1; n <= last; n++) {
    const li = el("li", "line");
    li.id = "line-" + n;
    li.appendChild(el("span", "lineno", n));
    li.appendChild(el("code", "text", lines[n - 1] === undefined ? "" : lines[n - 1]));
    const diags = byLine.get(n);
    if (diags) {
      li.classList.add("has-" + (diags.some((d) => d.severity === "error") ? "error" : "warning"));
      for (const d of diags) li.appendChild(diagnostic(d));
    }
    list.appendChild(li);
  }
  for (const d of unplaced) {
    const li = el("li", "line has-error unplaced");
    li.appendChild(diagnostic(d));
    list.appendChild(li);
  }
  const s = doc.summary;
  document.getElementById("diagnostics-summary").textContent =
    s.errors + " error" + (s.errors === 1 ? "" : "s") + ", " +
    s.warnings + " warning" + (s.warnings === 1 ? "" : "s");
  section.classList.remove("hidden");
  const first = list.querySelector(".has-error, .has-warning");
  if (first) first.scrollIntoView({ block: "center" });
}

function diagnostic(d) {
  const box = el("div", "diag diag-" + d.severity);
  if (d.line) box.dataset.line = d.line;
  box.dataset.code = d.code;
  const head = el("p", "diag-head");
  head.appendChild(el("span", "diag-code", d.severity + "[" + d.code + "]"));
  head.appendChild(document.createTextNode(" "));
  head.appendChild(el("span", "diag-message", d.message));
  if (d.line) head.appendChild(el("span", "dim", " line " + d.line + (d.column ? ", column " + d.column : "")));
  box.appendChild(head);
  if (d.label) box.appendChild(el("p", "diag-label", d.label));
  if (d.help) box.appendChild(el("p", "diag-help", "help: " + d.help));
  return box;
}

document.addEventListener("DOMContentLoaded", () => {
  switch (document.body.dataset.page) {
    case "revision":
      revisionPage();
      break;
    case "build":
      buildPage();
      break;
    case "new":
      newPage();
      break;
  }
});
