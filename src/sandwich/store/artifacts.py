"""The artifact store: every cached intermediate, stored by content key.

Layout under the store root (``$SANDWICH_HOME``, default ``~/.cache/sandwich``)::

    artifacts/<kind>/<key[:2]>/<key>/   one directory per artifact
        MANIFEST.json                   inputs, schema version, sha256 + size of every file
        <payload files>
    locks/<key>.lock                    one builder per key across processes
    tmp/<kind>-<host>-<pid>-<random>/   artifacts being built (renamed into place when done)

Guarantees: an artifact directory appears atomically (built in ``tmp/`` and
renamed); it is verified against its manifest on every read, and a corrupt
entry is reported (logged and counted) and rebuilt, never used; two processes
asking for the same key build it once (file lock) and both get the result.

Across processes and hosts sharing the root (a Ray cluster, docs/scale.md):
the rename is atomic within one filesystem (``tmp/`` and ``artifacts/`` are
under the same root), and the lock is ``flock`` (the ``filelock`` package),
which the kernel releases when its holder dies, so a builder killed mid-build
leaves only an unreachable directory in ``tmp/`` (removed by
:meth:`ArtifactStore.clean_stale_tmp`) and the next process builds the key.
On NFS, ``flock`` is emulated with POSIX locks and needs the lock manager
(``lockd``/``rpc.statd`` on NFSv3; built into NFSv4); a mount with ``nolock``
makes locks local to each host, so two hosts could build a key at the same
time (both write the same content; the second rename fails and its build is
discarded, so the store stays consistent, but the work is done twice).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from sandwich.store.hashing import canonical_json, digest, file_digest

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST.json"
STORE_FORMAT = 1


def default_home() -> Path:
    """``$SANDWICH_HOME`` or ``~/.cache/sandwich``."""
    env = os.environ.get("SANDWICH_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sandwich"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (macOS): trust the signal check
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


class CorruptArtifact(Exception):
    """An artifact on disk does not match its manifest."""


@dataclass(frozen=True)
class ArtifactKey:
    """Names one artifact: its kind, a schema version, and the inputs that determine it."""

    kind: str
    version: int
    inputs: Mapping[str, Any]

    @property
    def hex(self) -> str:
        return digest({"kind": self.kind, "version": self.version, "inputs": self.inputs})


class ArtifactStore:
    """Content-addressed, atomic, verified, multi-process-safe cache of artifacts."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_home()
        self.corrupt_found: list[str] = []  # keys of corrupt entries seen (and rebuilt)

    # -- paths -----------------------------------------------------------
    def path(self, key: ArtifactKey) -> Path:
        h = key.hex
        return self.root / "artifacts" / key.kind / h[:2] / h

    def _lock(self, key: ArtifactKey) -> FileLock:
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        return FileLock(str(locks / f"{key.hex}.lock"))

    # -- core ------------------------------------------------------------
    def verify(self, path: Path) -> dict[str, Any]:
        """Check every file against the manifest; return the manifest or raise."""
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            files = manifest["files"]
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptArtifact(f"{path}: unreadable manifest ({exc})") from exc
        for name, meta in files.items():
            f = path / name
            if not f.is_file() or f.stat().st_size != meta["size"]:
                raise CorruptArtifact(f"{path}: {name} is missing or has the wrong size")
            if file_digest(f) != meta["sha256"]:
                raise CorruptArtifact(f"{path}: {name} does not match its checksum")
        return dict(manifest)

    def lookup(self, key: ArtifactKey) -> Path | None:
        """The verified artifact directory for ``key``, or None (corrupt entries removed)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            self.verify(path)
        except CorruptArtifact as exc:
            log.warning("corrupt artifact, rebuilding it: %s", exc)
            self.corrupt_found.append(key.hex)
            self._discard(path)
            return None
        return path

    def get_or_build(self, key: ArtifactKey, build: Callable[[Path], None]) -> Path:
        """Return the artifact directory for ``key``, building it with ``build(tmpdir)`` if absent.

        ``build`` writes payload files into the empty directory it is given.
        """
        found = self.lookup(key)
        if found is not None:
            return found
        with self._lock(key):
            found = self.lookup(key)  # another process may have built it meanwhile
            if found is not None:
                return found
            tmp_root = self.root / "tmp"
            tmp_root.mkdir(parents=True, exist_ok=True)
            # named by its builder, so a dead builder's leftover is recognisable (stale_tmp)
            prefix = f"{key.kind}-{socket.gethostname()}-{os.getpid()}-"
            tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_root))
            try:
                build(tmp)
                self._write_manifest(tmp, key)
                final = self.path(key)
                final.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.replace(tmp, final)
                except OSError:  # built meanwhile by a host the lock did not reach (NFS nolock)
                    if self.lookup(key) is None:
                        raise
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            return final

    def stale_tmp(self) -> list[Path]:
        """Half-built artifacts in ``tmp/`` whose builder, a process on this host, is dead
        (killed mid-build). They were never reachable: only a finished build is renamed
        into ``artifacts/``. Builds of other hosts sharing the store are not judged."""
        host = socket.gethostname()
        stale = []
        for d in sorted((self.root / "tmp").glob("*")):
            head, _, pid = d.name.rpartition("-")[0].rpartition("-")
            if head.endswith(f"-{host}") and pid.isdigit() and not _alive(int(pid)):
                stale.append(d)
        return stale

    def clean_stale_tmp(self) -> int:
        """Remove :meth:`stale_tmp`; the number removed."""
        stale = self.stale_tmp()
        for d in stale:
            shutil.rmtree(d, ignore_errors=True)
        return len(stale)

    def _write_manifest(self, directory: Path, key: ArtifactKey) -> None:
        files = {}
        for f in sorted(directory.rglob("*")):
            if f.is_file():
                rel = f.relative_to(directory).as_posix()
                files[rel] = {"size": f.stat().st_size, "sha256": file_digest(f)}
        manifest = {
            "store_format": STORE_FORMAT,
            "kind": key.kind,
            "version": key.version,
            "key": key.hex,
            "inputs": json.loads(canonical_json(key.inputs)),
            "created": time.time(),
            "files": files,
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))

    def _discard(self, path: Path) -> None:
        trash = path.with_name(f"{path.name}.corrupt-{os.getpid()}-{time.time_ns()}")
        try:
            os.replace(path, trash)
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    # -- typed helpers -----------------------------------------------------
    def arrays(
        self, key: ArtifactKey, compute: Callable[[], Mapping[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """Cached dict of numpy arrays (stored as an uncompressed .npz)."""

        def build(tmp: Path) -> None:
            np.savez(tmp / "arrays.npz", allow_pickle=False, **dict(compute()))

        path = self.get_or_build(key, build)
        with np.load(path / "arrays.npz", allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def json(self, key: ArtifactKey, compute: Callable[[], Any]) -> Any:
        """Cached JSON value."""

        def build(tmp: Path) -> None:
            (tmp / "value.json").write_text(json.dumps(compute(), sort_keys=True))

        path = self.get_or_build(key, build)
        return json.loads((path / "value.json").read_text())

    # -- introspection -----------------------------------------------------
    def explain_miss(self, key: ArtifactKey) -> list[str]:
        """Why ``key`` is not cached: input differences to stored artifacts of its kind."""
        kind_dir = self.root / "artifacts" / key.kind
        wanted = json.loads(canonical_json({"version": key.version, **key.inputs}))
        lines = []
        for manifest_path in sorted(kind_dir.glob(f"*/*/{MANIFEST}")):
            try:
                m = json.loads(manifest_path.read_text())
            except (OSError, ValueError):
                continue
            have = {"version": m.get("version"), **m.get("inputs", {})}
            diff = [
                f"{k}: stored {have.get(k)!r} != wanted {wanted.get(k)!r}"
                for k in sorted(set(have) | set(wanted))
                if have.get(k) != wanted.get(k)
            ]
            lines.append(f"{manifest_path.parent.name[:12]}: " + ("; ".join(diff) or "identical"))
        return lines or [f"no stored artifact of kind {key.kind!r}"]
