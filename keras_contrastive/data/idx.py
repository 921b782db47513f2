"""Reader and writer for the IDX format of MNIST and Fashion-MNIST.

The format (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT") is a
4-byte magic number `0x00 0x00 <type> <ndim>`, `ndim` big-endian uint32
dimensions, then the data in row-major order, big-endian. Files may be gzipped.
"""

import gzip
import os
import struct
import zlib

import numpy as np

# Type byte of the magic number -> numpy dtype (big-endian where it matters).
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_TYPE_CODES = {dtype.newbyteorder("="): code for code, dtype in _IDX_DTYPES.items()}


class IDXFormatError(ValueError):
    """Raised when a file is not a valid, complete IDX file."""


def _read_bytes(path):
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == b"\x1f\x8b":
            try:
                with gzip.GzipFile(fileobj=f) as g:
                    return g.read()
            except (OSError, EOFError, zlib.error) as e:
                raise IDXFormatError(
                    f"Could not decompress the gzip file {path!r} ({e}). The file "
                    "is truncated or corrupt: download or copy it again."
                ) from e
        return f.read()


def read_idx(path):
    """Reads an IDX file (optionally gzipped) into a numpy array.

    Args:
        path: str. Path to an IDX file, such as
            `train-images-idx3-ubyte.gz`.

    Returns:
        A numpy array with the file's shape, in native byte order.

    Raises:
        FileNotFoundError: if `path` does not exist.
        IDXFormatError: if the magic number is wrong, or the file is truncated,
            too long or not valid gzip. The message names the file.
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXFormatError(
            f"{path!r} is not an IDX file: it has {len(data)} bytes, fewer than "
            "the 4-byte magic number. The file is truncated or corrupt: download "
            "or copy it again."
        )
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise IDXFormatError(
            f"{path!r} is not an IDX file: bad magic number 0x{data[:4].hex()} "
            "(expected 0x0000 followed by a type byte in "
            f"{sorted(hex(c) for c in _IDX_DTYPES)} and a non-zero number of "
            "dimensions). Check that this is the right file and that it is not "
            "corrupt."
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IDXFormatError(
            f"{path!r} is truncated: its header needs {header_size} bytes for "
            f"{ndim} dimensions but the file has {len(data)}. Download or copy it "
            "again."
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = _IDX_DTYPES[type_code]
    expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "longer than its header says"
        raise IDXFormatError(
            f"{path!r} is {problem}: its header declares shape {shape} of "
            f"{dtype.name}, i.e. {expected} bytes, but the file has {len(data)}. "
            "Download or copy it again."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path, array):
    """Writes a numpy array as an IDX file, gzipped if `path` ends in `.gz`.

    Args:
        path: str. Where to write the file.
        array: numpy array. Of dtype uint8, int8, int16, int32, float32 or
            float64, with at least one dimension.
    """
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("=")
    if dtype not in _IDX_TYPE_CODES or array.ndim == 0:
        raise ValueError(
            f"IDX cannot store an array of dtype {array.dtype} and ndim "
            f"{array.ndim}. Received shape {array.shape}; use one of uint8, int8, "
            "int16, int32, float32, float64 with ndim >= 1."
        )
    code = _IDX_TYPE_CODES[dtype]
    header = struct.pack(">HBB", 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(_IDX_DTYPES[code], copy=False).tobytes()
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
