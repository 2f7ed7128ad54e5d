"""The output folder of a job: a local folder or a prefix in object storage.

Every file a job writes goes through here, whole or not at all: a local
file is written under a temporary name and renamed; an object is built in
a local temporary file and uploaded in one request under its final name
(`Storage.put_file`: the native engine for s3/gs/az, fsspec otherwise; an
object store shows an object only once its upload completes). Picklable:
Ray tasks get one and write their shards straight to the output.
"""

from __future__ import annotations

import glob
import os
import tempfile

from audiodecode.data.sources import Storage
from audiodecode.data.sources.storage import is_local, local_path


class Output:
    """Where a job's files go.

    Parameters
    ----------
    out : str
        A local folder (or ``file://`` URL), or a URL prefix (``s3://bucket/prepared/train``).
    storage : Storage
        Credentials and retries for a URL.
    """

    def __init__(self, out: str, storage: Storage) -> None:
        self.local = is_local(out)
        self.root = os.path.abspath(local_path(out)) if self.local else out.rstrip("/")
        self.storage = storage

    def __repr__(self) -> str:
        return self.root

    def path(self, name: str) -> str:
        return os.path.join(self.root, name) if self.local else f"{self.root}/{name}"

    def _fs(self) -> tuple[object, str]:
        return self.storage.filesystem(self.root)

    def make(self) -> None:
        """Create the folder (nothing to create under a URL prefix)."""
        if self.local:
            os.makedirs(os.path.join(self.root, ".prepare"), exist_ok=True)

    def exists(self, name: str) -> bool:
        if self.local:
            return os.path.exists(self.path(name))
        try:
            self.storage.size(self.path(name))
        except FileNotFoundError:
            return False
        return True

    def read(self, name: str) -> bytes:
        """The file's bytes; FileNotFoundError when it is not there."""
        if self.local:
            with open(self.path(name), "rb") as f:
                return f.read()
        return self.storage.read(self.path(name))

    def write(self, name: str, data: bytes) -> None:
        """Write the whole file at once (atomic, see the module docstring)."""
        tmp = self.temporary(name)
        with open(tmp, "wb") as f:
            f.write(data)
        self.publish(tmp, name)

    def temporary(self, name: str) -> str:
        """A local path to build `name` in before `publish`."""
        if self.local:
            return f"{self.path(name)}.tmp{os.getpid()}"
        fd, tmp = tempfile.mkstemp(prefix=f"audiodecode-{name.replace('/', '-')}-")
        os.close(fd)
        return tmp

    def publish(self, tmp: str, name: str) -> int:
        """Move the finished `tmp` to `name`; its size in bytes."""
        size = os.path.getsize(tmp)
        if self.local:
            os.replace(tmp, self.path(name))
        else:
            try:
                self.storage.put_file(self.path(name), tmp)
            finally:
                os.remove(tmp)
        return size

    def names(self, prefix: str) -> list[str]:
        """Names at the top of the folder starting with `prefix`."""
        if self.local:
            return sorted(n for n in os.listdir(self.root) if n.startswith(prefix)) if os.path.isdir(self.root) else []
        fs, _ = self._fs()
        try:
            listed = fs.ls(self.path(""), detail=False)
        except FileNotFoundError:
            return []
        return sorted(n for n in (p.rstrip("/").rsplit("/", 1)[-1] for p in listed) if n.startswith(prefix))

    def remove_leftovers(self) -> None:
        """Delete the temporary files a killed run left in a local folder
        (``<name>.tmp<pid>``): never under a final name, rewritten anyway."""
        if not self.local:
            return
        for folder in (self.root, os.path.join(self.root, ".prepare")):
            for path in glob.glob(os.path.join(glob.escape(folder), "*.tmp*")):
                os.remove(path)
