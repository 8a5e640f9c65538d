import gzip
import struct

import numpy as np
import pytest

from tixel.core.errors import DataError
from tixel.data.idx import IdxPair, read_idx, read_pair


def write_idx(path, array: np.ndarray, compress=False):
    code = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (5, 7, 6), dtype=np.uint8)
    path = write_idx(tmp_path / "x.idx", images, compress)
    out = read_idx(path)
    assert out.shape == (5, 7, 6) and np.array_equal(out, images)
    assert out.flags.writeable


def test_other_dtypes_are_big_endian(tmp_path):
    values = np.array([1, -2, 300000], dtype=np.int32)
    assert read_idx(write_idx(tmp_path / "v.idx", values)).tolist() == [1, -2, 300000]


def test_truncated_data_is_reported(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.zeros((4, 3, 3), np.uint8))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match=r"x.idx: IDX header promises shape \(4, 3, 3\).*truncated"):
        read_idx(path)


def test_truncated_gzip_is_reported(tmp_path):
    path = write_idx(tmp_path / "x.idx.gz", np.zeros((40, 8, 8), np.uint8), compress=True)
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(DataError, match="x.idx.gz: corrupt or truncated gzip"):
        read_idx(path)


def test_bad_magic_and_missing_file(tmp_path):
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="junk: not an IDX file"):
        read_idx(tmp_path / "junk")
    with pytest.raises(DataError, match="nope.idx: file not found"):
        read_idx(tmp_path / "nope.idx")


def test_label_count_mismatch_names_both_files(tmp_path):
    images = write_idx(tmp_path / "img.idx", np.zeros((3, 4, 4), np.uint8))
    labels = write_idx(tmp_path / "lab.idx", np.zeros(2, np.uint8))
    with pytest.raises(DataError, match=r"lab.idx: expected 3 labels to match .*img.idx"):
        read_pair(IdxPair(images=str(images), labels=str(labels)))


def test_idx_config_trains_end_to_end(tmp_path, tiny_raw):
    from sklearn.datasets import load_digits

    from tixel.commands.train import train
    from tixel.core.config import validate

    digits = load_digits(n_class=3)
    pixels = (digits.images * 15).astype(np.uint8)
    pair = {}
    for name, array in (("images", pixels), ("labels", digits.target.astype(np.uint8))):
        pair[name] = str(write_idx(tmp_path / f"{name}.idx.gz", array, compress=True))
    tiny_raw["data"] = {"format": "idx", "train": pair, "split": {"validation": 0.2, "test": 0.2}}
    tiny_raw["train"]["epochs"] = 3
    result = train(validate(tiny_raw), progress=False, log=lambda *_: None)
    assert result.test_metrics["accuracy"] > 0.8  # 3 easy classes
