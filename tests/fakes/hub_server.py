"""A loopback server that speaks as much of the Hugging Face hub's HTTP API as ``huggingface_hub``
uses to download: file metadata and content (HEAD/GET ``/{datasets/}{repo}/resolve/{revision}/{file}``
with ``ETag``, ``X-Repo-Commit`` and ``Content-Length``), repo info with file sizes
(``/api/{models,datasets}/{repo}[/revision/{revision}]``) and the file tree (``/api/.../tree/{revision}[/{path}]``).

Like the hub, it answers only the revisions a repo holds: a commit sha it holds, or a branch it was told
points at one. Any other revision gets the hub's 404 with ``X-Error-Code: RevisionNotFound``, which
``huggingface_hub`` raises as ``RevisionNotFoundError``.

A repo holds one or more commits, each a folder read on every request, so a test may edit files between
requests. ``add(kind, repo)`` gives a commit whose id is a digest of its folder's files (an edit is a new
commit) on branch ``main``; ``add(kind, repo, commit=sha, branches=...)`` holds the folder at a fixed sha,
e.g. the revision a config pins, on the branches named (none: reachable by its sha only).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlparse

from fakes.loopback import LoopbackServer

# Matched on the raw path: huggingface_hub quotes a revision with '/' (refs/pr/1) as one segment.
_RESOLVE = re.compile(r"^/(?:(datasets)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_API = re.compile(r"^/api/(models|datasets)/([^/]+/[^/]+)(?:/(revision|tree)/([^/]+)(?:/(.+))?)?$")
DEFAULT_BRANCH = "main"


def repo_listing(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def commit_of(files: dict[str, bytes]) -> str:
    digest = hashlib.sha1()
    for name, content in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class HeldCommit:
    folder: Path
    sha: str | None  # None: the digest of the folder's files at the time of the request
    branches: tuple[str, ...]

    def resolve(self, revision: str) -> tuple[str, dict[str, bytes]] | None:
        """The commit id and files when ``revision`` names this commit (its sha or one of its branches)."""
        files = repo_listing(self.folder)
        sha = self.sha or commit_of(files)
        return (sha, files) if revision == sha or revision in self.branches else None


class LocalHub(LoopbackServer):
    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[str] = []
        self.repos: dict[tuple[str, str], list[HeldCommit]] = {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.requests.append(f"HEAD {self.path}")
                self._resolve(body=False)

            def do_GET(self):
                hub.requests.append(f"GET {self.path}")
                path = urlparse(self.path).path
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

            def _not_found(self, code, message, with_body=True, headers=None):
                """The hub's error shape: the code and message in headers, the message in a JSON body."""
                self._send(404, json.dumps({"error": message}).encode(),
                           {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json",
                            **(headers or {})}, with_body)

            def _held(self, kind, repo, revision, with_body=True):
                """The commit and files ``revision`` names, or None after answering 404."""
                if (kind, repo) not in hub.repos:
                    self._not_found("RepoNotFound", "Repository not found", with_body)
                    return None
                held = hub.resolve(kind, repo, revision)
                if held is None:
                    self._not_found("RevisionNotFound", f"Invalid rev id: {revision}", with_body)
                return held

            def _resolve(self, body):
                match = _RESOLVE.match(urlparse(self.path).path)
                if match is None:
                    return self._not_found("RepoNotFound", "Repository not found", body)
                kind = "datasets" if match.group(1) else "models"
                held = self._held(kind, unquote(match.group(2)), unquote(match.group(3)), body)
                if held is None:
                    return
                sha, files = held
                content = files.get(unquote(match.group(4)))
                if content is None:  # the hub names the commit even here; huggingface_hub caches the absence
                    return self._not_found("EntryNotFound", "Entry not found", body, {"X-Repo-Commit": sha})
                headers = {"ETag": f'"{hashlib.sha256(content).hexdigest()}"', "X-Repo-Commit": sha}
                self._send(200, content, headers, body)

            def _api(self, path):
                match = _API.match(path)
                if match is None:
                    return self._not_found("RepoNotFound", "Repository not found")
                kind, repo, what = match.group(1), unquote(match.group(2)), match.group(3)
                held = self._held(kind, repo, unquote(match.group(4) or DEFAULT_BRANCH))
                if held is None:
                    return
                sha, files = held
                if what in (None, "revision"):
                    siblings = [{"rfilename": name, "size": len(content)} for name, content in files.items()]
                    answer = {"id": repo, "sha": sha, "siblings": siblings}
                else:
                    prefix = unquote(match.group(5) or "").strip("/")
                    answer = [{"type": "file", "path": name, "size": len(content),
                               "oid": hashlib.sha1(content).hexdigest()} for name, content in files.items()
                              if not prefix or name.startswith(prefix + "/")]
                self._send(200, json.dumps(answer).encode(), {"Content-Type": "application/json"})

        self.serve(Handler)

    def resolve(self, kind: str, repo: str, revision: str) -> tuple[str, dict[str, bytes]] | None:
        """The commit id and files that ``revision`` of the repo names, or None where it holds no such revision."""
        return next((held for commit in self.repos.get((kind, repo), []) if (held := commit.resolve(revision))), None)

    def add(self, kind: str, repo: str, *, commit: str | None = None,
            branches: tuple[str, ...] | None = None) -> Path:
        """The folder of a commit of a repo (``kind`` models or datasets) for the test to fill.

        Without ``commit``, the commit's id is the digest of its files and ``branches`` defaults to main;
        with ``commit``, the folder is held at that sha, on ``branches`` (default none). A branch names
        the commit added last with it."""
        folder = self.root / kind / (repo if commit is None else f"{repo}@{commit}")
        folder.mkdir(parents=True, exist_ok=True)
        branches = tuple(branches if branches is not None else (() if commit else (DEFAULT_BRANCH,)))
        held = self.repos.setdefault((kind, repo), [])
        held[:] = [HeldCommit(c.folder, c.sha, tuple(b for b in c.branches if b not in branches)) for c in held]
        held.insert(0, HeldCommit(folder, commit, branches))
        return folder

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"
