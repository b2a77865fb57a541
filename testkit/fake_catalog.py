"""A tiny real HTTP server in a thread that answers like the catalog service's read API
(for the admin's tests: fixture ``fake_catalog``).

Not a mock of the broker or a database: the admin's real HTTP client talks to a
real socket. Tests set what the catalog "holds" and read which requests it got.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from sync_contract.checksums import checksum, row_hash, step_of


class FakeCatalog:
    def __init__(self) -> None:
        self.rows: dict[int, tuple[int, bool]] = {}  # product_id -> (version, deleted)
        self.products: dict[int, dict[str, Any]] = {}  # product_id -> public data of live rows
        self.lag: dict[str, Any] = {
            "minutes": 15,
            "count": 0,
            "p50_seconds": None,
            "p95_seconds": None,
            "max_seconds": None,
            "series": [],
        }
        self.delay = 0.0
        self.requests: list[str] = []
        # /api/sync/* answer 401 without "Authorization: Bearer <token>" (None: no check).
        self.token: str | None = None
        # path (without the query) -> the body answered instead (a malformed catalog, say).
        self.answers: dict[str, Any] = {}
        catalog = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                catalog.requests.append(self.path)
                if catalog.delay:
                    time.sleep(catalog.delay)
                if catalog.token is not None and self.path.startswith("/api/sync/"):
                    if self.headers.get("Authorization") != f"Bearer {catalog.token}":
                        status, body = 401, {"detail": "Authentication credentials were not provided."}
                    else:
                        status, body = catalog.answer(self.path)
                else:
                    status, body = catalog.answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def hold(self, product_id: int, version: int, *, deleted: bool = False, data: dict[str, Any] | None = None) -> None:
        self.rows[product_id] = (version, deleted)
        if data is not None:
            self.products[product_id] = data

    def answer(self, path: str) -> tuple[int, Any]:
        url = urlparse(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path in self.answers:
            return 200, self.answers[url.path]
        if url.path == "/api/sync/versions/":
            if "ids" in query:
                ids = sorted(int(i) for i in query["ids"].split(","))
                return 200, {"products": [self._row(i) for i in ids if i in self.rows]}
            after, limit = int(query.get("after", 0)), int(query.get("limit", 1000))
            before = int(query.get("before", 2**63 - 1))
            ids = [i for i in sorted(self.rows) if after < i < before][:limit]
            return 200, {"products": [self._row(i) for i in ids], "next_after": ids[-1] if len(ids) == limit else None}
        if url.path == "/api/sync/checksums/":
            return 200, self._checksums(int(query.get("lo", 0)), int(query["hi"]), int(query.get("parts", 1)))
        if url.path == "/api/sync/lag/":
            return 200, self.lag
        if url.path.startswith("/api/products/"):
            pid = int(url.path.rstrip("/").rsplit("/", 1)[-1])
            if pid in self.products and not self.rows.get(pid, (0, True))[1]:
                return 200, {"id": pid, **self.products[pid]}
            return 404, {"detail": "Not found."}
        return 404, {"detail": "Not found."}

    def _checksums(self, lo: int, hi: int, parts: int) -> dict[str, Any]:
        """What the catalog's SQL computes, by the contract's Python twin of it."""
        step = step_of(lo, hi, parts)
        sums: dict[int, list[int]] = {}
        for pid, (version, deleted) in self.rows.items():
            if lo <= pid < hi and not deleted:
                s = sums.setdefault((pid - lo) // step, [0, 0, 0])
                s[0], s[1], s[2] = s[0] + 1, s[1] + version, s[2] + row_hash(pid, version)
        return {
            "parts": [
                {"lo": lo + p * step, "hi": min(hi, lo + (p + 1) * step), "rows": s[0], "checksum": checksum(*s)}
                for p, s in sorted(sums.items())
            ],
            "max_id": max(self.rows, default=None),
        }

    def _row(self, pid: int) -> dict[str, Any]:
        version, deleted = self.rows[pid]
        return {"id": pid, "version": version, "deleted": deleted}

    def start(self) -> FakeCatalog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
