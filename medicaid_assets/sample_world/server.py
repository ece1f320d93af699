"""One loopback HTTP server for a generated sample world: static files, both API emulators, faults.

Real ``https://host/path`` is served at ``/host/path`` (see :mod:`urls`). The server only routes: the
answers come from the pure modules (:mod:`npi_api`, :mod:`hcpcs_api`, ``nppes_files``). Control
routes under ``/_world/`` let tests and the CLI read the request log, inject faults deterministically
(from a seed and the request sequence number) and choose how many weekly NPPES bundles are published.
"""

from __future__ import annotations

import json
import mimetypes
import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from email.message import Message
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from medicaid_assets.sample_world.hcpcs_api import HcpcsQueryError, hcpcs_api_response, query_codes
from medicaid_assets.sample_world.npi_api import npi_api_response
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import CMS_HOST, disk_path
from medicaid_assets.settings import DEFAULT_HCPCS_API_URL, DEFAULT_NPI_API_URL, DEFAULT_NPPES_FILES_PAGE_URL

NPI_PATH = f"/{disk_path(DEFAULT_NPI_API_URL)}"
HCPCS_PATH = f"/{disk_path(DEFAULT_HCPCS_API_URL)}"
FILES_PAGE_PATH = f"/{disk_path(DEFAULT_NPPES_FILES_PAGE_URL)}"
CONTROL_PREFIX = "/_world/"
CHUNK = 1 << 20
FAULT_KINDS = ("429", "500", "503", "slow", "drop", "truncate", "nonjson")
# Hostile answers (never in the default mix): a body past any sane size, JSON nested past any parser's depth,
# bytes that are not UTF-8 under a JSON content type, a redirect to a non-http(s) scheme.
HOSTILE_KINDS = ("huge", "nested", "garbage", "redirect")
SCOPES = {"api": {"npi", "hcpcs"}, "files": {"files", "page"}, "all": {"npi", "hcpcs", "files", "page"}}
ERROR_PAGE = b"<html><head><title>Error</title></head><body><h1>Service temporarily unavailable</h1></body></html>"
FAULT_STATUS = {
    "429": (429, b"Too Many Requests"),
    "500": (500, b"Internal Server Error"),
    "503": (503, b"Service Unavailable"),
}
ROOT_RELATIVE_HOST = CMS_HOST
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class Faults:
    """Fault injection settings: ``rate`` of in-``scope`` requests get one of ``kinds``."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    scope: str = "api"
    seed: int = 1
    slow_seconds: float = 5.0
    huge_bytes: int = 64 * 1024**2

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate must be in [0, 1], got {self.rate}")
        if not self.kinds or set(self.kinds) - set(FAULT_KINDS) - set(HOSTILE_KINDS):
            raise ValueError(f"kinds must be a non-empty subset of {FAULT_KINDS + HOSTILE_KINDS}, got {self.kinds}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {tuple(SCOPES)}, got {self.scope!r}")

    def pick(self, seq: int, api: str) -> str | None:
        """The fault for request ``seq`` (same seed and order → same faults), or None."""
        if not self.rate or api not in SCOPES[self.scope]:
            return None
        rng = random.Random(self.seed * 1_000_003 + seq)
        return rng.choice(self.kinds) if rng.random() < self.rate else None


@dataclass
class _Reply:
    """A response to send: an in-memory body, or ``length`` bytes of ``file`` from ``start``."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: Path | None = None
    start: int = 0
    length: int = 0

    @classmethod
    def of(cls, status: int, body: bytes, content_type: str, **headers: str) -> _Reply:
        return cls(status, {"Content-Type": content_type, **headers}, body, length=len(body))

    @classmethod
    def json(cls, payload: object, status: int = 200) -> _Reply:
        return cls.of(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json")


class _World:
    """What the handler threads share: the spec, the files root, faults, and the request log."""

    def __init__(self, world_dir: Path, request_log: Path | None) -> None:
        self.files_root = (world_dir / "files").resolve()
        self.spec = WorldSpec(**json.loads((world_dir / "world.json").read_text())["spec"])
        self.request_log = request_log
        self.faults = Faults()
        self.faults_since = 0  # sequence number when faults were set: they count requests from there
        self.published_weeklies: int | None = None
        self.expired_tocs = 0  # the next this many payer ToCs hand out links already expired
        self._lock = threading.Condition()
        self._seq = 0
        self._log: list[dict] = []
        self._sending: set[int] = set()  # entries logged with their status whose body is still going out

    def set_faults(self, faults: Faults) -> None:
        """Switch faults; the same setting then hits the same requests whatever came before it."""
        with self._lock:
            self.faults, self.faults_since = faults, self._seq

    def take_expired_toc(self) -> bool:
        with self._lock:
            taken, self.expired_tocs = self.expired_tocs > 0, max(0, self.expired_tocs - 1)
            return taken

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def answering(self, entry: dict) -> None:
        """Log a request once its status is known, before its body goes out.

        A client can have read the whole body before the handler's thread runs again, so an entry logged
        only after sending could be missing from a log read right after the client's call returned.
        """
        with self._lock:
            self._log.append(entry)
            self._sending.add(entry["seq"])

    def record(self, entry: dict) -> None:
        """The request is done: its byte count is final (entries never answered are logged here)."""
        with self._lock:
            if entry["seq"] in self._sending:
                self._sending.discard(entry["seq"])
            else:
                self._log.append(entry)
            self._lock.notify_all()
            if self.request_log is not None:
                with self.request_log.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def entries(self) -> list[dict]:
        """The log in arrival order, after the bodies still being sent are out (so byte counts are final)."""
        with self._lock:
            self._lock.wait_for(lambda: not self._sending, timeout=5.0)
            return sorted((dict(e) for e in self._log), key=lambda e: e["seq"])

    def clear(self) -> int:
        with self._lock:
            n = len(self._log)
            self._log.clear()
            return n


class _RangeNotSatisfiable(Exception):
    pass


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a single ``bytes=`` range; None to ignore the header (RFC 9110)."""
    m = _RANGE.fullmatch(header.strip())
    if not m or not (m.group(1) or m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:
        if int(last) == 0 or size == 0:
            raise _RangeNotSatisfiable
        return max(0, size - int(last)), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise _RangeNotSatisfiable
    return start, min(int(last), size - 1) if last else size - 1


def _content_type(path: Path) -> str:
    if not path.suffix:  # the CMS index page has no extension
        return "text/html; charset=utf-8"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _file_reply(root: Path, rel: str, headers: Message) -> _Reply:
    """A static file with validators and single-range support; 403 outside ``root``, 404 if missing."""
    target = (root / rel.lstrip("/")).resolve()
    if not target.is_relative_to(root):
        return _Reply.of(403, b"Forbidden", "text/plain")
    if not target.exists() and (root / ROOT_RELATIVE_HOST / rel.lstrip("/")).resolve().is_relative_to(root):
        # A root-relative link (``/files/zip/x.zip``, as the real CMS page has) resolved against a
        # local page URL loses its host folder; serve it from the host that publishes such links.
        target = (root / ROOT_RELATIVE_HOST / rel.lstrip("/")).resolve()
    if not target.is_file():
        return _Reply.of(404, b"Not Found", "text/plain")
    st = target.stat()
    etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
    validators = {"ETag": etag, "Last-Modified": formatdate(st.st_mtime, usegmt=True), "Accept-Ranges": "bytes"}
    none_match = headers.get("If-None-Match")
    if none_match and ({t.strip().removeprefix("W/") for t in none_match.split(",")} & {etag, "*"}):
        return _Reply(304, validators)
    base = {"Content-Type": _content_type(target), **validators}
    if_range = headers.get("If-Range")
    range_header = headers.get("Range")
    if range_header and if_range in (None, etag, validators["Last-Modified"]):
        try:
            span = _byte_range(range_header, st.st_size)
        except _RangeNotSatisfiable:
            return _Reply.of(416, b"", "text/plain", **{"Content-Range": f"bytes */{st.st_size}"})
        if span:
            start, end = span
            base["Content-Range"] = f"bytes {start}-{end}/{st.st_size}"
            return _Reply(206, base, file=target, start=start, length=end - start + 1)
    return _Reply(200, base, file=target, length=st.st_size)


def _fault_reply(kind: str, huge_bytes: int = 0) -> _Reply:
    if kind == "nonjson":
        return _Reply.of(200, ERROR_PAGE, "text/html")
    if kind == "huge":
        pad = max(0, huge_bytes - 40)
        return _Reply.of(200, b'{"result_count": 1, "results": [{"x": "' + b"x" * pad + b'"}]}', "application/json")
    if kind == "nested":
        return _Reply.of(200, b"[" * 100_000 + b"]" * 100_000, "application/json")
    if kind == "garbage":
        return _Reply.of(200, b'{"result_count": \xff\xfe\x80 "results": [\xc3\x28]}', "application/json")
    if kind == "redirect":
        return _Reply.of(302, b"", "text/plain", Location="file:///etc/passwd")
    status, body = FAULT_STATUS[kind]
    extra = {"Retry-After": "1"} if kind == "429" else {}
    return _Reply.of(status, body, "text/plain", **extra)


def _api_of(path: str) -> str:
    if path.rstrip("/") == NPI_PATH:
        return "npi"
    if path == HCPCS_PATH:
        return "hcpcs"
    return "page" if path == FILES_PAGE_PATH else "files"


def _identifiers(api: str, query: dict[str, str]) -> str | list[str] | None:
    if api == "npi":
        return query.get("number")
    if api == "hcpcs":
        try:
            return query_codes(query.get("q", ""))
        except HcpcsQueryError:
            return None
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], world: _World) -> None:
        self.world = world
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections give their thread back eventually
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body waits for the client's
    # delayed ACK of the headers (~40 ms), which capped a keep-alive connection at ~25 answers a second.
    disable_nagle_algorithm = True
    server: _Server
    body_bytes_sent = 0

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request log replaces the stderr access lines."""

    def _route(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path.startswith(CONTROL_PREFIX):
            self._send(self._control(path[len(CONTROL_PREFIX) :]))
        elif self.command not in ("GET", "HEAD"):
            self.close_connection = True  # any request body stays unread
            self._send(_Reply.of(405, b"Method Not Allowed", "text/plain", Allow="GET, HEAD"))
        else:
            self._serve(path, dict(parse_qsl(url.query, keep_blank_values=True)))

    do_GET = do_HEAD = do_PUT = do_DELETE = _route

    # -- world routes ----------------------------------------------------------------------
    def _serve(self, path: str, query: dict[str, str]) -> None:
        world = self.server.world
        api = _api_of(path)
        seq = world.next_seq()
        faults = world.faults
        fault = faults.pick(seq - world.faults_since, api) if api in SCOPES["api"] or self.command == "GET" else None
        entry = {
            "seq": seq,
            "time": time.time(),
            "method": self.command,
            "path": path,
            "query": query,
            "status": None,
            "fault": fault,
            "api": api,
            "identifiers": _identifiers(api, query),
            "bytes": 0,
            "range": self.headers.get("Range"),
        }
        self.body_bytes_sent = 0
        try:
            if fault == "drop":
                self.close_connection = True
                return
            if fault in ("429", "500", "503", "nonjson", *HOSTILE_KINDS):
                reply = _fault_reply(fault, faults.huge_bytes)
            else:
                if fault == "slow":
                    time.sleep(faults.slow_seconds)
                reply = self._answer(api, path, query)
            entry["status"] = reply.status
            world.answering(entry)
            self._send(reply, truncate=fault == "truncate")
        except (ConnectionError, TimeoutError):  # the client went away (e.g. timed out during a slow fault)
            self.close_connection = True
        finally:
            entry["bytes"] = self.body_bytes_sent
            world.record(entry)

    def _answer(self, api: str, path: str, query: dict[str, str]) -> _Reply:
        world = self.server.world
        if api == "npi":
            return _Reply.json(npi_api_response(world.spec, query))
        if api == "hcpcs":
            try:
                return _Reply.json(hcpcs_api_response(world.spec, query))
            except HcpcsQueryError as exc:
                return _Reply.of(400, str(exc).encode(), "text/plain")
        if api == "page":
            # Imported when asked, so the server imports without the NPPES writers.
            from medicaid_assets.sample_world.nppes_files import render_files_page

            page = render_files_page(world.spec, world.published_weeklies)
            return _Reply.of(200, page.encode(), "text/html; charset=utf-8")
        if "Expires" in query or path.endswith("_index.json"):
            # Imported when asked, like the NPPES page: signed links expire, ToCs hand out fresh ones.
            from medicaid_assets.sample_world.price_transparency import signed_reply

            signed = signed_reply(
                world.files_root, path, query, f"http://{self.headers.get('Host', '')}", world.take_expired_toc
            )
            if signed is not None:
                return _Reply.of(*signed)
        return _file_reply(world.files_root, path, self.headers)

    # -- control routes --------------------------------------------------------------------
    def _control(self, route: str) -> _Reply:
        world = self.server.world
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            match (self.command, route):
                case ("GET", "requests"):
                    return _Reply.json(world.entries())
                case ("DELETE", "requests"):
                    return _Reply.json({"cleared": world.clear()})
                case ("PUT", "faults"):
                    data = json.loads(body or b"{}")
                    world.set_faults(Faults(**{**data, "kinds": tuple(data.get("kinds", FAULT_KINDS))}))
                    return _Reply.json(asdict(world.faults))
                case ("DELETE", "faults"):
                    world.set_faults(Faults())
                    return _Reply.json(asdict(world.faults))
                case ("PUT", "nppes"):
                    n = json.loads(body or b"{}").get("published_weeklies")
                    if n is not None and (not isinstance(n, int) or n < 0):
                        raise ValueError(f"published_weeklies must be a non-negative integer or null, got {n!r}")
                    world.published_weeklies = n
                    return _Reply.json({"published_weeklies": n})
                case ("PUT", "signed_links"):
                    n = json.loads(body or b"{}").get("expired_tocs", 0)
                    if not isinstance(n, int) or n < 0:
                        raise ValueError(f"expired_tocs must be a non-negative integer, got {n!r}")
                    world.expired_tocs = n
                    return _Reply.json({"expired_tocs": n})
        except (ValueError, TypeError) as exc:  # bad JSON or settings
            return _Reply.of(400, str(exc).encode(), "text/plain")
        return _Reply.of(404, f"no control route {self.command} {route}".encode(), "text/plain")

    # -- sending ---------------------------------------------------------------------------
    def _send(self, reply: _Reply, truncate: bool = False) -> None:
        """Send ``reply``, counting body bytes in ``body_bytes_sent``; ``truncate`` stops halfway and closes."""
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status != 304:
            self.send_header("Content-Length", str(reply.length))
        self.end_headers()
        if self.command == "HEAD" or reply.status == 304:
            return
        limit = reply.length // 2 if truncate else reply.length
        if truncate:
            self.close_connection = True
        if reply.file is None:
            self.wfile.write(reply.body[:limit])
            self.body_bytes_sent += limit
            return
        with reply.file.open("rb") as fh:
            fh.seek(reply.start)
            left = limit
            while left and (chunk := fh.read(min(CHUNK, left))):
                self.wfile.write(chunk)
                self.body_bytes_sent += len(chunk)
                left -= len(chunk)


class WorldServer:
    """The sample-world server on ``host:port`` (0 = a free port), run in a background thread."""

    def __init__(
        self, world_dir: Path, host: str = "127.0.0.1", port: int = 0, request_log: Path | None = None
    ) -> None:
        self.world = _World(Path(world_dir), request_log)
        self._address = (host, port)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> WorldServer:
        self._httpd = _Server(self._address, self.world)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sample-world-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> WorldServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class WorldControl:
    """Client of the ``/_world/`` control routes of a running :class:`WorldServer`."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, route: str, payload: object = None) -> object:
        response = httpx.request(method, f"{self.base_url}{CONTROL_PREFIX}{route}", json=payload, timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def requests(self) -> list[dict]:
        return self._call("GET", "requests")  # type: ignore[return-value]

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def set_faults(
        self,
        rate: float,
        kinds: Sequence[str] = FAULT_KINDS,
        scope: str = "api",
        seed: int = 1,
        slow_seconds: float = 5.0,
        huge_bytes: int | None = None,
    ) -> None:
        payload = {"rate": rate, "kinds": list(kinds), "scope": scope, "seed": seed, "slow_seconds": slow_seconds}
        if huge_bytes is not None:
            payload["huge_bytes"] = huge_bytes
        self._call("PUT", "faults", payload)

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def expire_signed_links(self, tocs: int) -> None:
        """The next ``tocs`` payer ToCs fetched hand out signed links that have already expired (a slow reader, or a
        payer whose clock runs ahead); later ones are valid again."""
        self._call("PUT", "signed_links", {"expired_tocs": tocs})

    def publish_weeklies(self, n: int | None) -> None:
        """List only the ``n`` oldest weekly bundles on the NPPES files page (None = all)."""
        self._call("PUT", "nppes", {"published_weeklies": n})
