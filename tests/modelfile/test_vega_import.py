"""``cyclesr import-vega``: the five files a Vega run saves (state dicts under Vega's entry
names, docs/reference.md) become a published model that computes what those networks do."""
import math
import re

import pytest
import torch
import yaml

from cyclesr.cli import main
from cyclesr.config import config_from_dict
from cyclesr.model import build_model
from cyclesr.modelfile.publish import load_published

UPSCALE = 4


def tiny_vega_config() -> dict:
    """Vega's layout with the reference's networks at tiny sizes (Vega's D has 3 layers)."""
    custom = {"type": "CycleSRModel", "use_cuda": True, "use_distributed": False,
              "cyclegan": {"input_nc": 3, "output_nc": 3, "ngf": 4, "ndf": 4, "n_layers_D": 3,
                           "norm": "instance", "up_mode": "transpose", "n_blocks": 2},
              "VDSR": {"name": "VDSR", "SR_nb": 2, "SR_nf": 8, "SR_norm_type": "batch",
                       "upscale": UPSCALE, "input_nc": 3, "output_nc": 3}}
    return {"general": {"backend": "pytorch"},
            "fully_train": {"dataset": {"common": {"upscale": UPSCALE}},
                            "trainer": {"model_desc": {"modules": ["custom"], "custom": custom}}}}


def to_vega(name: str, state: dict) -> dict:
    """Our entries under Vega's names (the mapping of docs/reference.md, inverted)."""
    steps, out = int(math.log2(UPSCALE)), {}
    for key, value in state.items():
        if name in ("G", "F"):
            vega = re.sub(r"^model\.(\d+)\.", rf"generator.{name}\1.", key)
        elif name in ("D_X", "D_Y"):
            vega = re.sub(r"^model\.(\d+)\.", rf"discriminator.{name}\1.", key)
        else:
            head, index, rest = (key.split(".", 2) + [""])[:3]
            vega = {"head": lambda: f"model.0.{index}.{rest}".rstrip("."),
                    "body": lambda: "model.1.submodule.{}.{}".format(3 * int(index) + int(rest[0]), rest[2:]),
                    "upsample": lambda: f"model.{2 + int(index)}.{rest}",
                    "tail": lambda: f"model.{2 + 3 * steps + int(index)}.{rest}"}[head]()
        out[vega] = value.clone()
    return out


@pytest.fixture
def vega_run(tmp_path):
    """A Vega run folder saved from our own networks: epoch 5's files and the best ones."""
    cfg = config_from_dict(tiny_vega_config(), "vega.yml")
    torch.manual_seed(3)
    model = build_model(cfg)
    for bn in (m for m in model.SR.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 1.5)
    run = tmp_path / "worker0"
    (run / "5").mkdir(parents=True)
    for name in ("G", "F", "D_X", "D_Y", "SR"):
        state = to_vega(name, getattr(model, name).state_dict())
        if name == "SR":  # saved on the CPU from DataParallel: "module." in front
            state = {f"module.{k}": v for k, v in state.items()}
        torch.save(state, run / "5" / f"5_net_{name}.pth")
        torch.save(state, run / f"model_{name}.pth")
    config = tmp_path / "vega.yml"
    config.write_text(yaml.safe_dump(tiny_vega_config()))
    return run, config, model


@pytest.mark.parametrize("which", ["run", "epoch", "files"])
def test_a_vega_run_becomes_a_model_that_computes_the_same(vega_run, tmp_path, which):
    run, config, model = vega_run
    inputs = {"run": [run], "epoch": [run / "5"], "files": sorted((run / "5").iterdir())}[which]
    out = tmp_path / "model"
    assert main(["import-vega", *map(str, inputs), "--config", str(config), "-o", str(out)]) == 0
    sr, G, scale, desc = load_published(out)
    assert scale == UPSCALE and desc["G"]["name"] == "ResnetGenerator"
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(sr(x), model.SR.eval()(x))
        assert torch.equal(G(x), model.G.eval()(x))


def test_a_missing_network_is_refused_in_one_line(vega_run, tmp_path, capsys):
    run, config, _ = vega_run
    (run / "5" / "5_net_D_Y.pth").unlink()
    assert main(["import-vega", str(run / "5"), "--config", str(config), "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "D_Y" in err[0] and err[0].startswith("error:")


def test_weights_of_another_config_give_a_readable_key_diff(vega_run, tmp_path, capsys):
    run, config, _ = vega_run
    code = main(["import-vega", str(run), "--config", str(config), "--set", "model.sr.SR_nb=3",
                 "-o", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "model_SR.pth" in err[0] and "missing ['body.3.0.weight'" in err[0]
    assert not (tmp_path / "m").exists()
