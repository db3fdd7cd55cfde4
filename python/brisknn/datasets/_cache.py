"""Where dataset files live, how a missing one is downloaded, and how a file is proven right.

A loader looks in `<root>/<dataset>/` and then `<root>/`, where root is the `path` argument,
else $BRISKNN_DATA, else ~/.brisknn/datasets; downloads go to the first of those folders.
Files whose names the loader's registry knows must match one of the registry's hashes (SHA-256,
or MD5 for Keras' older 32-digit hashes), checked on the exact bytes that are then parsed.
"""
import hashlib
import os
import sys
import tempfile

DEFAULT_ROOT = os.path.join("~", ".brisknn", "datasets")
# Seconds without an answer before a download gives up: offline machines fail at once, not hang.
TIMEOUT = 10.0
_CHUNK = 1 << 16


def data_root():
    """The cache folder: $BRISKNN_DATA if set, else ~/.brisknn/datasets."""
    return os.path.expanduser(os.environ.get("BRISKNN_DATA") or DEFAULT_ROOT)


def locate(path, default_name, subdir):
    """(folders to search in order, file name) for a loader's `path` argument.

    None: the cache folders. An existing directory: that folder. A bare file name: that name in
    the cache folders (Keras' `path`, relative to its cache). Any other path: that file.
    """
    if path is None:
        return _cache_folders(subdir), default_name
    path = os.path.expanduser(os.fspath(path))
    if os.path.isdir(path):
        return [path], default_name
    folder, name = os.path.split(path)
    return ([folder] if folder else _cache_folders(subdir)), name


def _cache_folders(subdir):
    root = data_root()
    return [os.path.join(root, subdir), root]


def find(folders, name):
    """The first existing `folder/name`, or None."""
    for folder in folders:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def get_file(path, default_name, subdir, url, registry):
    """The local path of a dataset file, downloading `url` into the cache if it is missing."""
    folders, name = locate(path, default_name, subdir)
    found = find(folders, name)
    if found is None:
        found = os.path.join(folders[0], name)
        fetch(url, found, registry.get(os.path.basename(url), ()), name)
    return found


def read_verified(path, registry, decode=None):
    """The bytes of `path` (and `decode(bytes)` if given), after the registry's hash check.

    The hash may match the file itself or, for recompressed files, the decoded payload.
    """
    with open(path, "rb") as f:
        raw = f.read()
    payload = decode(path, raw) if decode else raw
    check_hash(path, registry.get(os.path.basename(path), ()), raw, payload)
    return payload


def check_hash(path, accepted, *blobs):
    """ValueError unless one of `blobs` hashes to one of `accepted` (no check if none listed)."""
    if not accepted:
        return
    for blob in blobs:
        if any(_hexdigest(blob, h) == h.lower() for h in accepted):
            return
    actual = hashlib.sha256(blobs[0]).hexdigest()
    raise ValueError(
        f"{path}: checksum mismatch: its SHA-256 is {actual}, not one accepted for "
        f"{os.path.basename(path)} ({', '.join(sorted(accepted))}). The file is corrupt, "
        "truncated or a different file; delete or replace it.")


def _hexdigest(blob, expected):
    algorithm = "md5" if len(expected) == 32 else "sha256"
    return hashlib.new(algorithm, blob).hexdigest()


def fetch(url, dest, accepted, needed):
    """Downloads `url` to `dest`; when that fails, OSError saying to put `needed` (text naming
    the files) into the folder of `dest`."""
    from http.client import HTTPException

    try:
        download(url, dest, accepted)
    except (OSError, HTTPException) as e:
        folder = os.path.dirname(os.path.abspath(dest))
        raise OSError(
            f"could not download {url} ({e}). To work offline, put {needed} into {folder} "
            "(or set BRISKNN_DATA, or pass `path`, to a folder holding them).") from e


def download(url, dest, accepted=()):
    """Streams `url` into `dest` with a progress bar on stderr.

    The data goes to a temporary file in the same folder and is renamed over `dest` only after
    its length and hash check out, so `dest` never holds a partial or wrong file.
    """
    import urllib.request

    folder = os.path.dirname(os.path.abspath(dest))
    with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
        # Only once the server answers: an offline attempt leaves no trace on disk.
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(dest) + ".", suffix=".part",
                                   dir=folder)
        try:
            hashers = {name: hashlib.new(name) for name in _algorithms(accepted)}
            with os.fdopen(fd, "wb") as out:
                _copy(resp, out, hashers, os.path.basename(dest))
                out.flush()
                os.fsync(out.fileno())
            digests = {h.hexdigest() for h in hashers.values()}
            if accepted and not digests & {h.lower() for h in accepted}:
                raise ValueError(
                    f"downloaded {url}: checksum mismatch (SHA-256 "
                    f"{hashers['sha256'].hexdigest()}, expected one of "
                    f"{', '.join(sorted(accepted))}); nothing was saved.")
            os.replace(tmp, dest)
        except BaseException:
            os.unlink(tmp)
            raise


def _algorithms(accepted):
    return {"sha256"} | {"md5" for h in accepted if len(h) == 32}


def _copy(resp, out, hashers, label):
    total = int(resp.headers.get("Content-Length") or 0)
    progress = _Progress(label, total)
    try:
        while True:
            chunk = resp.read(_CHUNK)
            if not chunk:
                break
            out.write(chunk)
            for h in hashers.values():
                h.update(chunk)
            progress.update(len(chunk))
    finally:
        progress.close()          # ends the bar's line even when the transfer fails
    if total and progress.done != total:
        raise OSError(f"connection closed after {progress.done} of {total} bytes")


class _Progress:
    """A one-line text progress bar on stderr, redrawn only when the shown value changes."""

    WIDTH = 30

    def __init__(self, label, total):
        self.label, self.total, self.done, self.shown = label, total, 0, None
        self._draw()

    def update(self, n):
        self.done += n
        self._draw()

    def close(self):
        sys.stderr.write("\n")
        sys.stderr.flush()

    def _draw(self):
        mb = f"{self.done / 1e6:.1f}"
        if self.total:
            filled = self.WIDTH * self.done // self.total
            percent = 100 * self.done // self.total
            line = (f"Downloading {self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                    f"{percent:3d}% {mb}/{self.total / 1e6:.1f} MB")
        else:
            line = f"Downloading {self.label} {mb} MB"
        if line != self.shown:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()
            self.shown = line
