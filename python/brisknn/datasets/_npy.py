"""A restricted .npy/.npz reader: nothing it reads can run code.

Numeric members are read from their header and raw bytes. Object members (Keras' imdb.npz stores
its reviews as object arrays of lists of ints, which NumPy writes as a pickle) are never
unpickled: `_ObjectArrayPickle` walks the opcode stream itself, accepts only what NumPy emits for
an object array of lists of ints, builds the result from plain Python values, and refuses
everything else.
"""
import ast
import struct
import zipfile
import zlib

import numpy as np

_MAGIC = b"\x93NUMPY"
_MAX_HEADER = 10000          # as NumPy's own max_header_size: literal_eval stays cheap
_NUMERIC_KINDS = "biufc"


def load_npz(source, name, keys, object_keys=()):
    """Reads members `keys` of an .npz (`source`: path or binary file) into a dict of arrays.

    Members in `object_keys` may be object arrays of lists of ints; all others must be numeric.
    `name` labels errors. Every problem (bad zip, missing key, bad header, truncation,
    anything not allowed) raises ValueError naming the file and member.
    """
    try:
        with zipfile.ZipFile(source) as archive:
            members = {info.filename: info for info in archive.infolist()}
            arrays = {}
            for key in keys:
                info = members.get(key + ".npy")
                if info is None:
                    raise ValueError(f"{name}: no array {key!r} in the archive "
                                     f"(found {sorted(members)})")
                with archive.open(info) as stream:
                    arrays[key] = read_npy(stream, info.file_size, f"{name}[{key}]",
                                           allow_object=key in object_keys)
            return arrays
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError,
            NotImplementedError, RuntimeError) as e:
        # What zipfile raises for truncated, corrupt, encrypted or oddly compressed archives.
        raise ValueError(f"{name}: not a valid .npz (zip) file: {e}") from e


def read_npy(stream, size, name, allow_object=False):
    """Reads one .npy of `size` bytes from a binary stream; object arrays only if allowed."""
    dtype, shape, fortran_order, offset = _read_header(stream, name, allow_object)
    if dtype.kind == "O":
        payload = _read_exact(stream, size - offset, name)
        if stream.read(1):
            raise ValueError(f"{name}: trailing bytes after the array data")
        array = _ObjectArrayPickle(payload, name).load()
        if array.shape != shape:
            raise ValueError(f"{name}: the header says shape {shape}, the data holds {array.shape}")
        return array
    count = _product(shape)
    if offset + count * dtype.itemsize != size:
        # Checked before allocating, so a forged shape cannot ask for more memory than the file.
        raise ValueError(f"{name}: shape {shape} of {dtype} needs {count * dtype.itemsize} data "
                         f"bytes, the file has {size - offset} (truncated or corrupt)")
    array = np.empty(count, dtype)
    _readinto_exact(stream, array.view(np.uint8), name)
    if stream.read(1):
        raise ValueError(f"{name}: trailing bytes after the array data")
    return array.reshape(shape, order="F" if fortran_order else "C")


def _read_header(stream, name, allow_object):
    """(dtype, shape, fortran_order, data offset) from the magic, version and header dict."""
    prefix = stream.read(8)
    if len(prefix) < 8 or prefix[:6] != _MAGIC:
        raise ValueError(f"{name}: not a .npy file (bad magic {prefix[:6]!r})")
    major = prefix[6]
    if major == 1:
        (length,), offset = struct.unpack("<H", _read_exact(stream, 2, name)), 10
    elif major in (2, 3):
        (length,), offset = struct.unpack("<I", _read_exact(stream, 4, name)), 12
    else:
        raise ValueError(f"{name}: unsupported .npy format version {major}.{prefix[7]}")
    if length > _MAX_HEADER:
        raise ValueError(f"{name}: .npy header of {length} bytes is implausibly long")
    text = _read_exact(stream, length, name).decode("latin1" if major < 3 else "utf8")
    try:
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
        raise ValueError(f"{name}: unreadable .npy header {text!r}") from e
    return (*_check_header(header, name, allow_object), offset + length)


def _check_header(header, name, allow_object):
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError(f"{name}: .npy header must be a dict of descr, fortran_order, shape; "
                         f"got {header!r}")
    descr, shape, fortran_order = header["descr"], header["shape"], header["fortran_order"]
    if not isinstance(descr, str):
        raise ValueError(f"{name}: refusing structured dtype {descr!r}")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: unknown dtype {descr!r}") from e
    allowed = _NUMERIC_KINDS + ("O" if allow_object else "")
    if dtype.kind not in allowed or dtype.fields is not None or dtype.shape != ():
        raise ValueError(f"{name}: refusing dtype {descr!r} (expected "
                         f"{'numeric or object' if allow_object else 'numeric'} data)")
    if not (isinstance(shape, tuple)
            and all(type(d) is int and d >= 0 for d in shape)):
        raise ValueError(f"{name}: bad shape {shape!r} in the .npy header")
    if type(fortran_order) is not bool:
        raise ValueError(f"{name}: bad fortran_order {fortran_order!r} in the .npy header")
    return dtype, shape, fortran_order


def _read_exact(stream, n, name):
    if n < 0:
        raise ValueError(f"{name}: truncated (the header runs past the end of the file)")
    data = stream.read(n)
    if len(data) != n:
        raise ValueError(f"{name}: truncated (expected {n} more bytes, got {len(data)})")
    return data


def _readinto_exact(stream, buffer, name):
    view, done = memoryview(buffer), 0
    while done < len(view):
        n = stream.readinto(view[done:])
        if not n:
            raise ValueError(f"{name}: truncated (expected {len(view)} data bytes, "
                             f"got {done})")
        done += n


def _product(shape):
    count = 1
    for d in shape:
        count *= d
    return count


# ---------------------------------------------------------------------------------------------
# The pickle walker. Stand-ins for the only globals NumPy's object-array pickle names:
class _Global:
    __slots__ = ("qualname",)

    def __init__(self, qualname):
        self.qualname = qualname

    def __repr__(self):
        return self.qualname


_RECONSTRUCT = _Global("numpy.core.multiarray._reconstruct")
_NDARRAY = _Global("numpy.ndarray")
_DTYPE = _Global("numpy.dtype")
_ENCODE = _Global("_codecs.encode")   # how protocol 2 spells b'b' under Python 3
_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DTYPE,
    ("_codecs", "encode"): _ENCODE,
}


class _ObjectDtype:
    """What `numpy.dtype('O8', ...)` stands for; its BUILD state carries nothing we need."""
    __slots__ = ()


class _PendingArray:
    """What `_reconstruct(ndarray, ...)` stands for, until BUILD fills it."""
    __slots__ = ("array",)

    def __init__(self):
        self.array = None


class _ObjectArrayPickle:
    """Interprets the pickle of an object ndarray whose items are lists of ints; refuses the rest."""

    def __init__(self, data, name):
        self.data, self.name, self.pos = data, name, 0
        self.stack, self.marks, self.memo = [], [], {}
        self.handlers = {op: getattr(self, "_op_" + handler) for op, handler in _OPCODES.items()}

    def load(self):
        data, handlers = self.data, self.handlers
        while True:
            if self.pos >= len(data):
                self._refuse("truncated pickle (no STOP opcode)")
            op = data[self.pos]
            handler = handlers.get(op)
            if handler is None:
                self._refuse(f"pickle opcode {bytes([op])!r} at byte {self.pos}")
            self.pos += 1
            if handler():
                return self._result()

    def _result(self):
        if self.pos != len(self.data):
            self._refuse(f"{len(self.data) - self.pos} trailing bytes after the pickle")
        if (len(self.stack) != 1 or self.marks or not isinstance(self.stack[0], _PendingArray)
                or self.stack[0].array is None):
            self._refuse("a pickle that does not produce exactly one object array")
        return self.stack[0].array

    def _refuse(self, what):
        raise ValueError(f"{self.name}: refusing {what}")

    # -- reading arguments ------------------------------------------------------------------
    def _take(self, n):
        start, self.pos = self.pos, self.pos + n
        if self.pos > len(self.data):
            self._refuse("truncated pickle")
        return self.data[start:self.pos]

    def _take_sized(self, fmt):
        (n,) = struct.unpack(fmt, self._take(struct.calcsize(fmt)))
        if n < 0:
            self._refuse(f"negative length {n}")
        return self._take(n)

    def _take_line(self):
        end = self.data.find(b"\n", self.pos, self.pos + 256)
        if end < 0:
            self._refuse("unterminated text argument")
        line, self.pos = self.data[self.pos:end], end + 1
        return _decode(line, "utf8", self)

    def _push(self, value):
        self.stack.append(value)

    def _pop(self):
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            self._refuse("a pickle that pops an empty stack")
        return self.stack.pop()

    def _pop_mark(self):
        if not self.marks:
            self._refuse("a pickle that uses a MARK it never set")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def _top_list(self):
        if len(self.stack) <= (self.marks[-1] if self.marks else 0) or \
                type(self.stack[-1]) is not list:
            self._refuse("APPEND to something that is not a list")
        return self.stack[-1]

    # -- framing, marks, containers ------------------------------------------------------------
    def _op_proto(self):
        if self._take(1)[0] > 5:
            self._refuse("an unknown pickle protocol")

    def _op_frame(self):
        self._take(8)          # a buffering hint only; the data follows inline

    def _op_stop(self):
        return True

    def _op_mark(self):
        self.marks.append(len(self.stack))

    def _op_empty_list(self):
        self._push([])

    def _op_append(self):
        value = self._pop()
        self._top_list().append(value)

    def _op_appends(self):
        items = self._pop_mark()
        self._top_list().extend(items)

    def _op_list(self):
        self._push(self._pop_mark())

    def _op_empty_tuple(self):
        self._push(())

    def _op_tuple(self):
        self._push(tuple(self._pop_mark()))

    def _op_tuple1(self):
        self._push((self._pop(),))

    def _op_tuple2(self):
        b, a = self._pop(), self._pop()
        self._push((a, b))

    def _op_tuple3(self):
        c, b, a = self._pop(), self._pop(), self._pop()
        self._push((a, b, c))

    # -- scalars ---------------------------------------------------------------------------------
    def _op_ints(self):
        # Reviews are millions of BININT1/BININT2/BININT opcodes: decode whole runs here.
        data, push, pos, end = self.data, self.stack.append, self.pos - 1, len(self.data)
        while pos < end:
            op = data[pos]
            if op == 0x4B and pos + 2 <= end:          # BININT1
                push(data[pos + 1])
                pos += 2
            elif op == 0x4D and pos + 3 <= end:        # BININT2
                push(data[pos + 1] | data[pos + 2] << 8)
                pos += 3
            elif op == 0x4A and pos + 5 <= end:        # BININT
                push(int.from_bytes(data[pos + 1:pos + 5], "little", signed=True))
                pos += 5
            else:
                break
        if pos == self.pos - 1:
            self._refuse("truncated pickle")
        self.pos = pos

    def _op_long1(self):
        self._push(int.from_bytes(self._take_sized("<B"), "little", signed=True))

    def _op_none(self):
        self._push(None)

    def _op_true(self):
        self._push(True)

    def _op_false(self):
        self._push(False)

    def _op_short_binunicode(self):
        self._push(_decode(self._take_sized("<B"), "utf8", self))

    def _op_binunicode(self):
        self._push(_decode(self._take_sized("<I"), "utf8", self))

    def _op_short_binstring(self):
        # A Python 2 str; NumPy's loader decodes these as ASCII.
        self._push(_decode(self._take_sized("<B"), "ascii", self))

    def _op_binstring(self):
        self._push(_decode(self._take_sized("<i"), "ascii", self))

    def _op_short_binbytes(self):
        self._push(self._take_sized("<B"))

    def _op_binbytes(self):
        self._push(self._take_sized("<I"))

    # -- memo --------------------------------------------------------------------------------------
    def _put(self, index):
        if not self.stack:
            self._refuse("a memo PUT on an empty stack")
        self.memo[index] = self.stack[-1]

    def _get(self, index):
        if index not in self.memo:
            self._refuse(f"a memo GET of unknown index {index}")
        self._push(self.memo[index])

    def _op_binput(self):
        self._put(self._take(1)[0])

    def _op_long_binput(self):
        self._put(struct.unpack("<I", self._take(4))[0])

    def _op_memoize(self):
        self._put(len(self.memo))

    def _op_binget(self):
        self._get(self._take(1)[0])

    def _op_long_binget(self):
        self._get(struct.unpack("<I", self._take(4))[0])

    # -- the only objects: allow-listed globals, called and built by us -----------------------------
    def _op_global(self):
        module = self._take_line()
        self._push_global(module, self._take_line())

    def _op_stack_global(self):
        qualname, module = self._pop(), self._pop()
        if type(module) is not str or type(qualname) is not str:
            self._refuse("STACK_GLOBAL with non-string operands")
        self._push_global(module, qualname)

    def _push_global(self, module, qualname):
        target = _GLOBALS.get((module, qualname))
        if target is None:
            self._refuse(f"global {module}.{qualname} (only NumPy's object-array "
                         "reconstruction is allowed)")
        self._push(target)

    def _op_reduce(self):
        args, func = self._pop(), self._pop()
        if type(args) is not tuple:
            self._refuse(f"REDUCE with arguments {type(args).__name__}")
        if func is _RECONSTRUCT and len(args) == 3 and args[0] is _NDARRAY \
                and args[2] in (b"b", "b"):
            self._push(_PendingArray())
        elif func is _DTYPE and len(args) == 3 and args[0] in ("O", "O4", "O8"):
            self._push(_ObjectDtype())
        elif func is _ENCODE and len(args) == 2 and type(args[0]) is str \
                and args[1] in ("latin1", "latin-1"):
            self._push(_encode_latin1(args[0], self))
        else:
            self._refuse(f"REDUCE of {_describe(func)} with {len(args)} arguments")

    def _op_build(self):
        state, target = self._pop(), self._pop()
        if type(target) is _ObjectDtype and type(state) is tuple:
            self._push(target)         # the dtype is object, whatever flags the state carries
        elif type(target) is _PendingArray and target.array is None:
            target.array = _object_array(state, self)
            self._push(target)
        else:
            self._refuse(f"BUILD of {type(target).__name__}")


def _describe(obj):
    # Never repr() what the file built: it may be huge or nested deep enough to recurse.
    return repr(obj) if isinstance(obj, _Global) else type(obj).__name__


def _decode(raw, encoding, walker):
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        walker._refuse(f"a string that is not {encoding}")


def _encode_latin1(text, walker):
    try:
        return text.encode("latin1")
    except UnicodeEncodeError:
        walker._refuse("a non-latin1 string for _codecs.encode")


def _object_array(state, walker):
    """The ndarray.__setstate__ of an object array, for items that are all lists of ints."""
    if type(state) is not tuple or len(state) not in (4, 5):
        walker._refuse("an ndarray state that is not a 4- or 5-tuple")
    shape, dtype, fortran_order, items = state[-4:]
    if not (type(shape) is tuple and all(type(d) is int and d >= 0 for d in shape)):
        walker._refuse(f"ndarray shape {shape!r}")
    if type(dtype) is not _ObjectDtype or type(fortran_order) not in (bool, int):
        walker._refuse("an ndarray state whose dtype is not object")
    if type(items) is not list or len(items) != _product(shape):
        walker._refuse(f"ndarray data that is not a list of {_product(shape)} items")
    for index, item in enumerate(items):
        # map(type) runs in C: cheap enough for the millions of word ids in IMDB.
        if type(item) is not list or not set(map(type, item)) <= {int}:
            walker._refuse(f"item {index}: only lists of ints are allowed, "
                           f"got {type(item).__name__}")
    # NumPy lists the items in C (logical) order whatever the layout; the flag is layout only.
    array = np.fromiter(items, dtype=object, count=len(items)).reshape(shape)
    return np.asfortranarray(array) if fortran_order else array


_OPCODES = {
    0x80: "proto", 0x95: "frame", ord("."): "stop", ord("("): "mark",
    ord("]"): "empty_list", ord("a"): "append", ord("e"): "appends", ord("l"): "list",
    ord(")"): "empty_tuple", ord("t"): "tuple", 0x85: "tuple1", 0x86: "tuple2", 0x87: "tuple3",
    ord("K"): "ints", ord("M"): "ints", ord("J"): "ints", 0x8A: "long1",
    ord("N"): "none", 0x88: "true", 0x89: "false",
    0x8C: "short_binunicode", ord("X"): "binunicode", ord("U"): "short_binstring",
    ord("T"): "binstring", ord("C"): "short_binbytes", ord("B"): "binbytes",
    ord("q"): "binput", ord("r"): "long_binput", 0x94: "memoize",
    ord("h"): "binget", ord("j"): "long_binget",
    ord("c"): "global", 0x93: "stack_global", ord("R"): "reduce", ord("b"): "build",
}
