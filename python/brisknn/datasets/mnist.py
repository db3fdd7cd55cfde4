"""MNIST handwritten digits, as keras.datasets.mnist; also the IDX reader Fashion-MNIST shares."""
import gzip
import io
import os
import struct
import zlib

import numpy as np

from brisknn.datasets import _cache, _npy

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
NPZ_NAME = "mnist.npz"
# (images, labels) of the training and test sets, as on Yann LeCun's page.
IDX_FILES = (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _idx_hashes(images_train, labels_train, images_test, labels_test):
    """Registry entries for IDX files: the SHA-256 of the decompressed payload, which holds
    whether the file is stored raw or gzipped (and however it was recompressed)."""
    digests = dict(zip((name for pair in IDX_FILES for name in pair),
                       (images_train, labels_train, images_test, labels_test)))
    return {name + ext: {digest} for name, digest in digests.items() for ext in ("", ".gz")}


# Accepted hashes per file name: Keras' mnist.npz and the original IDX payloads.
FILE_HASHES = {
    NPZ_NAME: {"731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"},
    **_idx_hashes("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                  "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                  "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}


def load_data(path=None):
    """Loads MNIST: `(x_train, y_train), (x_test, y_test)`, uint8, shapes (60000, 28, 28),
    (60000,), (10000, 28, 28), (10000,).

    `path`: None to use the cache folder ($BRISKNN_DATA or ~/.brisknn/datasets, in its `mnist/`
    subfolder or at its top); a directory; or the path of an mnist.npz (a bare file name is taken
    relative to the cache folder, as in Keras). A folder may hold Keras' mnist.npz or the four
    original IDX files (gzipped or not). If neither is found, mnist.npz is downloaded from Keras'
    mirror into the first folder searched.
    """
    folders, name = _cache.locate(path, NPZ_NAME, "mnist")
    for folder in folders:
        npz = os.path.join(folder, name)
        if os.path.isfile(npz):
            return _load_npz(npz)
        found = find_idx(folder)
        if found:
            return load_idx(found, FILE_HASHES)
    npz = os.path.join(folders[0], name)
    _cache.fetch(ORIGIN + NPZ_NAME, npz, FILE_HASHES.get(NPZ_NAME, ()),
                 f"Keras' {NPZ_NAME} (or the four IDX files {idx_names()})")
    return _load_npz(npz)


def idx_names():
    """The four IDX file names as downloaded, for messages."""
    return ", ".join(name + ".gz" for pair in IDX_FILES for name in pair)


def _load_npz(path):
    raw = _cache.read_verified(path, FILE_HASHES)
    arrays = _npy.load_npz(io.BytesIO(raw), path, _KEYS)
    return _checked(path, (arrays["x_train"], arrays["y_train"]),
                    (arrays["x_test"], arrays["y_test"]))


def find_idx(folder):
    """((train images, labels), (test images, labels)) paths in `folder`, or None unless all
    four exist (each as name.gz or name)."""
    found = []
    for pair in IDX_FILES:
        paths = tuple(_cache.find([folder], n + ".gz") or _cache.find([folder], n) for n in pair)
        if None in paths:
            return None
        found.append(paths)
    return tuple(found)


def load_idx(found, registry):
    """Reads the IDX files named by `find_idx` into ((x_train, y_train), (x_test, y_test))."""
    sets = [(read_idx(images, _IMAGES_MAGIC, registry), read_idx(labels, _LABELS_MAGIC, registry))
            for images, labels in found]
    return _checked(" and ".join(p for pair in found for p in pair), *sets)


def read_idx(path, magic, registry):
    """The uint8 array in an IDX file (gzipped if its name ends in .gz), after full validation."""
    payload = _cache.read_verified(path, registry, _gunzip if path.endswith(".gz") else None)
    if len(payload) < 8:
        raise ValueError(f"{path}: {len(payload)} bytes is too short for an IDX header")
    (found,) = struct.unpack(">i", payload[:4])
    if found != magic:
        raise ValueError(f"{path}: bad IDX magic number {found} (expected {magic}: "
                         f"{'images' if magic == _IMAGES_MAGIC else 'labels'} of uint8)")
    ndim = magic & 0xFF
    start = 4 + 4 * ndim
    if len(payload) < start:
        raise ValueError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", payload[4:start])
    size = int(np.prod(dims, dtype=np.int64))
    if len(payload) != start + size:
        raise ValueError(f"{path}: IDX dimensions {dims} need {start + size} bytes, the data "
                         f"has {len(payload)} (truncated or wrong counts)")
    return np.frombuffer(payload, np.uint8, offset=start).reshape(dims).copy()


def _gunzip(path, raw):
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: not a valid gzip file (corrupt or truncated): {e}") from e


def _checked(source, train, test):
    """Keras' layout or a ValueError naming `source`: uint8 (n, 28, 28) images, n labels 0-9."""
    for split, (x, y) in (("train", train), ("test", test)):
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise ValueError(f"{source}: {split} images and labels must be uint8, "
                             f"got {x.dtype} and {y.dtype}")
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != x.shape[:1]:
            raise ValueError(f"{source}: {split} images {x.shape} and labels {y.shape} do not "
                             "match the (n, 28, 28) and (n,) layout")
        if y.size and y.max() > 9:
            raise ValueError(f"{source}: {split} label {int(y.max())} is not a class 0-9")
    return train, test
