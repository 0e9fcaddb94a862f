"""A signed on-disk cache for fitted objects the benchmark runner shares between processes.

Unpickling runs code, so a cache file must be proved to come from this user before it is
loaded: every file carries an HMAC-SHA256 of its bytes under a key that only this user can
read (``<folder>/.key``, mode 0600, created on first use; a key file owned by someone else or
readable by others is refused). A file that fails the check is ignored, never unpickled.
Files are written atomically (a temporary file in the same folder, then ``os.replace``).
"""

import hashlib
import hmac
import os
import pickle
import stat
import tempfile
import warnings

__all__ = ["default_folder", "load", "save"]

_TAG_BYTES = hashlib.sha256().digest_size


def default_folder():
    """``$XDG_CACHE_HOME/skdomainclust-benchmarks`` (``~/.cache/...``): the user's own."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "skdomainclust-benchmarks")


def _key(folder):
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, ".key")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(os.urandom(32))
    info = os.stat(path, follow_symlinks=False)
    if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid()
            or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)):
        raise PermissionError(f"{path} must be a regular file of this user with mode 0600; "
                              "remove it (or the folder) and run again.")
    with open(path, "rb") as handle:
        return handle.read()


def _tag(key, payload):
    return hmac.new(key, payload, hashlib.sha256).digest()


def save(path, obj):
    """Pickle ``obj`` to ``path``, signed, atomically."""
    folder = os.path.dirname(path)
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    signed = _tag(_key(folder), payload) + payload
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".part-", delete=False) as handle:
        handle.write(signed)
    os.replace(handle.name, path)


def load(path):
    """The object saved at ``path``, or None when it is absent or not signed by this user."""
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        signed = handle.read()
    tag, payload = signed[:_TAG_BYTES], signed[_TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(_key(os.path.dirname(path)), payload)):
        warnings.warn(f"Ignoring {path}: it is not signed by this user's cache key.",
                      RuntimeWarning, stacklevel=2)
        return None
    return pickle.loads(payload)
