#!/usr/bin/env python3
"""A TEST DOUBLE of GeoServer's REST API: not GeoServer.

GeoServer cannot run on the machines gnbr is tested on, so gnbr's REST
client is tested against this small HTTP server instead. It serves what
spec/geoserver.md describes (status codes and JSON shapes included) over a
real GeoServer data directory:

  GET      <prefix>/rest/about/version.json
  POST|PUT <prefix>/rest/reload, <prefix>/rest/reset
  POST     <prefix>/rest/br/backup, <prefix>/rest/br/restore      (201, body = the execution)
  GET      <prefix>/rest/br/backup.json, .../restore.json          (job lists)
  GET      <prefix>/rest/br/<kind>/<id>.json                        (one execution)
  GET      <prefix>/rest/br/backup/<id>.zip                         (the archive)
  DELETE   <prefix>/rest/br/<kind>/<id>                             (cancel)
  GET      /__double/log      (double only: the requests it saw, for tests)

A backup writes a real Backup & Restore style archive (br_index.xml,
<type>.dat.N files of up to 1000 objects, workspaces/, styles/, settings and
security unless skipped) to archiveFile; a restore applies one to the data
directory. One job runs at a time; a second POST gets a 500. Options must be
KEY=value strings. What a real GeoServer does that this does not: the
catalog is read from the files, not from a live catalog; nothing is
validated beyond what the spec says; no XML requests.

Python standard library only. Run `geoserver_double.py --help` for the
flags; it prints `READY <base url>` on stdout once it listens.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUNNING = ("STARTING", "STARTED", "STOPPING")
SETTINGS_DIRS = ("user_projections/", "palettes/")
CATALOG_DIRS = ("workspaces/", "styles/", "layergroups/")
GWC = ("gwc-layers/", "gwc/")
STEP_NAMES = {
    "backup": [
        "backupNamespaceInfos", "backupWorkspaceInfos", "backupDataStoreInfos",
        "backupCoverageStoreInfos", "backupFeatureTypeInfos", "backupLayerInfos",
        "backupLayerGroupInfos", "backupStyleInfos", "backupAdditionalResources",
    ],
    "restore": [
        "restoreNamespaceInfos", "restoreWorkspaceInfos", "restoreDataStoreInfos",
        "restoreCoverageStoreInfos", "restoreFeatureTypeInfos", "restoreLayerInfos",
        "restoreLayerGroupInfos", "restoreStyleInfos", "restoreAdditionalResources",
    ],
}


class Job:
    """One backup or restore execution."""

    def __init__(self, job_id, kind, archive, options, overwrite, total):
        self.id = job_id
        self.kind = kind
        self.archive = archive
        self.options = options
        self.overwrite = overwrite
        self.status = "STARTING"
        self.exit_code = "UNKNOWN"
        self.exit_description = ""
        self.total = total
        self.done = 0
        self.failure = ""
        self.cancel = threading.Event()

    def flag(self, key, default=False):
        value = self.options.get(key)
        return default if value is None else value.strip().lower() == "true"

    def excluded(self):
        raw = self.options.get("exclude.file.path", "")
        return [p.strip().strip("/") for p in raw.split(";") if p.strip().strip("/")]


class Double:
    """The double's state: its settings, jobs and request log."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        # Its own lock: answers, which log, are sent with `lock` held at times.
        self.log_lock = threading.Lock()
        self.jobs = []
        self.requests = []
        self.reloads = 0
        self.resets = 0
        self.flaky_left = args.flaky
        self.failing_restores = args.fail_restores
        self.base = ""

    def running(self):
        return any(job.status in RUNNING for job in self.jobs)

    def execution(self, job):
        status = job.status if self.args.status_encoding == "string" else [job.status]
        steps = []
        names = STEP_NAMES[job.kind]
        for i in range(job.total):
            if i < job.done:
                step_status = "COMPLETED"
            elif i == job.done and job.status in ("STARTED", "STOPPING"):
                step_status = "STARTED"
            elif i == job.done and job.status in ("FAILED", "STOPPED", "ABANDONED", "UNKNOWN"):
                step_status = job.status
            else:
                step_status = "STARTING"
            step = {
                "name": names[i % len(names)],
                "status": step_status if self.args.status_encoding == "string" else [step_status],
                "exitStatus": {"exitCode": step_status, "exitDescription": ""},
                "readCount": 3 if step_status == "COMPLETED" else 0,
                "writeCount": 3 if step_status == "COMPLETED" else 0,
                "failureExceptions": job.failure if step_status == "FAILED" else "",
            }
            steps.append(step)
        execution = {
            "id": job.id,
            "version": 1,
            "status": status,
            "progress": "%d/%d" % (job.done, job.total),
            "exitStatus": {"exitCode": job.exit_code, "exitDescription": job.exit_description},
            "stepExecutions": {"step": steps},
        }
        body = {
            "execution": execution,
            "options": {"option": ["%s=%s" % kv for kv in job.options.items()]},
            "archiveFile": job.archive,
        }
        if job.kind == "backup":
            body["overwrite"] = job.overwrite
        return {job.kind: body}

    # The jobs' work -------------------------------------------------------

    def run(self, job):
        """Runs a job in the background: steps, then the outcome."""
        job.status = "STARTED"
        for _ in range(job.total):
            time.sleep(self.args.step_seconds)
            if job.cancel.is_set():
                job.status = "STOPPING"
                time.sleep(self.args.step_seconds)
                job.status = job.exit_code = "STOPPED"
                job.exit_description = "stopped on request"
                return
            job.done += 1
        outcome = self.args.outcome
        if job.kind == "restore" and self.failing_restores > 0:
            # --fail-restores: purge and half-apply, then fail, as a broken restore does.
            self.failing_restores -= 1
            try:
                self.apply_restore(job, half=True)
            except Exception:  # noqa: BLE001 - failing anyway
                pass
            job.done -= 1
            job.failure = "java.lang.RuntimeException: the double fails this restore as told (--fail-restores)"
            job.exit_description = job.failure + "\n\tat org.geoserver.backuprestore.Restore (the double)"
            job.status = job.exit_code = "FAILED"
            return
        if outcome == "COMPLETED":
            try:
                if job.kind == "backup":
                    self.write_backup(job)
                else:
                    self.apply_restore(job)
            except Exception as e:  # noqa: BLE001 - a failed job, as GeoServer reports it
                job.done -= 1
                job.failure = "%s: %s" % (type(e).__name__, e)
                job.exit_description = "%s\n\tat org.geoserver.backuprestore (the double)" % job.failure
                job.status = job.exit_code = "FAILED"
                return
            job.exit_description = ""
        elif outcome == "FAILED":
            job.done -= 1
            job.failure = "java.lang.RuntimeException: the double fails as told (--outcome FAILED)"
            job.exit_description = job.failure + "\n\tat org.geoserver.backuprestore.Backup (the double)"
        else:
            job.exit_description = "the double ends as told (--outcome %s)" % outcome
        job.status = job.exit_code = outcome

    def selected(self, job, name):
        """Whether an archive or data-dir path takes part in a job."""
        if any(name == p or name.startswith(p + "/") for p in job.excluded()):
            return False
        skip_settings = job.flag("BK_SKIP_SETTINGS")
        if name.startswith(CATALOG_DIRS):
            return True
        if name.startswith(GWC):
            return not job.flag("BK_SKIP_GWC")
        if name.startswith("security/"):
            # GeoServer's documentation: skipping settings skips security too.
            return not (job.flag("BK_SKIP_SECURITY") or skip_settings)
        if name.startswith(SETTINGS_DIRS) or ("/" not in name and name.endswith(".xml")):
            return not skip_settings
        return False

    def write_backup(self, job):
        root = self.args.data_dir
        if os.path.exists(job.archive) and not job.overwrite:
            raise FileExistsError("%s exists and overwrite is false" % job.archive)
        files = []
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, root).replace(os.sep, "/")
                if self.selected(job, relative):
                    files.append((relative, path))
        files.sort()
        objects = {kind: [] for kind in (
            "workspace", "namespace", "store", "resource", "layer", "layerGroup", "style")}
        index = {}
        param = job.flag("BK_PARAM_PASSWORDS")
        texts = {}
        for relative, path in files:
            with open(path, "rb") as f:
                data = f.read()
            if param and relative.endswith("datastore.xml"):
                data = tokenize_passwords(relative, data)
            texts[relative] = data
            parts = relative.split("/")
            base = parts[-1]
            kind = None
            if parts[0] == "workspaces" and len(parts) == 3 and base in ("workspace.xml", "namespace.xml"):
                kind = base[:-4]
                index.setdefault(parts[1], {})
            elif parts[0] == "workspaces" and len(parts) == 4 and base in ("datastore.xml", "coveragestore.xml"):
                kind = "store"
                index.setdefault(parts[1], {}).setdefault(parts[2], [])
            elif parts[0] == "workspaces" and len(parts) == 5 and base in ("featuretype.xml", "coverage.xml"):
                kind = "resource"
            elif parts[0] == "workspaces" and len(parts) == 5 and base == "layer.xml":
                kind = "layer"
                index.setdefault(parts[1], {}).setdefault(parts[2], []).append(parts[3])
            elif "layergroups" in parts[:-1] and base.endswith(".xml"):
                kind = "layerGroup"
            elif "styles" in parts[:-1] and base.endswith(".xml"):
                kind = "style"
            if kind:
                objects[kind].append(strip_prolog(data))
        directory = os.path.dirname(job.archive) or "."
        os.makedirs(directory, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".double-", suffix=".zip", dir=directory)
        os.close(fd)
        try:
            with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("br_index.xml", br_index(index))
                for kind, items in objects.items():
                    for n, start in enumerate(range(0, len(items), 1000), 1):
                        chunk = items[start:start + 1000]
                        body = b"".join(chunk)
                        z.writestr("%s.dat.%d" % (kind, n),
                                   b'<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>\n<items>\n'
                                   + body + b"</items>\n")
                for relative, data in texts.items():
                    z.writestr(relative, data)
            os.replace(temp, job.archive)
        finally:
            if os.path.exists(temp):
                os.remove(temp)

    def apply_restore(self, job, half=False):
        root = self.args.data_dir
        if not os.path.isfile(job.archive):
            raise FileNotFoundError("%s (No such file or directory)" % job.archive)
        tokens = {}
        if job.flag("BK_PARAM_PASSWORDS"):
            for pair in job.options.get("BK_PASSWORD_TOKENS", "").split(","):
                key, sep, value = pair.partition("=")
                if sep:
                    tokens[key] = value
        with zipfile.ZipFile(job.archive) as z:
            names = [n for n in z.namelist() if not n.endswith("/") and self.selected(job, n)]
            contents = {n: z.read(n) for n in names}
        if job.flag("BK_DRY_RUN"):
            return
        if job.flag("BK_PURGE_RESOURCES"):
            for folder in CATALOG_DIRS:
                path = os.path.join(root, folder)
                if os.path.isdir(path) and self.selected(job, folder.rstrip("/")):
                    shutil.rmtree(path)
        items = sorted(contents.items())
        for name, data in items[:len(items) // 2] if half else items:
            for token, value in tokens.items():
                data = data.replace(token.encode(), ("plain:" + value).encode())
            dest = os.path.join(root, *name.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(data)


def strip_prolog(data):
    data = data.lstrip()
    if data.startswith(b"<?xml"):
        data = data[data.index(b"?>") + 2:].lstrip()
    return data.rstrip() + b"\n"


def tokenize_passwords(relative, data):
    parts = relative.split("/")
    token = "${%s:%s.passwd.encryptedValue}" % (parts[1], parts[2])
    return re.sub(rb'(<entry key="passwd">)[^<]*(</entry>)',
                  lambda m: m.group(1) + token.encode() + m.group(2), data)


def br_index(index):
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<Index>"]
    for workspace in sorted(index):
        lines += ["  <Workspace>", "    <Name>%s</Name>" % workspace]
        for store in sorted(index[workspace]):
            lines += ["    <Store>", "      <Name>%s</Name>" % store]
            for layer in sorted(index[workspace][store]):
                lines += ["      <Layer>", "        <Name>%s</Name>" % layer, "      </Layer>"]
            lines.append("    </Store>")
        lines.append("  </Workspace>")
    lines.append("</Index>")
    return "\n".join(lines) + "\n"


def make_handler(double):
    args = double.args
    prefix = args.prefix.rstrip("/")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "geoserver-double"
        pending_log = None

        def log_message(self, fmt, *values):
            if args.verbose:
                sys.stderr.write("double: " + (fmt % values) + "\n")

        def answer(self, status, body=b"", content_type="application/json", headers=()):
            # The request is logged before its answer leaves: a client that
            # has read an answer and then asks for the log always finds it.
            if self.pending_log is not None:
                entry, self.pending_log = dict(self.pending_log, status=status), None
                with double.log_lock:
                    double.requests.append(entry)
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
                content_type = "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers:
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return status

        def do_GET(self):
            self.handle_any()

        def do_POST(self):
            self.handle_any()

        def do_PUT(self):
            self.handle_any()

        def do_DELETE(self):
            self.handle_any()

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            path = self.path.split("?", 1)[0]
            if path == "/__double/log":
                self.pending_log = None
                with double.lock, double.log_lock:
                    self.answer(200, {"requests": list(double.requests), "reloads": double.reloads,
                                      "resets": double.resets})
                return
            self.pending_log = {"method": self.command, "path": path, "body": body}
            self.route(path, body)

        def authorised(self):
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return False
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return user == args.user and password == args.password

        def route(self, path, body):
            if not path.startswith(prefix + "/rest/"):
                return self.answer(404, "No such page (this is a GeoServer test double)")
            rest = path[len(prefix) + len("/rest/"):].rstrip("/")
            with double.lock:
                if double.flaky_left > 0:
                    double.flaky_left -= 1
                    flaky = True
                else:
                    flaky = False
            if flaky:
                return self.answer(503, "the double is flaky as told (--flaky)")
            if not self.authorised():
                return self.answer(401, "HTTP 401: Unauthorized",
                                   headers=[("WWW-Authenticate", 'Basic realm="GeoServer Realm"')])
            method = self.command
            if rest == "about/version.json" and method == "GET":
                return self.answer(200, {"about": {"resource": [
                    {"@name": "GeoServer", "Build-Timestamp": "double",
                     "Version": args.version, "Git-Revision": "geoserver-double"},
                    {"@name": "GeoTools", "Version": "double"},
                    {"@name": "GeoWebCache", "Version": "double"},
                ]}})
            if rest in ("reload", "reset") and method in ("POST", "PUT"):
                with double.lock:
                    if rest == "reload":
                        double.reloads += 1
                        refused = double.reloads == args.refuse_reload
                    else:
                        double.resets += 1
                        refused = False
                if refused:
                    return self.answer(403, "the double refuses this reload as told (--refuse-reload)",
                                       content_type="text/plain")
                return self.answer(200)
            if rest.startswith("br/") and args.no_br:
                return self.answer(404, "No mapping for %s (no Backup & Restore module)" % path)
            m = re.fullmatch(r"br/(backup|restore)(\.json)?", rest)
            if m and method == "POST" and not m.group(2):
                return self.start(m.group(1), body)
            if m and method == "GET" and m.group(2):
                kind = m.group(1)
                with double.lock:
                    jobs = [{"name": str(j.id), "href": "%srest/br/%s/%d.json" % (double.base, kind, j.id)}
                            for j in double.jobs if j.kind == kind]
                return self.answer(200, {kind + "s": {kind: jobs}})
            m = re.fullmatch(r"br/(backup|restore)/(\d+)(\.json|\.zip)?", rest)
            if m:
                kind, job_id, suffix = m.group(1), int(m.group(2)), m.group(3)
                with double.lock:
                    job = next((j for j in double.jobs if j.kind == kind and j.id == job_id), None)
                if job is None:
                    return self.answer(404, "No such %s execution: %d" % (kind, job_id))
                if method == "GET" and suffix == ".json":
                    with double.lock:
                        return self.answer(200, double.execution(job))
                if method == "GET" and suffix == ".zip" and kind == "backup":
                    if job.status != "COMPLETED" or not os.path.isfile(job.archive):
                        return self.answer(404, "No archive for backup execution %d" % job_id)
                    with open(job.archive, "rb") as f:
                        return self.answer(200, f.read(), "application/zip")
                if method == "DELETE" and not suffix:
                    job.cancel.set()
                    with double.lock:
                        return self.answer(200, double.execution(job))
            return self.answer(405 if rest.startswith("br/") else 404,
                               "%s %s is not served by this GeoServer test double" % (method, path))

        def start(self, kind, body):
            request = body.get(kind) if isinstance(body, dict) else None
            if not isinstance(request, dict):
                return self.answer(400, "Request body must be {\"%s\": {...}}" % kind)
            archive = request.get("archiveFile")
            if not isinstance(archive, str) or not re.match(r"^(/|[A-Za-z]:[\\/])", archive):
                return self.answer(400, "archiveFile must be an absolute path")
            raw_options = (request.get("options") or {}).get("option") or []
            if isinstance(raw_options, str):
                raw_options = [raw_options]
            options = {}
            for option in raw_options:
                if not isinstance(option, str) or "=" not in option:
                    return self.answer(400, "Invalid option %r: options are KEY=value" % (option,))
                key, _, value = option.partition("=")
                options[key] = value
            overwrite = str(request.get("overwrite", "false")).lower() == "true"
            with double.lock:
                if double.running():
                    return self.answer(500, "java.lang.IllegalStateException: a backup or restore "
                                            "is already running (one at a time)")
                job = Job(len(double.jobs), kind, archive, options, overwrite, args.steps)
                double.jobs.append(job)
                execution = double.execution(job)
            threading.Thread(target=double.run, args=(job,), daemon=True).start()
            location = [("Location", "%srest/br/%s/%d" % (double.base, kind, job.id))]
            if args.post_status == 406:
                return self.answer(406, b"", headers=location)
            return self.answer(201, execution, headers=location)

    return Handler


def main():
    parser = argparse.ArgumentParser(
        description="A test double of GeoServer's REST API (not GeoServer): "
                    "about/version, reload, reset, and the Backup & Restore module's jobs.")
    parser.add_argument("--data-dir", required=True, help="the GeoServer data directory to serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--prefix", default="/geoserver", help="GeoServer's context path")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="geoserver",
                        help="the admin password (test data: it shows in the process list)")
    parser.add_argument("--version", default="2.27.4", help="the GeoServer version to report")
    parser.add_argument("--status-encoding", choices=("string", "array"), default="string",
                        help='"status":"STARTED", or older versions\' "status":["STARTED"]')
    parser.add_argument("--steps", type=int, default=4, help="steps per job")
    parser.add_argument("--step-seconds", type=float, default=0.05, help="how long each step takes")
    parser.add_argument("--outcome", default="COMPLETED",
                        choices=("COMPLETED", "FAILED", "STOPPED", "ABANDONED", "UNKNOWN"),
                        help="how every job ends")
    parser.add_argument("--refuse-reload", type=int, default=0,
                        help="answer the Nth reload with 403 (from 1; 0: none)")
    parser.add_argument("--fail-restores", type=int, default=0,
                        help="the first N restore jobs purge, apply half the archive, then fail")
    parser.add_argument("--flaky", type=int, default=0,
                        help="answer the first N REST requests with 503")
    parser.add_argument("--post-status", type=int, choices=(201, 406), default=201,
                        help="406: start jobs but answer without the execution, as some versions do")
    parser.add_argument("--no-br", action="store_true", help="no Backup & Restore module (404)")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = parser.parse_args()
    args.data_dir = os.path.abspath(args.data_dir)
    if not os.path.isdir(args.data_dir):
        parser.error("--data-dir %s is not a folder" % args.data_dir)

    double = Double(args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(double))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    double.base = "http://%s:%d%s/" % (host, port, args.prefix.rstrip("/"))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("READY " + double.base, flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    main()
