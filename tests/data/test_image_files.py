import numpy as np
import pytest
from PIL import Image

from tixel.core.errors import DataError
from tixel.data.image_csv import ImageCsvData, read_image_csv
from tixel.data.image_folder import read_image_folder


def make_folder(root, sizes=None, classes=("cat", "dog"), per_class=3):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            h, w = (sizes or {}).get((c, i), (10, 12))
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_folder_reads_classes_in_sorted_order(tmp_path):
    data = read_image_folder(make_folder(tmp_path / "imgs", classes=("b", "a")))
    assert data.images.shape == (6, 10, 12, 3) and data.images.dtype == np.uint8
    assert data.labels == ["a"] * 3 + ["b"] * 3


def test_folder_grey_and_resize(tmp_path):
    data = read_image_folder(make_folder(tmp_path / "imgs"), channels=1, size=(5, 6))
    assert data.images.shape == (6, 5, 6, 1)


def test_folder_mixed_sizes_need_a_size(tmp_path):
    root = make_folder(tmp_path / "imgs", sizes={("dog", 1): (20, 20)})
    with pytest.raises(DataError, match=r"dog/1.png: image is 20x20x3.*set data.image.size"):
        read_image_folder(root)
    assert read_image_folder(root, size=(8, 8)).images.shape == (6, 8, 8, 3)


def test_unreadable_image_names_the_file(tmp_path):
    root = make_folder(tmp_path / "imgs")
    (root / "cat" / "9.png").write_bytes(b"\x89PNG but broken")
    with pytest.raises(DataError, match=r"cat/9.png: cannot read image"):
        read_image_folder(root)


def test_empty_folder(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        read_image_folder(tmp_path / "empty")


def csv_cfg(path, **kw):
    return ImageCsvData(format="image_csv", train=str(path), **kw)


def test_csv_with_relative_paths(tmp_path):
    make_folder(tmp_path / "imgs")
    path = tmp_path / "list.csv"
    path.write_text("path,label\nimgs/cat/0.png,cat\nimgs/dog/2.png,dog\n")
    data = read_image_csv(path, csv_cfg(path))
    assert data.labels == ["cat", "dog"] and data.images.shape == (2, 10, 12, 3)
    assert data.where(1) == f"{path}, line 3"


@pytest.mark.parametrize("content,message", [
    ("path,label\nimgs/cat/0.png,cat\nimgs/cat/1.png\n", r"list.csv, line 3: expected 2 columns"),
    ("path,label\nimgs/cat/0.png,cat\nimgs/missing.png,dog\n", r"list.csv, line 3: .*missing.png: cannot read image"),
    ("file,label\nx.png,cat\n", r"list.csv, line 1: header .* lacks column\(s\) \['path'\]"),
    ("path,label\nimgs/cat/0.png,\n", r"line 2: empty label"),
])
def test_csv_bad_rows_name_the_line(tmp_path, content, message):
    make_folder(tmp_path / "imgs")
    path = tmp_path / "list.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_image_csv(path, csv_cfg(path))
