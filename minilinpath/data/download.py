"""Downloads with recorded checksums, written atomically into a cache folder.

A file is fetched to a uniquely named ``.<name>.<random>.part`` in the destination folder, its MD5 is
compared with the recorded value, and only then is it renamed to its final
name. A wrong checksum or a broken connection leaves no file under the final
name, so a bad download is never used.

The cache folder is ``$MINILINPATH_DATA`` if set, else ``~/.cache/minilinpath``.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..progress import progress_bar

CHUNK = 1 << 20


class DataError(RuntimeError):
    """A data file is missing, corrupt, or could not be downloaded."""


def cache_dir() -> Path:
    """``$MINILINPATH_DATA`` or ``~/.cache/minilinpath``."""
    env = os.environ.get("MINILINPATH_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "minilinpath"


def md5_of(path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(urls, dest: Path, md5: str, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``dest`` from the first of ``urls`` that serves a file with this MD5.

    Raises :class:`DataError` naming every URL tried and why it failed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        # a unique partial file per download, so that two processes fetching one file never share it
        fd, part = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        part = Path(part)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, os.fdopen(fd, "wb") as out:
                total = response.headers.get("Content-Length")
                bar = progress_bar(iter(lambda: response.read(CHUNK), b""), desc=f"downloading {dest.name}",
                                   enabled=progress, total=(int(total) + CHUNK - 1) // CHUNK if total else None,
                                   unit="MiB")
                for chunk in bar:
                    out.write(chunk)
        except BaseException as exc:
            part.unlink(missing_ok=True)
            if not isinstance(exc, (urllib.error.URLError, OSError, ValueError)):
                raise
            failures.append(f"{url}: {exc}")
            continue
        got = md5_of(part)
        if got != md5:
            failures.append(f"{url}: checksum mismatch (MD5 {got}, expected {md5})")
            part.unlink(missing_ok=True)
            continue
        os.chmod(part, 0o644)
        os.replace(part, dest)
        return dest
    raise DataError(f"could not download {dest.name}:\n  " + "\n  ".join(failures) +
                    f"\nDownload it by hand from one of these URLs into {dest.parent} "
                    "(or pass --data-dir pointing at a folder that holds it).")


def locate_verified(name: str, data_dir, cache_folder: str, urls, md5: str, download: bool = True,
                    progress: bool = True) -> Path:
    """A data file checked against its MD5: in ``data_dir`` only if given (never downloading), else in
    ``cache_dir()/cache_folder``, downloaded there from ``urls`` if missing. A wrong MD5 is an error."""
    if data_dir is not None:
        path = Path(data_dir).expanduser() / name
        if not path.exists():
            raise DataError(f"{name} is not in {path.parent}; download it from {urls[0]}.")
    else:
        path = cache_dir() / cache_folder / name
        if not path.exists():
            if not download:
                raise DataError(f"{name} is not in {path.parent} and downloading is off; download it from {urls[0]}.")
            fetch(urls, path, md5, progress=progress)
    got = md5_of(path)
    if got != md5:
        raise DataError(f"{path}: checksum mismatch (MD5 {got}, expected {md5}); it is not used. "
                        f"Replace it with {urls[0]}.")
    return path
