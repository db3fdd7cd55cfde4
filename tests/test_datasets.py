"""Dataset loaders: IDX/npz parsing, checksums, downloads, the no-pickle .npy reader, IMDB semantics.

Everything runs on small generated files; downloads come from a local HTTP server.
"""
import gzip
import hashlib
import http.server
import io
import json
import os
import pickle
import struct
import threading
import time

import numpy as np
import pytest

from brisknn.datasets import _cache, _npy, fashion_mnist, imdb, mnist

IDX_NAMES = [name for pair in mnist.IDX_FILES for name in pair]


# --------------------------------------------------------------------------------- helpers
def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tiny_mnist(seed=0, n_train=6, n_test=4):
    rng = np.random.default_rng(seed)
    return ((rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             rng.integers(0, 10, n_train, dtype=np.uint8)),
            (rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             rng.integers(0, 10, n_test, dtype=np.uint8)))


def idx_bytes(array, magic=None):
    magic = magic if magic is not None else (2051 if array.ndim == 3 else 2049)
    return struct.pack(f">i{array.ndim}I", magic, *array.shape) + array.tobytes()


def write_idx_set(folder, data, gz=(True, True, True, True)):
    """Writes the four IDX files of `data`; returns {file name: file bytes}."""
    folder.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = data
    written = {}
    for name, array, zipped in zip(IDX_NAMES, (x_train, y_train, x_test, y_test), gz):
        payload = idx_bytes(array)
        content = gzip.compress(payload) if zipped else payload
        fname = name + ".gz" if zipped else name
        (folder / fname).write_bytes(content)
        written[fname] = content
    return written


def npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def mnist_npz(data):
    (x_train, y_train), (x_test, y_test) = data
    return npz_bytes(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def assert_same(loaded, expected):
    for (x, y), (ex, ey) in zip(loaded, expected):
        assert x.dtype == np.uint8 and y.dtype == np.uint8
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """An empty BRISKNN_DATA, empty registries and an unreachable mirror (no network, ever)."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("BRISKNN_DATA", str(root))
    for module in (mnist, fashion_mnist, imdb):
        monkeypatch.setattr(module, "FILE_HASHES", {})
        monkeypatch.setattr(module, "ORIGIN", "http://127.0.0.1:9/")
    monkeypatch.setattr(_cache, "TIMEOUT", 2.0)
    return root


class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}            # url path -> (body, declared Content-Length)

    def do_GET(self):
        if self.path not in self.files:
            self.send_error(404)
            return
        body, length = self.files[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP mirror: `serve(name, body, declared_length=None)` publishes a file."""
    handler = type("Handler", (_Handler,), {"files": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def serve(name, body, declared_length=None):
        handler.files["/" + name] = (body, len(body) if declared_length is None else declared_length)

    serve.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield serve
    httpd.shutdown()
    httpd.server_close()


# ------------------------------------------------------------------------------------- MNIST
def test_mnist_reads_idx_files_gzipped_and_raw(data_root):
    data = tiny_mnist()
    write_idx_set(data_root / "mnist", data, gz=(True, False, False, True))
    loaded = mnist.load_data()
    assert_same(loaded, data)
    assert loaded[0][0].flags.writeable


def test_mnist_reads_keras_npz_and_prefers_it(data_root):
    data, other = tiny_mnist(1), tiny_mnist(2)
    (data_root / "mnist.npz").write_bytes(mnist_npz(data))
    write_idx_set(data_root, other)
    assert_same(mnist.load_data(), data)


def test_mnist_path_may_be_a_directory_a_file_or_a_bare_name(data_root, tmp_path):
    data = tiny_mnist(3)
    folder = tmp_path / "elsewhere"
    write_idx_set(folder, data)
    assert_same(mnist.load_data(path=str(folder)), data)

    npz = tmp_path / "my_mnist.npz"
    npz.write_bytes(mnist_npz(tiny_mnist(4)))
    assert_same(mnist.load_data(path=npz), tiny_mnist(4))

    (data_root / "mnist" ).mkdir()
    (data_root / "mnist" / "renamed.npz").write_bytes(mnist_npz(tiny_mnist(5)))
    assert_same(mnist.load_data(path="renamed.npz"), tiny_mnist(5))


def test_mnist_default_cache_is_under_home(data_root, tmp_path, monkeypatch):
    monkeypatch.delenv("BRISKNN_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    data = tiny_mnist(6)
    write_idx_set(tmp_path / "home" / ".brisknn" / "datasets" / "mnist", data)
    assert_same(mnist.load_data(), data)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_with_bad_magic_is_refused(data_root, gz):
    write_idx_set(data_root, tiny_mnist(), gz=(gz,) * 4)
    (x_train, _), _ = tiny_mnist()
    payload = idx_bytes(x_train, magic=2049)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    (data_root / name).write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(ValueError, match=f"{name}: bad IDX magic number 2049"):
        mnist.load_data()


def test_truncated_idx_and_truncated_gzip_are_refused(data_root):
    written = write_idx_set(data_root, tiny_mnist(), gz=(False, True, True, True))
    raw = data_root / "train-images-idx3-ubyte"
    raw.write_bytes(written["train-images-idx3-ubyte"][:-5])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: IDX dimensions .*truncated"):
        mnist.load_data()
    raw.write_bytes(written["train-images-idx3-ubyte"])
    gz = data_root / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(written["t10k-images-idx3-ubyte.gz"][:-20])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: not a valid gzip file"):
        mnist.load_data()
    gz.write_bytes(b"\x1f\x8b")
    with pytest.raises(ValueError, match="not a valid gzip file"):
        mnist.load_data()


def test_idx_with_wrong_counts_or_dims_is_refused(data_root):
    (x_train, y_train), test = tiny_mnist()
    write_idx_set(data_root, ((x_train, y_train[:-1]), test))
    with pytest.raises(ValueError, match=r"train images \(6, 28, 28\) and labels \(5,\)"):
        mnist.load_data()
    write_idx_set(data_root, ((x_train[:, :27], y_train), test))
    with pytest.raises(ValueError, match="do not match the"):
        mnist.load_data()
    # A header that claims more images than the file holds.
    forged = struct.pack(">i3I", 2051, 7, 28, 28) + x_train.tobytes()
    (data_root / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(forged))
    with pytest.raises(ValueError, match=r"\(7, 28, 28\) need 5504 bytes.*4720"):
        mnist.load_data()


def test_labels_outside_0_to_9_are_refused(data_root):
    (x_train, y_train), test = tiny_mnist()
    write_idx_set(data_root, ((x_train, np.full_like(y_train, 10)), test))
    with pytest.raises(ValueError, match="train label 10 is not a class 0-9"):
        mnist.load_data()


def test_registry_accepts_the_payload_hash_raw_or_gzipped_and_refuses_others(data_root,
                                                                              monkeypatch):
    data = tiny_mnist()
    written = write_idx_set(data_root, data, gz=(True, False, True, True))
    payload = idx_bytes(data[0][0])
    registry = {"train-images-idx3-ubyte.gz": {sha256(payload)},
                "train-labels-idx1-ubyte": {sha256(idx_bytes(data[0][1]))},
                # the hash of the .gz file itself is accepted too
                "t10k-images-idx3-ubyte.gz": {sha256(written["t10k-images-idx3-ubyte.gz"])}}
    monkeypatch.setattr(mnist, "FILE_HASHES", registry)
    assert_same(mnist.load_data(), data)

    # Same structure, one pixel changed: a valid IDX file that is not the registered one.
    changed = data[0][0].copy()
    changed[0, 0, 0] ^= 1
    changed_gz = gzip.compress(idx_bytes(changed))
    (data_root / "train-images-idx3-ubyte.gz").write_bytes(changed_gz)
    with pytest.raises(ValueError, match=f"train-images-idx3-ubyte.gz: checksum mismatch: its "
                                         f"SHA-256 is {sha256(changed_gz)}, not one accepted"):
        mnist.load_data()


def test_registry_md5_entries_are_checked(data_root, monkeypatch):
    data = tiny_mnist()
    npz = mnist_npz(data)
    (data_root / "mnist.npz").write_bytes(npz)
    monkeypatch.setattr(mnist, "FILE_HASHES", {"mnist.npz": {hashlib.md5(npz).hexdigest()}})
    assert_same(mnist.load_data(), data)
    monkeypatch.setattr(mnist, "FILE_HASHES", {"mnist.npz": {"0" * 32}})
    with pytest.raises(ValueError, match="checksum mismatch"):
        mnist.load_data()


@pytest.mark.parametrize("corrupt, message", [
    (lambda b: b"this is not a zip file", "not a valid .npz"),
    (lambda b: b[: len(b) // 2], "not a valid .npz"),
    (lambda b: b[:200] + bytes([b[200] ^ 0xFF]) + b[201:], "mnist.npz"),
])
def test_corrupt_npz_is_refused(data_root, corrupt, message):
    (data_root / "mnist.npz").write_bytes(corrupt(mnist_npz(tiny_mnist())))
    with pytest.raises(ValueError, match=message):
        mnist.load_data()


def test_npz_with_wrong_dtype_missing_key_or_object_member_is_refused(data_root):
    (x_train, y_train), (x_test, y_test) = tiny_mnist()
    target = data_root / "mnist.npz"
    target.write_bytes(npz_bytes(x_train=x_train.astype(np.float32), y_train=y_train,
                                 x_test=x_test, y_test=y_test))
    with pytest.raises(ValueError, match="train images and labels must be uint8"):
        mnist.load_data()
    target.write_bytes(npz_bytes(x_train=x_train, y_train=y_train, x_test=x_test))
    with pytest.raises(ValueError, match="no array 'y_test'"):
        mnist.load_data()
    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = [1], [2]
    target.write_bytes(npz_bytes(x_train=objects, y_train=y_train, x_test=x_test, y_test=y_test))
    with pytest.raises(ValueError, match=r"mnist.npz\[x_train\]: refusing dtype '\|O'"):
        mnist.load_data()


# --------------------------------------------------------------------------------- downloads
def test_download_verifies_moves_into_place_and_shows_progress(data_root, server, monkeypatch,
                                                              capsys):
    data = tiny_mnist(7)
    body = mnist_npz(data)
    server("mnist.npz", body)
    monkeypatch.setattr(mnist, "ORIGIN", server.url)
    monkeypatch.setattr(mnist, "FILE_HASHES", {"mnist.npz": {sha256(body)}})
    assert_same(mnist.load_data(), data)
    assert (data_root / "mnist" / "mnist.npz").read_bytes() == body
    assert os.listdir(data_root / "mnist") == ["mnist.npz"]
    err = capsys.readouterr().err
    assert "Downloading mnist.npz [" in err and "100%" in err and err.endswith("\n")
    assert_same(mnist.load_data(), data)                 # now from the cache: no server needed


def test_download_with_wrong_checksum_leaves_nothing(data_root, server, monkeypatch):
    server("mnist.npz", mnist_npz(tiny_mnist()))
    monkeypatch.setattr(mnist, "ORIGIN", server.url)
    monkeypatch.setattr(mnist, "FILE_HASHES", {"mnist.npz": {"ab" * 32}})
    with pytest.raises(ValueError, match="downloaded .*mnist.npz: checksum mismatch"):
        mnist.load_data()
    assert os.listdir(data_root / "mnist") == []


def test_download_cut_short_leaves_nothing(data_root, server, monkeypatch):
    body = mnist_npz(tiny_mnist())
    server("mnist.npz", body[:1000], declared_length=len(body))
    monkeypatch.setattr(mnist, "ORIGIN", server.url)
    with pytest.raises(OSError, match="could not download"):
        mnist.load_data()
    assert os.listdir(data_root / "mnist") == []


def test_offline_fails_fast_saying_where_to_put_which_files(data_root):
    start = time.perf_counter()
    with pytest.raises(OSError) as info:
        mnist.load_data()
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "http://127.0.0.1:9/mnist.npz" in message
    assert str(data_root / "mnist") in message
    for name in ["mnist.npz"] + [n + ".gz" for n in IDX_NAMES]:
        assert name in message
    assert os.listdir(data_root) == []               # an offline attempt leaves no trace


def test_http_error_is_reported_like_offline(data_root, server, monkeypatch):
    monkeypatch.setattr(mnist, "ORIGIN", server.url)          # serves nothing: 404
    with pytest.raises(OSError, match="HTTP Error 404.*put Keras' mnist.npz"):
        mnist.load_data()


# ----------------------------------------------------------------------------- Fashion-MNIST
def test_fashion_mnist_reads_its_own_folder(data_root):
    data = tiny_mnist(8)
    write_idx_set(data_root / "fashion-mnist", data, gz=(False, True, False, True))
    write_idx_set(data_root / "mnist", tiny_mnist(9))
    assert_same(fashion_mnist.load_data(), data)
    assert_same(fashion_mnist.load_data(path=data_root / "fashion-mnist"), data)


def test_fashion_mnist_downloads_only_missing_files_and_checks_them(data_root, server,
                                                                    monkeypatch):
    data = tiny_mnist(10)
    folder = data_root / "fashion-mnist"
    written = write_idx_set(folder, data)
    for name in IDX_NAMES[2:]:
        server(name + ".gz", written[name + ".gz"])
        (folder / (name + ".gz")).unlink()
    (folder / IDX_NAMES[0]).write_bytes(b"unused: the .gz form is present and preferred")
    registry = {n: {sha256(b)} for n, b in written.items()}
    monkeypatch.setattr(fashion_mnist, "ORIGIN", server.url)
    monkeypatch.setattr(fashion_mnist, "FILE_HASHES", registry)
    assert_same(fashion_mnist.load_data(), data)
    assert sorted(os.listdir(folder)) == sorted([IDX_NAMES[0]] + list(written))

    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(data[1][1] * 0)))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        fashion_mnist.load_data()


def test_fashion_mnist_offline_names_its_folder(data_root):
    with pytest.raises(OSError, match=f"into {data_root / 'fashion-mnist'}"):
        fashion_mnist.load_data()


# ----------------------------------------------------------------------- the .npy reader
def ragged(seed, n, high=30, max_len=12):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, high, rng.integers(0, max_len)).tolist() for _ in range(n)]


def object_array(lists, shape=None):
    array = np.empty(len(lists), dtype=object)
    for i, item in enumerate(lists):
        array[i] = item
    return array if shape is None else array.reshape(shape)


def npy_bytes(array, **kwargs):
    buffer = io.BytesIO()
    np.save(buffer, array, **{"allow_pickle": True, **kwargs})
    return buffer.getvalue()


def read(data, allow_object=True):
    return _npy.read_npy(io.BytesIO(data), len(data), "test.npy", allow_object=allow_object)


def npy_with_pickle(payload, descr="|O", shape=(1,)):
    """A .npy whose object payload is `payload` (raw pickle bytes), header as np.save writes."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


@pytest.mark.parametrize("lists", [
    ragged(0, 40),
    [[0, 255, 256, 65535, 65536, 2 ** 31 - 1, -1, -2 ** 31, 2 ** 40, -2 ** 70]],
    [list(range(2500)), [], [7]],            # several APPENDS batches, an empty list
    [[1, 2], [3, 4]],                          # equal lengths: still a 1-D array of lists
])
def test_object_npy_of_lists_round_trips_without_unpickling(lists):
    expected = object_array(lists)
    got = read(npy_bytes(expected))
    assert got.dtype == object and got.shape == expected.shape
    assert [type(x) for x in got] == [list] * len(lists)
    assert got.tolist() == lists


def test_object_npy_of_other_shapes_and_pickle_protocols_round_trips():
    lists = ragged(1, 6)
    for array in (object_array(lists, (2, 3)), np.asfortranarray(object_array(lists, (3, 2)))):
        assert read(npy_bytes(array)).tolist() == array.tolist()
    array = object_array(lists)
    for protocol in (2, 3, 4, 5):
        # np.save always writes protocol 3; Keras' own imdb.npz came from Python 2 (protocol 2).
        payload = pickle.dumps(array, protocol=protocol)
        assert read(npy_with_pickle(payload, shape=(6,))).tolist() == lists


@pytest.mark.parametrize("dtype", ["uint8", "int32", ">i4", "int64", "float32", "float64",
                                   "bool", "complex64"])
def test_numeric_npy_round_trips(dtype):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    for a in (array, np.asfortranarray(array)):
        got = read(npy_bytes(a, allow_pickle=False), allow_object=False)
        assert got.dtype == a.dtype and got.flags.writeable
        np.testing.assert_array_equal(got, a)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=(2, 0))
    np.testing.assert_array_equal(read(buffer.getvalue()), array)


class _RunsCode:
    def __init__(self, marker, call):
        self.marker, self.call = str(marker), call

    def __reduce__(self):
        if self.call == "eval":
            return (eval, (f"open({self.marker!r}, 'w').write('pwned')",))
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("call", ["eval", "system"])
def test_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, call):
    marker = tmp_path / "pwned"
    evil = object_array([[1, 2], [3]])
    evil[1] = _RunsCode(marker, call)              # hidden inside an otherwise valid array
    for payload in (npy_bytes(evil), npy_with_pickle(pickle.dumps(_RunsCode(marker, call)))):
        with pytest.raises(ValueError, match=r"test.npy: refusing global (builtins.eval|"
                                             r"posix.system|os.system)"):
            read(payload)
    assert not marker.exists()


@pytest.mark.parametrize("payload, message", [
    # protocol 0 GLOBAL + REDUCE: os.system('touch ...')
    (b"cos\nsystem\n(S'touch /nonexistent'\ntR.", "global os.system"),
    # an allowed callable with arguments NumPy never uses: numpy.dtype('i8') is not an object array
    (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00i8\x89\x88\x87R.", "REDUCE of numpy.dtype"),
    # REDUCE of something that is not an allow-listed callable at all
    (b"\x80\x02K\x01)R.", "REDUCE of int"),
    # BUILD (setstate) on a plain list
    (b"\x80\x02]K\x01\x85b.", "BUILD of list"),
    # a valid pickle of a plain list, not an ndarray
    (b"\x80\x02]K\x01a.", "does not produce exactly one object array"),
    (b"\x80\x02]K\x01a", "truncated pickle"),
    (b"\x80\x02]h\x07.", "memo GET of unknown index 7"),
    (b"\x80\x02e.", "MARK it never set"),
])
def test_hand_made_hostile_pickles_are_refused(payload, message):
    with pytest.raises(ValueError, match="test.npy: refusing .*" + message):
        read(npy_with_pickle(payload))


@pytest.mark.parametrize("items, message", [
    ([[1, "a"]], "item 0: only lists of ints"),
    ([[1, [2]]], "item 0: only lists of ints"),
    ([[True]], "item 0: only lists of ints"),
    ([[3], (1, 2)], "item 1: only lists of ints"),
    (["text"], "item 0: only lists of ints"),
    ([None], "item 0: only lists of ints"),
    ([[1.5]], "pickle opcode b'G'"),
])
def test_object_arrays_of_anything_but_lists_of_ints_are_refused(items, message):
    with pytest.raises(ValueError, match="test.npy: refusing " + message):
        read(npy_bytes(object_array(items)))


def test_object_array_of_numpy_scalars_is_refused():
    with pytest.raises(ValueError, match="refusing global numpy.*multiarray.scalar"):
        read(npy_bytes(np.array([np.float64(1.0), np.int64(2)], dtype=object)))


def test_header_problems_are_refused():
    good = npy_bytes(np.arange(4, dtype=np.int32), allow_pickle=False)
    with pytest.raises(ValueError, match="bad magic"):
        read(b"\x93NUMPX" + good[6:])
    with pytest.raises(ValueError, match="unsupported .npy format version 9"):
        read(good[:6] + b"\x09" + good[7:])
    with pytest.raises(ValueError, match="refusing structured dtype"):
        read(npy_bytes(np.zeros(2, dtype=[("a", "i4"), ("b", "f4")]), allow_pickle=False))
    with pytest.raises(ValueError, match="refusing dtype '<U3'"):
        read(npy_bytes(np.array(["abc"]), allow_pickle=False))
    with pytest.raises(ValueError, match="unknown dtype"):
        read(npy_with_pickle(b"", descr="__import__('os')"))
    call = b"{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': (1,)}\n"
    with pytest.raises(ValueError, match="unreadable .npy header"):
        read(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(call)) + call)
    with pytest.raises(ValueError, match="header says shape"):
        read(npy_with_pickle(pickle.dumps(object_array([[1], [2]]), protocol=2), shape=(3,)))
    with pytest.raises(ValueError, match="shape .* needs 16 data bytes, the file has 20"):
        read(good + b"\0" * 4)


def test_every_truncation_is_a_value_error():
    for data in (npy_bytes(object_array(ragged(2, 5))),
                 npy_bytes(np.arange(6, dtype=np.int16), allow_pickle=False)):
        for cut in range(len(data)):
            with pytest.raises(ValueError):
                read(data[:cut])


def test_random_corruption_gives_a_value_error_or_lists_of_ints():
    data = npy_bytes(object_array(ragged(3, 8, high=70000)))
    header = data.index(b"\n") + 1
    rng = np.random.default_rng(0)
    for _ in range(400):
        corrupt = bytearray(data)
        for position in rng.integers(header, len(data), rng.integers(1, 4)):
            corrupt[position] = rng.integers(0, 256)
        try:
            got = read(bytes(corrupt))
        except ValueError:
            continue
        assert all(type(x) is list and all(type(w) is int for w in x) for x in got.flat)


# ------------------------------------------------------------------------------------- IMDB
def keras_imdb(x_train, labels_train, x_test, labels_test, num_words=None, skip_top=0,
               maxlen=None, seed=113, start_char=1, oov_char=2, index_from=3):
    """keras/src/datasets/imdb.py's load_data after np.load, transcribed line by line."""
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]
    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
        x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    elif index_from:
        x_train = [[w + index_from for w in x] for x in x_train]
        x_test = [[w + index_from for w in x] for x in x_test]
    else:
        x_train = [[w for w in x] for x in x_train]
        x_test = [[w for w in x] for x in x_test]
    if maxlen:
        x_train, labels_train = remove_long_seq(maxlen, x_train, labels_train)
        x_test, labels_test = remove_long_seq(maxlen, x_test, labels_test)
    xs = x_train + x_test
    labels = np.concatenate([labels_train, labels_test])
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        xs = [[w if (skip_top <= w < num_words) else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    idx = len(x_train)
    return (xs[:idx], labels[:idx]), (xs[idx:], labels[idx:])


def remove_long_seq(maxlen, seq, label):
    new_seq, new_label = [], []
    for x, y in zip(seq, label):
        if len(x) < maxlen:
            new_seq.append(x)
            new_label.append(y)
    return new_seq, new_label


def tiny_imdb(seed=0):
    rng = np.random.default_rng(seed)
    x_train = object_array([[int(w) for w in rng.integers(1, 60, rng.integers(1, 25))]
                            for _ in range(30)])
    x_test = object_array([[int(w) for w in rng.integers(1, 60, rng.integers(1, 25))]
                           for _ in range(20)])
    return x_train, rng.integers(0, 2, 30), x_test, rng.integers(0, 2, 20)


@pytest.fixture
def imdb_file(data_root):
    arrays = tiny_imdb()
    path = data_root / "imdb" / "imdb.npz"
    path.parent.mkdir()
    np.savez(path, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
    return path, arrays


@pytest.mark.parametrize("kwargs", [
    {},
    {"num_words": 30},
    {"num_words": 30, "skip_top": 5},
    {"maxlen": 12},
    {"maxlen": 12, "num_words": 40, "oov_char": None},
    {"index_from": 0, "start_char": None},
    {"index_from": 5, "start_char": None, "skip_top": 8, "oov_char": 0},
    {"start_char": 7, "index_from": 1, "seed": 5, "num_words": 20},
    {"oov_char": None, "skip_top": 10},
])
def test_imdb_matches_keras_logic(imdb_file, kwargs):
    _, arrays = imdb_file
    (x_train, y_train), (x_test, y_test) = imdb.load_data(**kwargs)
    (ex_train, ey_train), (ex_test, ey_test) = keras_imdb(*arrays, **kwargs)
    for x, ex in ((x_train, ex_train), (x_test, ex_test)):
        assert x.dtype == object and x.ndim == 1
        assert x.tolist() == ex
        assert all(type(w) is int for seq in x for w in seq)
    np.testing.assert_array_equal(y_train, ey_train)
    np.testing.assert_array_equal(y_test, ey_test)
    assert y_train.dtype == ey_train.dtype


def test_imdb_default_shift_and_start_char(imdb_file):
    _, (x_train, _, _, _) = imdb_file
    (x, _), _ = imdb.load_data(path="imdb.npz")
    order = np.arange(len(x_train))
    np.random.RandomState(113).shuffle(order)
    first = x_train[order[0]]
    top = max(max(s) for s in x_train.tolist() + imdb_file[1][2].tolist()) + 3
    assert x[0] == [1] + [w + 3 if w + 3 < top else 2 for w in first]


def test_imdb_maxlen_that_keeps_nothing_raises_as_keras(imdb_file):
    with pytest.raises(ValueError, match="no sequence was kept. Increase maxlen"):
        imdb.load_data(maxlen=2)


def test_imdb_refuses_a_hostile_npz(data_root, tmp_path):
    marker = tmp_path / "pwned"
    evil = object_array([[1], [2]])
    evil[0] = _RunsCode(marker, "eval")
    path = data_root / "imdb.npz"
    np.savez(path, x_train=evil, y_train=np.zeros(2, int), x_test=evil, y_test=np.zeros(2, int))
    with pytest.raises(ValueError, match=r"imdb.npz\[x_train\]: refusing global builtins.eval"):
        imdb.load_data()
    assert not marker.exists()


def test_imdb_registry_and_download(data_root, server, monkeypatch):
    body = npz_bytes(**dict(zip(("x_train", "y_train", "x_test", "y_test"), tiny_imdb(1))))
    server("imdb.npz", body)
    monkeypatch.setattr(imdb, "ORIGIN", server.url)
    monkeypatch.setattr(imdb, "FILE_HASHES", {"imdb.npz": {sha256(body), "cd" * 32}})
    (x_train, _), (x_test, _) = imdb.load_data()
    assert len(x_train) == 30 and len(x_test) == 20
    assert (data_root / "imdb" / "imdb.npz").read_bytes() == body
    (data_root / "imdb" / "imdb.npz").write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
    with pytest.raises(ValueError, match="imdb.npz: checksum mismatch"):
        imdb.load_data()


def test_get_word_index(data_root, monkeypatch):
    index = {"the": 1, "and": 2, "movie": 3}
    raw = json.dumps(index).encode()
    (data_root / "imdb").mkdir()
    (data_root / "imdb" / "imdb_word_index.json").write_bytes(raw)
    monkeypatch.setattr(imdb, "FILE_HASHES", {"imdb_word_index.json": {sha256(raw)}})
    assert imdb.get_word_index() == index
    (data_root / "imdb" / "imdb_word_index.json").write_bytes(raw.replace(b"3", b"4"))
    with pytest.raises(ValueError, match="imdb_word_index.json: checksum mismatch"):
        imdb.get_word_index()
    (data_root / "broken.json").write_bytes(b"{not json")
    with pytest.raises(ValueError, match="broken.json: not a valid JSON word index"):
        imdb.get_word_index(path=data_root / "broken.json")


def test_imdb_offline_error_names_folder_and_file(data_root):
    with pytest.raises(OSError, match=f"put imdb.npz into {data_root / 'imdb'}"):
        imdb.load_data()


def test_registries_hold_keras_and_shared_data_hashes():
    assert "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1" in \
        mnist.FILE_HASHES["mnist.npz"]
    assert mnist.FILE_HASHES["train-images-idx3-ubyte.gz"] == \
        mnist.FILE_HASHES["train-images-idx3-ubyte"] == \
        {"ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"}
    assert len(imdb.FILE_HASHES["imdb.npz"]) == 2
    assert len(fashion_mnist.FILE_HASHES) == 4


def test_importing_datasets_loads_no_dataset_module():
    import subprocess
    import sys
    code = ("import sys, brisknn.datasets; "
            "print(sorted(m for m in sys.modules if m.startswith('brisknn.datasets.')), "
            "'urllib.request' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] False"
