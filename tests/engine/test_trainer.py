"""The trainer's contract: the synthetic recipe is checked before any work, the evaluators it is
given run at each evaluation epoch and the one that may choose best.pt does, the engine
publishes nothing, and ``cyclesr.api.train.train`` publishes the model and writes the report
(a report that fails is a warning, not a failed training)."""
import dataclasses
import json

import pytest

from cyclesr.api.train import train as api_train
from cyclesr.config import ConfigError, config_from_dict
from cyclesr.engine.checkpoint import load_checkpoint
from cyclesr.engine.evaluators import Evaluation, Evaluator
from cyclesr.engine.trainer import Trainer, train as engine_train
from cyclesr.engine.training_data import check_synth_recipe

SUMMARY_KEYS = {"run_dir", "epoch", "model_dir", "report", "global_step", "best", "interrupted",
                "seconds", "latest", "best_checkpoint"}


def tiny_cfg(data, **trainer):
    return config_from_dict({
        "dataset": {"upscale": 4, "train": {"HR_dir": str(data["hr"]), "LR_dir": str(data["real_lr"]),
                                            "batch_size": 2, "num_workers": 0, "crop_size": 8,
                                            "iters_per_epoch": 1}},
        "model": {"cyclegan": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_D": 1, "n_downsampling": 0,
                               "buffer_size": 2},
                  "sr": {"name": "VDSR", "SR_nb": 1, "SR_nf": 4, "SR_norm_type": "none"}},
        "trainer": {"n_epoch": 3, "n_epoch_decay": 1, "warmup_epochs": 1, "pretrain_epochs": 1,
                    "eval_epoch": 1, "device": "cpu", "noref_images": 0, **trainer}})


def with_recipe(cfg, recipe):
    """The config with another synthetic recipe, not validated again (as the trainer gets it
    from a config layer that leaves recipes to the data pipeline)."""
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, synth_mix=0.5, synth_recipe=recipe))


def test_synth_recipe_is_checked_before_any_work(tiny_data, tmp_path):
    cfg = tiny_cfg(tiny_data)
    check_synth_recipe(with_recipe(cfg, "generic"))
    check_synth_recipe(with_recipe(cfg, "fit"))
    check_synth_recipe(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, synth_recipe="nonsense(x=1)")))
    with pytest.raises(ConfigError, match="model.synth_recipe"):
        Trainer(with_recipe(cfg, "nonsense(x=1)"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


class ListScore(Evaluator):
    """Scores from a list, one per evaluation; keeps how many it gave in the checkpoint."""
    kind, metric, chooses_best = "listscore", "my_score", True

    def __init__(self, scores):
        self.scores, self.given = scores, 0

    def evaluate(self, run):
        self.given += 1
        return Evaluation({"my_score": self.scores[run.epoch - 1]}, score=self.scores[run.epoch - 1])

    def state_dict(self):
        return {"listscore_given": self.given}

    def load_state_dict(self, state):
        self.given = state["listscore_given"]


def test_given_evaluators_run_and_choose_best_in_epochs_that_train_sr(tiny_data, tmp_path):
    scores = [99.0, 1.0, 3.0, 2.0]  # epoch 1 is the warm-up: the SR network did not train
    run = tmp_path / "run"
    Trainer(tiny_cfg(tiny_data), run, progress=False, evaluators=[ListScore(scores)]).fit(until_epoch=2)
    resumed = ListScore(scores)
    summary = Trainer(tiny_cfg(tiny_data), run, resume=run / "checkpoints" / "latest.pt", progress=False,
                      evaluators=[resumed]).fit()
    assert resumed.given == 4 and summary["best"] == {"my_score": 3.0, "epoch": 3}
    assert load_checkpoint(run / "checkpoints" / "best.pt")["epoch"] == 4  # the next epoch to run
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["listscore_given"] == 4
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["my_score"] for r in rows if r["kind"] == "listscore"] == scores


def test_engine_publishes_nothing_and_the_api_publishes_and_reports(tiny_data, tmp_path, monkeypatch, capsys):
    cfg = tiny_cfg(tiny_data)
    summary = engine_train(cfg, tmp_path / "engine", progress=False)
    assert not (tmp_path / "engine" / "model").exists() and not (tmp_path / "engine" / "report.html").exists()
    assert summary["latest"] and not summary["interrupted"]

    import cyclesr.report.html

    def broken(run_dir, *args, **kwargs):
        raise RuntimeError("no plots today")
    monkeypatch.setattr(cyclesr.report.html, "build_report", broken)
    summary = api_train(cfg, tmp_path / "api", progress=False)
    assert set(summary) == SUMMARY_KEYS
    assert summary["report"] is None and "could not write the report: RuntimeError: no plots today" in capsys.readouterr().err
    assert summary["model_dir"] == str(tmp_path / "api" / "model")
    assert (tmp_path / "api" / "model" / "model.safetensors").is_file()
    card = json.loads((tmp_path / "api" / "model" / "model.json").read_text())["card"]
    n_hr, n_lr = (len(list(tiny_data[k].iterdir())) for k in ("hr", "real_lr"))
    assert card["training_iterations"] == summary["global_step"] > 0
    assert card["dataset_size"] == {"hr": n_hr, "real_lr": n_lr}
