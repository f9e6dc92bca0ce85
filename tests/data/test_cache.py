"""The disk cache: same data as in memory, reused across runs, rebuilt when a file changes,
and read batch by batch (never the whole set) by the pipeline."""

import numpy as np
import pytest
from data_layouts import disc, rgb, save_png, write_drive

from keras_seg import data
from keras_seg.data import assemble, cache
from keras_seg.data.pipeline import make_dataset
from keras_seg.errors import UserError


def _folder(root, volumes=3, slices=4, size=20):
    for v in range(volumes):
        for k in range(slices):
            image = rgb(size, size, 10 * v + k)
            if v == 1:
                image = image[..., 0]  # a grey volume in a colour set
            save_png(root / "images" / f"v{v}" / f"s{k}.png", image)
            save_png(root / "masks" / f"v{v}" / f"s{k}.png",
                     disc(size, size, size / 2, size / 2, k + v) * 255)
    return root


def _count_decodes(monkeypatch):
    calls = []
    original = assemble.decode_record

    def counting(record):
        calls.append(record.image)
        return original(record)

    monkeypatch.setattr(assemble, "decode_record", counting)
    return calls


def test_disk_equals_memory_and_is_lazy(tmp_path):
    _folder(tmp_path / "d")
    memory = data.load("folder", tmp_path / "d", 16)
    disk = data.load("folder", tmp_path / "d", 16, cache="disk", cache_dir=tmp_path / "c")
    assert cache.is_lazy(disk.images) and disk.images.shape == memory.images.shape
    np.testing.assert_array_equal(np.asarray(disk.images), memory.images)
    np.testing.assert_array_equal(np.asarray(disk.masks), memory.masks)
    assert disk.weights is None and disk.names.tolist() == memory.names.tolist()
    assert disk.geometry.tolist() == memory.geometry.tolist()
    train = disk.select_volumes(["v1", "v2"])
    assert cache.is_lazy(train.images)
    np.testing.assert_array_equal(train.images[2], memory.images[6])
    assert train.masks.positive.tolist() == [
        bool(m.any()) for m in memory.select_volumes(["v1", "v2"]).masks]


def test_regions_of_interest_and_patch_sets(tmp_path):
    write_drive(tmp_path / "d")
    memory = data.load("drive", tmp_path / "d", 16)
    disk = data.load("drive", tmp_path / "d", 16, cache="disk", cache_dir=tmp_path / "c")
    assert disk.patch_size == 16
    np.testing.assert_array_equal(np.asarray(disk.weights), memory.weights)
    for training in (True, False):  # same seeds: the same batches, read from disk
        a = list(make_dataset(memory, 2, training=training, seed=3))
        b = list(make_dataset(disk, 2, training=training, seed=3))
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            for u, v in zip(x, y, strict=True):
                np.testing.assert_allclose(u.numpy(), v.numpy(), atol=1e-6)


def test_reused_by_a_later_run_without_decoding(tmp_path, monkeypatch):
    _folder(tmp_path / "d")
    first = data.load("folder", tmp_path / "d", 16, cache="disk", cache_dir=tmp_path / "c")
    calls = _count_decodes(monkeypatch)
    again = data.load("folder", tmp_path / "d", 16, cache="disk", cache_dir=tmp_path / "c")
    assert calls == []
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(first.images))
    data.load("folder", tmp_path / "d", 12, cache="disk", cache_dir=tmp_path / "c")
    assert len(calls) == 12  # another image size is another entry


def test_a_changed_file_rebuilds_only_its_volume(tmp_path, monkeypatch):
    _folder(tmp_path / "d")
    cache_dir = tmp_path / "c"
    data.load("folder", tmp_path / "d", 16, cache="disk", cache_dir=cache_dir)
    entries = sorted(p for p in cache_dir.glob("*/*") if p.is_dir())
    calls = _count_decodes(monkeypatch)
    save_png(tmp_path / "d" / "images" / "v2" / "s1.png", np.full((20, 20, 3), 7, np.uint8))
    disk = data.load("folder", tmp_path / "d", 16, cache="disk", cache_dir=cache_dir)
    assert sorted(calls) == sorted(str(tmp_path / "d" / "images" / "v2" / f"s{k}.png")
                                   for k in range(4))
    memory = data.load("folder", tmp_path / "d", 16)
    np.testing.assert_array_equal(np.asarray(disk.images), memory.images)
    now = sorted(p for p in cache_dir.glob("*/*") if p.is_dir())
    assert len(now) == len(entries) == 3 and len(set(now) - set(entries)) == 1  # stale removed


def test_the_pipeline_never_materialises_the_set(tmp_path, monkeypatch):
    _folder(tmp_path / "d", volumes=4, slices=5)
    disk = data.load("folder", tmp_path / "d", 16, cache="disk", cache_dir=tmp_path / "c")
    reads = []
    original = cache.DiskArray.read

    def read(self, rows):
        reads.append(len(np.asarray(rows).reshape(-1)))
        return original(self, rows)

    def whole(self, dtype=None, copy=None):
        raise AssertionError("the whole disk array was read")

    monkeypatch.setattr(cache.DiskArray, "read", read)
    monkeypatch.setattr(cache.DiskArray, "__array__", whole)
    train, val = data.split_by_volume(disk, 1, 0)
    batches = list(make_dataset(train, 3, training=True, seed=0))
    assert sum(int(b[0].shape[0]) for b in batches) == 15
    list(make_dataset(val, 3, training=False))
    assert reads and max(reads) <= 3  # one batch of rows at a time
    assert sum(reads) == 2 * 15 + 2 * 5  # images and masks, each slice once per pass


def test_bad_cache_mode(tmp_path):
    _folder(tmp_path / "d", volumes=1, slices=1)
    with pytest.raises(UserError, match="unknown data.cache 'ram'; valid: memory, disk"):
        data.load("folder", tmp_path / "d", cache="ram")
