"""Every image kind the API accepts comes back as the same kind, pixel for pixel."""
import numpy as np
import pytest
import torch
from PIL import Image

from cyclesr.api.images import ImageKind, from_float, to_float


def _rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("image", [
    _rng().integers(0, 256, (5, 7, 3), dtype=np.uint8),
    _rng().integers(0, 256, (5, 7, 4), dtype=np.uint8),
    _rng().integers(0, 256, (5, 7), dtype=np.uint8),
    _rng().integers(0, 65536, (5, 7, 3), dtype=np.uint16),
    _rng().integers(0, 65536, (5, 7, 2), dtype=np.uint16),
])
def test_integer_arrays_round_trip_exactly(image):
    rgb, alpha, kind = to_float(image)
    assert rgb.shape == (3, 5, 7) and rgb.dtype == torch.float32
    assert (alpha is not None) == (image.ndim == 3 and image.shape[-1] in (2, 4))
    back = from_float(rgb, alpha, kind)
    assert back.dtype == image.dtype and np.array_equal(back, image)


def test_float_arrays_and_tensors_keep_their_values():
    arr = _rng().random((4, 6, 3)).astype(np.float32)
    rgb, alpha, kind = to_float(arr)
    assert kind == ImageKind("numpy", "float32") and alpha is None
    assert np.allclose(from_float(rgb, alpha, kind), arr)
    t = torch.rand(4, 5, 6)
    rgb, alpha, kind = to_float(t)
    assert kind.container == "tensor" and torch.equal(from_float(rgb, alpha, kind), t)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_pil_images_round_trip_exactly(mode):
    base = Image.fromarray(_rng().integers(0, 256, (6, 5, 4), dtype=np.uint8), "RGBA")
    image = base.convert(mode)
    back = from_float(*to_float(image))
    assert back.mode == mode and np.array_equal(np.asarray(back), np.asarray(image))


def test_pil_16_bit_gray_keeps_all_bits():
    image = Image.fromarray(_rng().integers(0, 65536, (6, 5), dtype=np.uint16))
    back = from_float(*to_float(image))
    assert back.mode in ("I;16", "I") and np.array_equal(np.asarray(back), np.asarray(image))


def test_gray_results_use_the_luma_of_the_file_writer():
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 2, 2)
    out = from_float(rgb, None, ImageKind("numpy", "uint8", gray=True))
    assert out.shape == (2, 2) and out[0, 0] == round(0.299 * 255)


def test_unsupported_inputs_are_refused():
    with pytest.raises(TypeError, match="PIL image, numpy array or tensor"):
        to_float([[0.0]])
    with pytest.raises(ValueError, match="1 to 4 channels"):
        to_float(torch.rand(5, 4, 4))


def test_integer_arrays_are_scaled_by_their_bit_depth():
    arr = np.array([[[0, 2**31, 2**32 - 1]]], np.uint32)
    rgb, _, _ = to_float(arr)
    assert rgb[:, 0, 0].tolist() == pytest.approx([0, 0.5, 1], abs=1e-6)
    rgb, _, _ = to_float(np.array([[[-7, 2**14, 2**15 - 1]]], np.int16))
    assert rgb[:, 0, 0].tolist() == pytest.approx([0, 0.5, 1], abs=1e-4)


@pytest.mark.parametrize("bad, match", [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"),
                                        (255.0, "values up to 255.*divide")])
def test_float_images_outside_0_1_are_refused(bad, match):
    arr = np.full((4, 4, 3), 0.5, np.float32)
    arr[1, 1, 1] = bad
    with pytest.raises(ValueError, match=match):
        to_float(arr)
    with pytest.raises(ValueError, match=match):
        to_float(torch.from_numpy(arr).permute(2, 0, 1))
