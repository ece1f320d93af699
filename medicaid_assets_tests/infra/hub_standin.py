"""A loopback stand-in for the Hugging Face Hub's HTTP API (what ``HfApi`` uses to create repos and commit).

Adapted from shared/design/infrastructure-notes.md §4 into a class: stdlib only, ``ThreadingHTTPServer`` on
127.0.0.1 and a free port, one thread. Routes: ``POST /api/repos/create`` (409 with ``url`` when the repo exists),
``POST /api/validate-yaml``, ``POST /api/{type}s/{repo}/preupload/{rev}`` (answers ``regular`` or ``lfs`` for
every file, per ``mode``), ``POST /api/{type}s/{repo}/commit/{rev}`` (NDJSON: base64 files and LFS pointers),
the legacy LFS batch API and its ``PUT`` target (with ``HF_HUB_DISABLE_XET=1`` on the client), and
``GET /api/{type}s/{repo}[/revision/{rev}]`` (repo info with its files). Committed files are written under
``store/repos/<type>/<owner>/<name>/``; every request is kept in ``requests`` (method, path, size, whether the
expected bearer token came with it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class HubStandIn:
    def __init__(self, store: Path, mode: str = "regular", token: str | None = None) -> None:
        self.store, self.mode, self.token = store, mode, token
        self.repos: dict[tuple[str, str], dict] = {}
        self.lfs_blobs: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.commits: list[dict] = []  # per commit: summary and the paths it added
        self.fail_commits_with: str | None = None  # answer commits with HTTP 500 and this message
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def files(self, repo_type: str, repo_id: str) -> dict[str, bytes]:
        """Every file committed to the repo (``repo_type``: models, datasets, spaces), by path."""
        root = self.store / "repos" / repo_type / repo_id
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    def __enter__(self) -> HubStandIn:
        self.store.mkdir(parents=True, exist_ok=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


def _handler(hub: HubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    n = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if n == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(n)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, code: int, obj: object = None, headers: dict | None = None) -> None:
            data = b"" if obj is None else json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _log(self, body: bytes) -> None:
            auth = self.headers.get("Authorization")
            with hub.lock:
                hub.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "bytes": len(body),
                        "authorized": hub.token is not None and auth == f"Bearer {hub.token}",
                    }
                )

        def _base(self) -> str:
            return f"http://{self.headers['Host']}"

        def do_GET(self) -> None:
            self._log(b"")
            m = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/?]+)(?:/revision/[^?]+)?(\?.*)?", self.path)
            if m and (m[1], m[2]) in hub.repos:
                repo = hub.repos[(m[1], m[2])]
                siblings = [{"rfilename": p} for p in repo["files"]]
                return self._send(200, {"id": m[2], "sha": repo["sha"], "siblings": siblings, "private": False})
            return self._send(404, {"error": "not found"}, {"X-Error-Code": "RepoNotFound"})

        def do_PUT(self) -> None:  # legacy-LFS "basic" upload target
            body = self._body()
            self._log(body)
            m = re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", self.path)
            if m and hashlib.sha256(body).hexdigest() == m[1]:
                hub.lfs_blobs[m[1]] = body
                return self._send(200, {})
            return self._send(400, {"error": "bad upload"})

        def do_POST(self) -> None:
            body = self._body()
            self._log(body)
            path = self.path.split("?")[0]
            if path == "/api/repos/create":
                d = json.loads(body)
                rtype = (d.get("type") or "model") + "s"
                repo_id = f"{d.get('organization') or 'user'}/{d['name']}"
                url = f"{self._base()}/{'' if rtype == 'models' else rtype + '/'}{repo_id}"
                if (rtype, repo_id) in hub.repos:
                    return self._send(409, {"error": "You already created this repo", "url": url})
                hub.repos[(rtype, repo_id)] = {"sha": "0" * 40, "files": {}, "private": bool(d.get("private"))}
                return self._send(200, {"url": url, "name": repo_id, "id": repo_id})
            if path == "/api/validate-yaml":
                return self._send(200, {"errors": [], "warnings": []})
            m = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/(preupload|commit)/(.+)", path)
            if m:
                return self._repo_call(m, body)
            m = re.fullmatch(r"/(?:(datasets|spaces)/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
            if m:
                objects = [
                    {
                        "oid": o["oid"],
                        "size": o["size"],
                        "actions": {"upload": {"href": f"{self._base()}/lfs-upload/{o['oid']}"}},
                    }
                    for o in json.loads(body)["objects"]
                ]
                return self._send(200, {"transfer": "basic", "objects": objects})
            return self._send(404, {"error": f"no route {path}"})

        def _repo_call(self, m: re.Match, body: bytes) -> None:
            key = (m[1], m[2])
            if key not in hub.repos:
                return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            if m[3] == "preupload":
                files = [
                    {"path": f["path"], "uploadMode": hub.mode, "shouldIgnore": False, "oid": None}
                    for f in json.loads(body)["files"]
                ]
                return self._send(200, {"files": files, "commitOid": hub.repos[key]["sha"]})
            if hub.fail_commits_with is not None:
                return self._send(500, {"error": hub.fail_commits_with})
            repo_dir = hub.store / "repos" / m[1] / m[2]
            commit = {"summary": None, "paths": []}
            for line in body.splitlines():  # NDJSON commit
                item = json.loads(line)
                value = item["value"]
                if item["key"] == "header":
                    commit["summary"] = value.get("summary")
                if item["key"] == "file":
                    data = base64.b64decode(value["content"])
                elif item["key"] == "lfsFile":
                    data = hub.lfs_blobs[value["oid"]]
                else:
                    continue
                dest = repo_dir / value["path"]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
                hub.repos[key]["files"][value["path"]] = hashlib.sha256(data).hexdigest()
                commit["paths"].append(value["path"])
            hub.commits.append(commit)
            sha = hashlib.sha1(json.dumps(hub.repos[key]["files"], sort_keys=True).encode()).hexdigest()
            hub.repos[key]["sha"] = sha
            prefix = "" if m[1] == "models" else m[1] + "/"
            return self._send(
                200,
                {
                    "success": True,
                    "commitOid": sha,
                    "pullRequestUrl": None,
                    "commitUrl": f"{self._base()}/{prefix}{m[2]}/commit/{sha}",
                },
            )

    return Handler


if __name__ == "__main__":  # python -m medicaid_assets_tests.infra.hub_standin STORE [regular|lfs]
    import sys
    import time

    with HubStandIn(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "regular") as hub:
        print(hub.url, flush=True)
        while True:
            time.sleep(3600)
