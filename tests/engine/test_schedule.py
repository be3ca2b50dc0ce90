"""The schedule: phases and learning rates at phase and decay boundaries."""
import pytest

from cyclesr.config import TrainerConfig
from cyclesr.engine.schedule import learning_rates, lr_factor, phase_at


def test_reference_phases():
    t = TrainerConfig()  # warm-up 5, pretrain 1, then joint
    assert [phase_at(e, t).name for e in (1, 5, 6, 7, 200)] == \
        ["transfer", "transfer", "pretrain", "joint", "joint"]


def test_linear_decay_boundaries():
    t = TrainerConfig(n_epoch=100, n_epoch_decay=100)
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
    assert late["transfer"] == pytest.approx(2e-4 * (1 - 5 / 11))


def test_mix_ramp_runs_over_the_joint_epochs():
    from cyclesr.engine.schedule import MixRamp
    t = TrainerConfig(n_epoch=8, n_epoch_decay=2, warmup_epochs=3, pretrain_epochs=1)
    ramp = MixRamp.from_config(0.75, 0.25, t)
    assert (ramp.first, ramp.last) == (5, 10)
    assert ramp(1) == ramp(5) == 0.75 and ramp(10) == ramp(12) == 0.25
    assert ramp(7) == pytest.approx(0.75 - 0.5 * 2 / 5)
