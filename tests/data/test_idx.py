import gzip
import struct

import numpy as np
import pytest

from keras_contrastive.data.idx import IDXFormatError, read_idx, write_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32"])
def test_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 5, 4)) * 50).astype(dtype)
    path = tmp_path / f"a-idx3{suffix}"
    write_idx(path, array)
    out = read_idx(path)
    assert out.dtype == array.dtype and out.shape == (3, 5, 4)
    np.testing.assert_array_equal(out, array)


def test_header_layout_matches_the_spec(tmp_path):
    # Written by hand from the IDX spec: magic 0x00000801, then N, big-endian.
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(struct.pack(">I", 0x00000801) + struct.pack(">I", 4) + b"\x09\x00\x00\x03")
    np.testing.assert_array_equal(read_idx(path), [9, 0, 0, 3])
    big = tmp_path / "shorts-idx1"
    big.write_bytes(bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 2) + struct.pack(">hh", 258, -2))
    np.testing.assert_array_equal(read_idx(big), [258, -2])


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(IDXFormatError, match="images-idx3-ubyte.gz.*bad magic number"):
        read_idx(path)


def test_unknown_type_byte(tmp_path):
    path = tmp_path / "x-idx1"
    path.write_bytes(bytes([0, 0, 0x07, 1]) + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(IDXFormatError, match="bad magic number 0x00000701"):
        read_idx(path)


def test_truncated_data_names_the_file(tmp_path):
    path = tmp_path / "t-idx3"
    write_idx(path, np.zeros((4, 2, 2), np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(IDXFormatError, match=r"t-idx3.*truncated.*\(4, 2, 2\)"):
        read_idx(path)


def test_trailing_bytes_are_an_error(tmp_path):
    path = tmp_path / "long-idx1"
    write_idx(path, np.zeros(4, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(IDXFormatError, match="longer than its header says"):
        read_idx(path)


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "cut-idx1.gz"
    write_idx(path, np.arange(1000, dtype=np.uint8) % 7)
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(IDXFormatError, match="cut-idx1.gz.*truncated or corrupt"):
        read_idx(path)


def test_too_short_for_magic(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(IDXFormatError, match="tiny.*2 bytes"):
        read_idx(path)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
