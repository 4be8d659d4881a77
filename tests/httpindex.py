"""A PEP 503 index served over HTTP on 127.0.0.1, for what file:// indexes cannot show:
uv's HTTP cache (pages revalidated or stale), credentials, Range requests, cut downloads."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path


class Files(http.server.BaseHTTPRequestHandler):
    """Serves a folder as a PEP 503 index with Range support; can cut one download short."""

    root: Path
    cut: dict[str, int]  # file name → bytes to send before dropping the connection, once
    slow: dict[str, float]  # file name → seconds to wait after each 64 KiB (a slow link)
    requests: list[tuple[str, str | None]]

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        path = self.root / urllib.parse.unquote(self.path.lstrip("/").split("?")[0])
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if not head:
            self.requests.append((path.name, self.headers.get("Range")))
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "text/html" if path.suffix == ".html" else "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        limit = self.cut.pop(path.name, None)
        try:
            if limit is not None:
                self.wfile.write(body[:limit])
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            pause = self.slow.get(path.name)
            for at in range(0, len(body), 65536) if pause else ():
                self.wfile.write(body[at : at + 65536])
                self.wfile.flush()
                time.sleep(pause or 0)
            if not pause:
                self.wfile.write(body)
        except OSError:  # the client went away
            pass


def write_page(root: Path, project: str, wheels: list[Path]) -> None:
    """``root/simple/<project>/index.html`` linking to wheels under ``root/files``."""
    page = root / "simple" / project
    page.mkdir(parents=True, exist_ok=True)
    links = []
    for w in sorted(wheels):
        sha = hashlib.sha256(w.read_bytes()).hexdigest()
        # quoted, as PyTorch's index writes torch-2.8.0%2Bcu128-…: the file name is the unquoted one
        links.append(f'<a href="../../files/{urllib.parse.quote(w.name)}#sha256={sha}">{w.name}</a><br/>')
    (page / "index.html").write_text("\n".join(links) + "\n")


@contextlib.contextmanager
def serve(root: Path) -> Iterator[tuple[str, type[Files], http.server.ThreadingHTTPServer]]:
    """Serve ``root`` on a free port of 127.0.0.1; yields its URL, handler class, server."""
    handler = type("Handler", (Files,), {"root": root, "cut": {}, "slow": {}, "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler, server
    finally:
        server.shutdown()
        server.server_close()
