"""End to end through the CLI on tiny generated data, with a config in Vega's layout."""
import json

import pytest
import torch

from cyclesr.cli import main
from cyclesr.data.io import load_rgb
from cyclesr.engine.checkpoint import load_checkpoint

NETS = ("G", "F", "D_X", "D_Y", "SR")


def _train(cfg, out, *extra):
    return main(["train", "--config", str(cfg), "--output-dir", str(out), "--no-progress", *extra])


def test_train_upscale_evaluate_degrade(vega_config_file, tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(vega_config_file, run) == 0
    for name in ("checkpoints/latest.pt", "checkpoints/best.pt", "config.yml", "metrics.jsonl",
                 "model/model.safetensors", "model/model.json"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").iterdir())
    kinds = {json.loads(line)["kind"] for line in (run / "metrics.jsonl").read_text().splitlines()}
    assert kinds == {"train", "val", "noref"}
    assert "next:" in capsys.readouterr().out

    up = tmp_path / "up"
    assert main(["upscale", "--checkpoint", str(run / "model"), str(tiny_data["val_lr"]), "-o", str(up)]) == 0
    for lr_file in tiny_data["val_lr"].iterdir():
        lr, sr = load_rgb(lr_file), load_rgb(up / lr_file.name)
        assert sr.shape[-2:] == (lr.shape[-2] * 4, lr.shape[-1] * 4)

    report = tmp_path / "eval.json"
    assert main(["evaluate", "--checkpoint", str(run / "checkpoints" / "best.pt"),
                 "--lr", str(tiny_data["val_lr"]), "--hr", str(tiny_data["val_hr"]),
                 "--shift-search", "1", "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert set(result["images"]) == {"v0", "v1"}
    for section in (result["mean"], result["images"]["v0"]):
        for method in ("cyclesr", "bicubic"):
            assert set(section[method]) >= {"psnr_rgb", "psnr_y", "ssim_y"}
    assert result["mean"]["bicubic"]["psnr_y"] > 20  # smooth images: bicubic is good

    deg = tmp_path / "deg"
    assert main(["degrade", "--checkpoint", str(run / "checkpoints" / "latest.pt"),
                 str(tiny_data["hr"]), "-o", str(deg)]) == 0
    hr = load_rgb(tiny_data["hr"] / "hr_0.png")
    assert load_rgb(deg / "hr_0.png").shape[-2:] == (hr.shape[-2] // 4, hr.shape[-1] // 4)


def test_resume_ends_with_same_weights(vega_config_file, tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    assert _train(vega_config_file, full) == 0
    assert _train(vega_config_file, split, "--until-epoch", "2") == 0
    mid = load_checkpoint(split / "checkpoints" / "latest.pt")
    assert mid["epoch"] == 3  # the next epoch to run: joint training
    assert _train(vega_config_file, split, "--resume") == 0
    a = load_checkpoint(full / "checkpoints" / "latest.pt")
    b = load_checkpoint(split / "checkpoints" / "latest.pt")
    assert a["global_step"] == b["global_step"] == 8
    for net in NETS:
        for key, value in a["nets"][net].items():
            assert torch.equal(value, b["nets"][net][key]), f"{net}.{key} differs after resume"
    for k in ("gen", "sr"):
        sa, sb = a["optim"][k]["state"], b["optim"][k]["state"]
        assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)


def test_bad_config_stops_before_work(vega_config_file, tmp_path, capsys):
    code = main(["train", "--config", str(vega_config_file), "--output-dir", str(tmp_path / "r"),
                 "--set", "dataset.train.crop_size=18"])
    assert code == 2
    err = capsys.readouterr().err
    assert "dataset.train.crop_size" in err and str(vega_config_file) in err
    assert not (tmp_path / "r").exists()


def test_help_has_examples(capsys):
    for cmd in ("train", "upscale", "evaluate", "degrade", "synth", "demo"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "examples:" in capsys.readouterr().out


def test_demo_with_reduced_budget(tmp_path, capsys):
    from cyclesr.demo import run_demo
    out = run_demo(tmp_path / "demo", minutes=0.2, progress=False)
    page = tmp_path / "demo" / "index.html"
    assert page.is_file() and page.read_text().count("data:image/png;base64,") == 4
    assert set(out["metrics"]) == {"cyclesr", "bicubic"}
    assert (tmp_path / "demo" / "upscaled" / "chelsea.png").is_file()
    text = capsys.readouterr().out
    assert "page:" in text and "next:" in text
