"""The schedule: phases and learning rates at phase and decay boundaries."""
import pytest

from cyclesr.config import TrainerConfig
from cyclesr.engine.schedule import learning_rates, lr_factor, phase_at


def test_reference_phases():
    t = TrainerConfig()  # warm-up 5, pretrain 1, then joint
    assert [phase_at(e, t).name for e in (1, 5, 6, 7, 200)] == \
        ["transfer", "transfer", "pretrain", "joint", "joint"]


def _vega_lr(base, epoch, n_epoch, n_epoch_decay):
    """Vega's update_learning_rate (algorithm.md), with its phase switch-offs."""
    lr = base - max(0, epoch - n_epoch) * base / n_epoch_decay
    return lr


@pytest.mark.parametrize("n_epoch, n_decay", [(100, 100), (10, 7), (3, 1)])
def test_linear_is_vegas_rule_every_epoch(n_epoch, n_decay):
    t = TrainerConfig(n_epoch=n_epoch, n_epoch_decay=n_decay)  # lr_policy linear
    for e in range(1, n_epoch + n_decay + 1):
        lrs = learning_rates(e, t, 2e-4, 1e-4)
        transfer = 0.0 if e == 6 else _vega_lr(2e-4, e, n_epoch, n_decay)  # epoch 6: SR only
        sr = 0.0 if e < 6 else _vega_lr(1e-4, e, n_epoch, n_decay)
        assert lrs["transfer"] == pytest.approx(transfer, abs=1e-15)
        assert lrs["sr"] == pytest.approx(sr, abs=1e-15)
    assert lr_factor(n_epoch + n_decay, t) == 0.0  # the last epoch runs at exactly 0


def test_reference_phase_boundaries_are_vegas():
    t = TrainerConfig()
    assert [phase_at(e, t).name for e in range(1, 9)] == ["transfer"] * 5 + ["pretrain"] + ["joint"] * 2


def test_linear_cyclegan_keeps_cyclegans_rule():
    t = TrainerConfig(n_epoch=100, n_epoch_decay=100, lr_policy="linear_cyclegan")
    assert lr_factor(100, t) == 1.0
    assert lr_factor(101, t) == pytest.approx(1 - 1 / 101)
    assert lr_factor(200, t) == pytest.approx(1 - 100 / 101)
    assert all(lr_factor(e, t) > lr_factor(e + 1, t) for e in range(100, 200))


def test_step_and_cosine():
    t = TrainerConfig(n_epoch=10, n_epoch_decay=10, lr_policy="step", lr_decay_step=5,
                      lr_decay_gamma=0.5)
    assert [lr_factor(e, t) for e in (10, 11, 15, 16, 20)] == [1.0, 0.5, 0.5, 0.25, 0.25]
    c = TrainerConfig(n_epoch=10, n_epoch_decay=10, lr_policy="cosine")
    vals = [lr_factor(e, c) for e in range(10, 21)]
    assert vals[0] == 1.0 and all(a > b for a, b in zip(vals, vals[1:])) and vals[-1] > 0


def test_phase_learning_rates_switch_networks_off():
    t = TrainerConfig(n_epoch=10, n_epoch_decay=10, warmup_epochs=2, pretrain_epochs=1)
    assert learning_rates(1, t, 2e-4, 1e-4) == {"transfer": 2e-4, "sr": 0.0}
    assert learning_rates(3, t, 2e-4, 1e-4) == {"transfer": 0.0, "sr": 1e-4}
    assert learning_rates(4, t, 2e-4, 1e-4) == {"transfer": 2e-4, "sr": 1e-4}
    late = learning_rates(15, t, 2e-4, 1e-4)
    assert late["transfer"] == pytest.approx(2e-4 * (1 - 5 / 10))


def test_mix_ramp_runs_over_the_joint_epochs():
    from cyclesr.engine.schedule import MixRamp
    t = TrainerConfig(n_epoch=8, n_epoch_decay=2, warmup_epochs=3, pretrain_epochs=1)
    ramp = MixRamp.from_config(0.75, 0.25, t)
    assert (ramp.first, ramp.last) == (5, 10)
    assert ramp(1) == ramp(5) == 0.75 and ramp(10) == ramp(12) == 0.25
    assert ramp(7) == pytest.approx(0.75 - 0.5 * 2 / 5)
