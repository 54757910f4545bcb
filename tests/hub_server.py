"""A loopback server that speaks as much of the Hugging Face hub's HTTP API as ``huggingface_hub``
uses to download: file metadata and content (HEAD/GET ``/{datasets/}{repo}/resolve/{revision}/{file}``
with ``ETag``, ``X-Repo-Commit`` and ``Content-Length``), repo info with file sizes
(``/api/{models,datasets}/{repo}[/revision/{revision}]``) and the file tree (``/api/.../tree/...``).

A repo is a folder ``<root>/<models|datasets>/<owner>/<name>/``, read on every request, so a test
may edit files between requests; its commit id is a digest of its files, so an edit is a new commit.
"""

from __future__ import annotations

import hashlib
import json
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlparse

from loopback import LoopbackServer

_RESOLVE = re.compile(r"^/(?:(datasets)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_API = re.compile(r"^/api/(models|datasets)/([^/]+/[^/]+)(?:/(revision|tree)/([^/]+))?$")


def repo_listing(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def commit_of(files: dict[str, bytes]) -> str:
    digest = hashlib.sha1()
    for name, content in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


class LocalHub(LoopbackServer):
    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.requests.append(f"HEAD {self.path}")
                self._resolve(body=False)

            def do_GET(self):
                hub.requests.append(f"GET {self.path}")
                path = unquote(urlparse(self.path).path)
                if path.startswith("/api/"):
                    self._api(path)
                else:
                    self._resolve(body=True)

            def _send(self, status, body: bytes, headers=None, with_body=True):
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def _not_found(self, code, with_body=True):
                self._send(404, json.dumps({"error": code}).encode(), {"X-Error-Code": code}, with_body)

            def _resolve(self, body):
                match = _RESOLVE.match(unquote(urlparse(self.path).path))
                folder = match and hub.repo_folder("datasets" if match.group(1) else "models", match.group(2))
                if folder is None:
                    return self._not_found("RepoNotFound", body)
                files = repo_listing(folder)
                content = files.get(match.group(4))
                if content is None:
                    return self._not_found("EntryNotFound", body)
                headers = {"ETag": f'"{hashlib.sha256(content).hexdigest()}"', "X-Repo-Commit": commit_of(files)}
                self._send(200, content, headers, body)

            def _api(self, path):
                match = _API.match(path)
                folder = match and hub.repo_folder(match.group(1), match.group(2))
                if folder is None:
                    return self._not_found("RepoNotFound")
                files = repo_listing(folder)
                if match.group(3) in (None, "revision"):
                    siblings = [{"rfilename": name, "size": len(content)} for name, content in files.items()]
                    answer = {"id": match.group(2), "sha": commit_of(files), "siblings": siblings}
                else:
                    answer = [{"type": "file", "path": name, "size": len(content),
                               "oid": hashlib.sha1(content).hexdigest()} for name, content in files.items()]
                self._send(200, json.dumps(answer).encode(), {"Content-Type": "application/json"})

        self.serve(Handler)

    def repo_folder(self, kind: str, repo: str) -> Path | None:
        folder = self.root / kind / repo
        return folder if folder.is_dir() else None

    def add(self, kind: str, repo: str) -> Path:
        """The folder of a new repo (``kind`` models or datasets) for the test to fill."""
        folder = self.root / kind / repo
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"
