"""Real storage servers for the tests, on 127.0.0.1 only: moto's S3 server and a static
HTTP server that answers range requests (as web servers and object stores do)."""

from __future__ import annotations

import functools
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["SECRET", "http_server", "s3_server", "s3_server_checking_credentials"]

# A secret access key that must never show up in a store, a summary or a message.
SECRET = "sEcReT-do-not-print-42"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def s3_server() -> Iterator[dict[str, Any]]:
    """moto's S3 server on a free port; yields the s3fs storage options that reach it."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {
            "endpoint_url": f"http://127.0.0.1:{port}",
            "key": "testing",
            "secret": SECRET,
        }
    finally:
        server.stop()


@contextmanager
def s3_server_checking_credentials() -> Iterator[dict[str, Any]]:
    """moto's S3 server in a process of its own that checks every request's credentials
    (moto's IAM authentication from the first request on), so any key it has not issued is
    refused with 403, as a real object store refuses wrong credentials; yields the s3fs
    storage options of such a key."""
    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    start = "from moto.server import main; main()"
    argv = [sys.executable, "-c", start, "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield {"endpoint_url": f"http://127.0.0.1:{port}", "key": "not-issued", "secret": SECRET}
    finally:
        server.terminate()
        server.wait(30)


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, with ``Range: bytes=a-b`` answered by 206 Partial Content; the bytes
    of file data sent are added up in ``served`` (by file path)."""

    def __init__(self, *args: Any, served: dict[str, int], **kwargs: Any) -> None:
        self.served = served
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def send_head(self) -> Any:
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if m is None or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start, end = int(m.group(1)), min(int(m.group(2) or size - 1), size - 1)
        f = open(path, "rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._left = end - start + 1
        return f

    def copyfile(self, source: Any, outputfile: Any) -> None:
        left = getattr(self, "_left", None)
        data = source.read() if left is None else source.read(left)
        outputfile.write(data)
        path = self.path.split("?", 1)[0]
        self.served[path] = self.served.get(path, 0) + len(data)
        self._left = None


@contextmanager
def http_server(folder: Path, served: dict[str, int] | None = None) -> Iterator[str]:
    """A plain HTTP server of ``folder`` on a free port; yields its base URL. ``served``
    receives the bytes of file data sent, by path ("/in.tif")."""
    counts = {} if served is None else served
    handler = functools.partial(_RangeHandler, directory=str(folder), served=counts)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
