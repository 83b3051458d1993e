"""Fetching a dataset's raw files: mirrors tried in order, md5 verified,
every file written atomically (a temporary name in the target folder, then
a rename), so an interrupted or corrupt download never leaves a file that
looks complete."""

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request

__all__ = ["download_resources", "md5_of"]

_CHUNK = 1 << 20
_USER_AGENT = "ember-vision"


def md5_of(path):
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _temporary_in(folder, name):
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    return os.fdopen(fd, "wb"), tmp


def _publish(tmp, path, f):
    """Flush ``f`` (the open file of ``tmp``) to disk and rename it to ``path``."""
    f.flush()
    os.fsync(f.fileno())
    f.close()
    os.replace(tmp, path)


def _fetch(url, path, md5, timeout):
    """Download ``url`` to ``path`` if its md5 is ``md5``; raise OSError
    (URLError included) or ValueError (checksum) otherwise."""
    folder, name = os.path.split(path)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    f, tmp = _temporary_in(folder, name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                f.write(chunk)
        if md5 is not None and digest.hexdigest() != md5:
            raise ValueError(f"checksum mismatch: md5 {digest.hexdigest()}, expected {md5}")
        _publish(tmp, path, f)
    finally:
        if not f.closed:
            f.close()
        if os.path.exists(tmp):
            os.unlink(tmp)


def _gunzip_beside(path):
    """Write the decompressed form of ``path`` (a ``.gz``) next to it, as
    torchvision's layout has both."""
    target = path[: -len(".gz")]
    folder, name = os.path.split(target)
    f, tmp = _temporary_in(folder, name)
    try:
        with gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, f, _CHUNK)
        _publish(tmp, target, f)
    finally:
        if not f.closed:
            f.close()
        if os.path.exists(tmp):
            os.unlink(tmp)


def download_resources(folder, resources, mirrors, dataset_name, timeout=60.0):
    """Fetch every ``(filename, md5)`` of ``resources`` missing from ``folder``
    from the first of ``mirrors`` (URL prefixes) that serves it with the
    right checksum, and decompress it beside the ``.gz``.

    Raises RuntimeError naming each file no mirror could provide, why each
    mirror failed, and where to put the files by hand.
    """
    os.makedirs(folder, exist_ok=True)
    failures = {}
    for filename, md5 in resources:
        path = os.path.join(folder, filename)
        plain = path[: -len(".gz")] if filename.endswith(".gz") else None
        if os.path.exists(path) or (plain and os.path.exists(plain)):
            continue
        errors = []
        for mirror in mirrors:
            url = mirror if mirror.endswith("/") else mirror + "/"
            url += filename
            print(f"Downloading {url}")
            try:
                _fetch(url, path, md5, timeout)
            except (OSError, ValueError) as err:  # URLError, HTTPError and timeouts are OSErrors
                if isinstance(err, urllib.error.HTTPError):
                    reason = f"HTTP {err.code} {err.reason}"
                else:
                    reason = getattr(err, "reason", None) or err
                errors.append(f"{url}: {reason}")
                print(f"Failed to download (trying next): {reason}")
                continue
            if plain:
                _gunzip_beside(path)
            break
        else:
            failures[filename] = errors
    if failures:
        lines = [f"Could not download {dataset_name}:"]
        for filename, errors in failures.items():
            lines.append(f"  {filename}:")
            lines += [f"    {e}" for e in errors] or ["    no mirrors configured"]
        missing = ", ".join(failures)
        lines.append(f"Download {missing} (md5 sums: "
                     + ", ".join(f"{n} {m}" for n, m in resources if n in failures)
                     + f") by other means and place them in {folder}")
        raise RuntimeError("\n".join(lines))
