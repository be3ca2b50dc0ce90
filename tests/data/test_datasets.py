"""The unpaired training set and the paired evaluation set."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from cyclesr.data.datasets import PairedDataset, UnpairedDataset
from cyclesr.data.degrade import bicubic_downscale
from cyclesr.data.io import load_rgb, write_image
from cyclesr.data.png16 import encode_png

CROP, SCALE = 8, 4


def _save(path, h, w, seed=0, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


@pytest.fixture
def folders(tmp_path):
    hr, lr = tmp_path / "hr", tmp_path / "lr"
    _save(hr / "a.png", 70, 90, seed=1)
    _save(hr / "sub" / "b.jpg", 40, 33, seed=2)
    _save(hr / "gray.png", 36, 36, seed=3, mode="L")
    _save(lr / "x.png", 20, 30, seed=4)
    _save(lr / "y.png", 12, 9, seed=5, mode="RGBA")
    (hr / "notes.txt").write_text("ignored")
    (lr / "labels.csv").write_text("ignored")
    return hr, lr


def test_items_have_the_right_shapes(folders):
    data = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE)
    assert len(data) == 3
    for index in range(len(data)):
        item = data[index]
        assert item["hr"].shape == (3, CROP * SCALE, CROP * SCALE)
        assert item["clean_lr"].shape == item["real_lr"].shape == (3, CROP, CROP)
        for value in item.values():
            assert value.dtype == torch.float32 and 0 <= value.min() and value.max() <= 1
        assert torch.allclose(item["clean_lr"], bicubic_downscale(item["hr"], SCALE))
    assert len(UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, length=50)) == 50


def test_hr_crop_comes_from_the_full_size_image(folders):
    hr_dir, lr_dir = folders
    data = UnpairedDataset(hr_dir, lr_dir, crop_size=CROP, scale=SCALE, augment=False)
    source = load_rgb(hr_dir / "a.png")  # first HR image: item 0
    tops_lefts = set()
    for epoch in range(4):
        data.set_epoch(epoch)
        crop = data[0]["hr"]
        windows = source.unfold(1, 32, 1).unfold(2, 32, 1)  # (3, nh, nw, 32, 32)
        match = (windows - crop[:, None, None]).abs().amax(dim=(0, 3, 4)) == 0
        assert match.any()
        tops_lefts.add(tuple(match.nonzero()[0].tolist()))
    assert len(tops_lefts) > 1  # crops move around the image between epochs


def test_too_small_images_are_skipped_with_one_warning(folders):
    hr_dir, lr_dir = folders
    _save(hr_dir / "tiny_hr.png", 20, 50)
    _save(lr_dir / "tiny_lr.png", 5, 5)
    (hr_dir / "broken_hr.png").write_bytes(b"")
    with pytest.warns(UserWarning) as record:
        data = UnpairedDataset(hr_dir, lr_dir, crop_size=CROP, scale=SCALE)
    assert len(record) == 1
    message = str(record[0].message)
    assert "tiny_hr.png" in message and "tiny_lr.png" in message and "broken_hr.png" in message
    assert len(data) == 3 and all(p.name.startswith(("a", "b", "gray")) for p in data.hr_paths)


def test_folder_without_usable_images_is_an_error(tmp_path, folders):
    hr_dir, lr_dir = folders
    small = tmp_path / "small"
    _save(small / "s.png", 16, 16)
    with pytest.raises(ValueError, match=r"small.*32x32"):
        UnpairedDataset(small, lr_dir, crop_size=CROP, scale=SCALE)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images found"):
        UnpairedDataset(hr_dir, empty, crop_size=CROP, scale=SCALE)


def test_gray_and_rgba_inputs_give_three_channels(tmp_path):
    _save(tmp_path / "hr" / "g.png", 40, 40, mode="L")
    _save(tmp_path / "lr" / "r.png", 10, 10, mode="RGBA")
    write_image(tmp_path / "lr" / "t.tif", torch.rand(3, 9, 9), torch.rand(1, 9, 9), bit_depth=16, gray=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the 16-bit gray+alpha TIFF (Pillow can't open it) is usable
        data = UnpairedDataset(tmp_path / "hr", tmp_path / "lr", crop_size=CROP, scale=SCALE)
    assert len(data.lr_paths) == 2
    item = data[0]
    assert item["hr"].shape[0] == item["real_lr"].shape[0] == 3
    assert torch.equal(item["hr"][0], item["hr"][2])


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in ("hr", "clean_lr", "real_lr"))


def test_sampling_is_reproducible(folders):
    first = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, seed=3)
    second = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, seed=3, cache=True)
    other = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, seed=4)
    assert all(_same(first[i], second[i]) for i in range(3))
    assert all(_same(first[i], second[i]) for i in range(3))  # now from the uint8 cache
    assert not all(_same(first[i], other[i]) for i in range(3))
    first.set_epoch(2)
    assert _same(first[1], second[(2, 1)])  # (epoch, index) pairs equal set_epoch
    assert not _same(first[1], second[1])


def test_worker_processes_give_the_same_samples(folders):
    data = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, length=6)
    direct = torch.stack([data[i]["real_lr"] for i in range(6)])
    loader = DataLoader(data, batch_size=3, num_workers=2)
    assert torch.equal(torch.cat([batch["real_lr"] for batch in loader]), direct)


def test_decode_failure_after_construction_is_replaced_and_warned_once(tmp_path, folders):
    hr_dir, lr_dir = folders
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data_bytes = encode_png(pixels)
    (hr_dir / "0_truncated.png").write_bytes(data_bytes[: len(data_bytes) // 2])  # header intact
    data = UnpairedDataset(hr_dir, lr_dir, crop_size=CROP, scale=SCALE)
    assert data.hr_paths[0].name == "0_truncated.png"
    with pytest.warns(UserWarning, match="0_truncated.png"):
        item = data[0]
    assert item["hr"].shape == (3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.set_epoch(1)
        data[0]  # the same broken file: no second warning


def test_paired_dataset_matches_by_stem(tmp_path):
    lr_dir, hr_dir = tmp_path / "lr", tmp_path / "hr"
    _save(lr_dir / "img_001.png", 8, 8)
    _save(lr_dir / "sub" / "img_002.jpg", 8, 8)
    _save(lr_dir / "0801x4.png", 8, 8)
    _save(hr_dir / "img_001.jpg", 32, 32)
    _save(hr_dir / "sub" / "img_002.png", 32, 32)
    _save(hr_dir / "0801.png", 32, 32)
    data = PairedDataset(lr_dir, hr_dir)
    assert [data[i]["name"] for i in range(len(data))] == ["0801x4", "img_001", "sub/img_002"]
    item = data[2]
    assert item["lr"].shape == (3, 8, 8) and item["hr"].shape == (3, 32, 32)
    assert "hr" not in PairedDataset(lr_dir)[0]

    _save(lr_dir / "lonely.png", 8, 8)
    with pytest.raises(ValueError, match="lonely"):
        PairedDataset(lr_dir, hr_dir)


def test_paired_dataset_reads_16bit_and_alpha(tmp_path):
    write_image(tmp_path / "lr" / "a.png", torch.rand(3, 6, 5), alpha=torch.rand(1, 6, 5), bit_depth=16)
    assert PairedDataset(tmp_path / "lr")[0]["lr"].shape == (3, 6, 5)


def test_synthetic_lr_has_clean_lr_size_and_is_reproducible(folders):
    plain = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, seed=3)
    mixed = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, seed=3, synth_recipe="generic",
                            synth_mix=0.5, length=40)
    again = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, seed=3, synth_recipe="generic",
                            synth_mix=0.5, length=40)
    assert mixed.synth_recipe.scale == SCALE  # the preset's last down step follows `scale`
    flags = []
    for i in range(40):
        item = mixed[i]
        assert item["synth_lr"].shape == item["clean_lr"].shape == (3, CROP, CROP)
        assert item["use_synth"].shape == (1, 1, 1) and item["synth_lr"].dtype == torch.float32
        assert torch.equal(item["synth_lr"], again[i]["synth_lr"])
        assert torch.equal(item["use_synth"], again[i]["use_synth"])
        flags.append(float(item["use_synth"]))
        if i < 3:  # the synthetic branch has its own generator: the other keys are unchanged
            assert _same(item, plain[i])
    assert 0 < sum(flags) < 40  # about half of the samples are flagged
    mixed.set_epoch(1)
    assert not torch.equal(mixed[0]["synth_lr"], again[0]["synth_lr"])
    only = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, synth_recipe="generic", synth_mix=1.0)
    assert all(float(only[i]["use_synth"]) == 1.0 for i in range(3))


def test_synthetic_share_can_follow_the_epoch(folders):
    """model.synth_mix -> synth_mix_end: the dataset draws its flags with the epoch's share."""
    from cyclesr.engine.schedule import MixRamp
    ramp = MixRamp(start=1.0, end=0.0, first=2, last=4)
    data = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, synth_recipe="bicubic", synth_mix=ramp, length=30)
    share = {epoch: sum(float(data[(epoch, i)]["use_synth"]) for i in range(30)) / 30 for epoch in (1, 2, 3, 4)}
    assert share[1] == share[2] == 1.0 and share[4] == 0.0 and 0.2 < share[3] < 0.8


def test_reference_pipeline_pil_x_and_hr_flips_only(folders):
    """x_resize pil: X is PIL's bicubic of the 8-bit HR crop; hr_flips: HR (and so X) may be
    flipped, real LR never is (it stays a plain crop of its image)."""
    from cyclesr.data.datasets import pil_bicubic_downscale
    data = UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, augment="hr_flips", x_resize="pil")
    lr_images = [load_rgb(p) for p in data.lr_paths]
    for i in range(12):
        item = data[i]
        pil = Image.fromarray((item["hr"] * 255).round().byte().permute(1, 2, 0).numpy())
        expected = np.asarray(pil.resize((CROP, CROP), Image.BICUBIC)).astype(np.float32) / 255
        assert torch.equal(item["clean_lr"], torch.from_numpy(expected).permute(2, 0, 1))
        assert torch.equal(pil_bicubic_downscale(item["hr"], SCALE), item["clean_lr"])
        windows = [img.unfold(1, CROP, 1).unfold(2, CROP, 1) for img in lr_images]
        assert any((w == item["real_lr"][:, None, None]).all(0).flatten(2).all(-1).any() for w in windows)
    with pytest.raises(ValueError, match="augment"):
        UnpairedDataset(*folders, crop_size=CROP, scale=SCALE, augment="rot90")


def test_drop_last_false_keeps_a_short_last_batch():
    from cyclesr.data.loader import EpochSampler
    kept = EpochSampler(10, 4, shuffle=False, drop_last=False)
    dropped = EpochSampler(10, 4, shuffle=False)
    assert (len(kept), len(dropped)) == (10, 8)
    kept.set_epoch(1, skip_batches=2)
    assert [i for _, i in kept] == [8, 9]
