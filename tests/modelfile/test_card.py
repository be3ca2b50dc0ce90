"""model.json carries the model card's facts and the learned degradation in numbers."""
import json

import torch

from cyclesr.config import config_from_dict
from cyclesr.model import build_model
from cyclesr.modelfile.card import degradation_numbers
from cyclesr.modelfile.publish import publish


def test_published_description_has_card_and_degradation(tmp_path):
    cfg = config_from_dict({"dataset": {"upscale": 2, "train": {"batch_size": 4, "crop_size": 24}},
                            "model": {"G": {"name": "CameraJpegGenerator", "kernel_size": 5},
                                      "sr": {"name": "SRVGGNetCompact", "num_feat": 4, "num_conv": 1}}})
    nets = build_model(cfg)
    nets.G.jpeg_quality.copy_(torch.tensor([55.0, 85.0]))
    with torch.no_grad():
        nets.G.beta.copy_(torch.tensor([1.0, 2.0, 3.0]) / 255)
    publish(nets.SR, nets.G, cfg, tmp_path, training={"iterations": 1234, "dataset_size": 10})
    desc = json.loads((tmp_path / "model.json").read_text())
    card = desc["card"]
    assert card["architecture"] == "SRVGGNetCompact" and card["scale"] == 2
    assert (card["input_channels"], card["output_channels"]) == (3, 3)
    assert (card["batch_size"], card["hr_size"], card["training_iterations"], card["dataset_size"]) == (4, 48, 1234, 10)
    deg = desc["degradation"]
    assert deg["kernel_size"] == 5 and deg["jpeg_quality_range"] == [55.0, 85.0]
    assert deg["noise_beta_8bit"] == [1.0, 2.0, 3.0]
    assert 0 < deg["kernel_width_px"] < 1  # the start kernel: 94% of the weight at the centre


def test_kernel_width_of_a_delta_is_zero_and_grows_with_blur():
    class Fake(torch.nn.Module):
        def __init__(self, kernel):
            super().__init__()
            self.k, self.beta, self.alpha = kernel, torch.zeros(3), torch.zeros(3)
            self.jpeg_quality = torch.zeros(2)

        def kernel(self):
            return self.k

    delta = torch.zeros(5, 5)
    delta[2, 2] = 1
    box = torch.ones(5, 5) / 25
    assert degradation_numbers(Fake(delta))["kernel_width_px"] == 0
    assert degradation_numbers(Fake(box))["kernel_width_px"] == round(2 ** 0.5, 4)
    assert degradation_numbers(Fake(box))["jpeg_quality_range"] is None
