"""Fashion-MNIST (Zalando), as keras.datasets.fashion_mnist: MNIST's IDX format and shapes.

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker,
8 Bag, 9 Ankle boot.
"""
import os

from brisknn.datasets import _cache, mnist

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SUBDIR = "fashion-mnist"        # Keras' cache subfolder name
# SHA-256 of the .gz files Keras downloads (keras/src/datasets/fashion_mnist.py).
FILE_HASHES = {
    "train-labels-idx1-ubyte.gz": {
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"},
    "train-images-idx3-ubyte.gz": {
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"},
    "t10k-labels-idx1-ubyte.gz": {
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"},
    "t10k-images-idx3-ubyte.gz": {
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"},
}


def load_data(path=None):
    """Loads Fashion-MNIST: `(x_train, y_train), (x_test, y_test)`, uint8, shapes
    (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).

    `path` (not in Keras, optional): a directory holding the four IDX files (gzipped or not).
    By default they are looked for in the cache folder ($BRISKNN_DATA or ~/.brisknn/datasets,
    in its `fashion-mnist/` subfolder or at its top); missing ones are downloaded from Keras'
    mirror into the first folder searched.
    """
    folders = [os.path.expanduser(os.fspath(path))] if path is not None \
        else _cache.locate(None, "", SUBDIR)[0]
    for folder in folders:
        found = mnist.find_idx(folder)
        if found:
            return mnist.load_idx(found, FILE_HASHES)
    _download_missing(folders[0])
    return mnist.load_idx(mnist.find_idx(folders[0]), FILE_HASHES)


def _download_missing(folder):
    for name in (name for pair in mnist.IDX_FILES for name in pair):
        if not (_cache.find([folder], name + ".gz") or _cache.find([folder], name)):
            _cache.fetch(ORIGIN + name + ".gz", os.path.join(folder, name + ".gz"),
                         FILE_HASHES.get(name + ".gz", ()),
                         f"the four IDX files {mnist.idx_names()}")
