"""Training steps: which networks change in which phase, and the optimised step equals a plain
implementation of the reference's iteration (``cyclesr.bench.reference_step``: every network
call separate, the SR network run twice in the joint phase)."""

import dataclasses

import pytest
import torch

from cyclesr.config import config_from_dict
from cyclesr.engine.buffer import ImageBuffer
from cyclesr.engine.setup import make_optimizers, make_settings
from cyclesr.engine.steps import StepNets, joint_step, pretrain_step, run_step, transfer_step
from cyclesr.model import build_model
from cyclesr.bench.reference_step import make_reference_optimizers, reference_transfer_step

NAMES = ("G", "F", "D_X", "D_Y", "SR")


def tiny_cfg(trainer=None, **model):
    return config_from_dict({"trainer": trainer or {},
        "dataset": {"upscale": 2, "train": {"crop_size": 16, "batch_size": 2}},
        "model": {"cyclegan": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_D": 2, "buffer_size": 3},
                  "sr": {"name": "VDSR", "SR_nb": 2, "SR_nf": 8, "SR_norm_type": "batch"},
                  "grad_clip": 0.05, **model}})


def setup(cfg, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    model = build_model(cfg).to(dtype)
    nets = StepNets(*(getattr(model, k) for k in NAMES))
    opt = make_optimizers(model, cfg, torch.device("cpu"))
    return model, nets, opt, (ImageBuffer(3, seed=1), ImageBuffer(3, seed=2))


def batch(dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {"clean_lr": torch.rand(2, 3, 16, 16, generator=g, dtype=dtype),
            "real_lr": torch.rand(2, 3, 16, 16, generator=g, dtype=dtype),
            "hr": torch.rand(2, 3, 32, 32, generator=g, dtype=dtype)}


def snapshot(model):
    return {k: [p.detach().clone() for p in getattr(model, k).parameters()] for k in NAMES}


def changed(before, model):
    return {k for k in NAMES
            if any(not torch.equal(a, b) for a, b in zip(before[k], getattr(model, k).parameters()))}


@pytest.mark.parametrize("phase, expected", [
    ("transfer", {"G", "F", "D_X", "D_Y"}), ("pretrain", {"SR"}), ("joint", set(NAMES))])
def test_phase_updates_the_right_networks(phase, expected):
    cfg = tiny_cfg()
    model, nets, opt, bufs = setup(cfg)
    before = snapshot(model)
    s = make_settings(cfg, torch.device("cpu"))
    out = run_step(phase, nets, opt, batch(), s, bufs)
    assert out["ok"] and changed(before, model) == expected
    assert all(torch.isfinite(v) for v in out["losses"].values())


def test_frozen_transfer_trains_the_sr_network_as_the_joint_step_does():
    """model.cyc_lr: 0 keeps G, F and the discriminators; the SR network takes the update the
    joint step gives it with cycleSR_lam 0 (it sees G(X) from before G's update there too)."""
    cfg = tiny_cfg({"warmup_epochs": 0}, SR_lam=5.0, cycleSR_lam=0.0, cyc_lr=0.0)
    s = make_settings(cfg, torch.device("cpu"))
    assert not s.train_transfer
    model_a, nets_a, opt_a, bufs_a = setup(cfg, torch.float64)
    before = snapshot(model_a)
    out = run_step("joint", nets_a, opt_a, batch(torch.float64), s, bufs_a)
    assert out["ok"] and changed(before, model_a) == {"SR"} and set(out["losses"]) == {"sr"}
    model_b, nets_b, opt_b, bufs_b = setup(tiny_cfg(SR_lam=5.0, cycleSR_lam=0.0), torch.float64)
    joint_step(nets_b, opt_b, batch(torch.float64), dataclasses.replace(s, train_transfer=True), bufs_b)
    for pa, pb in zip(model_a.SR.parameters(), model_b.SR.parameters()):
        assert torch.allclose(pa, pb, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("lams", [(1000.0, 1000.0), (1000.0, 10.0), (5.0, 0.0)])
@pytest.mark.parametrize("joint", [False, True])
def test_optimised_step_equals_plain_step(joint, lams):
    cfg = tiny_cfg(SR_lam=lams[0], cycleSR_lam=lams[1])
    s = make_settings(cfg, torch.device("cpu"))
    assert s.batch_generators and s.batch_discriminators
    model_a, nets_a, opt_a, bufs_a = setup(cfg, torch.float64)
    model_b, _, _, bufs_b = setup(cfg, torch.float64)
    opt_b = make_reference_optimizers(model_b, cfg)
    for _ in range(2):  # two iterations: the buffer starts swapping, Adam has momentum
        data = batch(torch.float64)
        (joint_step if joint else transfer_step)(nets_a, opt_a, data, s, bufs_a)
        reference_transfer_step(model_b, opt_b, data, s, bufs_b, joint=joint)
    # float64, so batching changes nothing visible; atol is far below one Adam step (lr 2e-4)
    for k in NAMES:
        for (name, pa), pb in zip(getattr(model_a, k).named_parameters(), getattr(model_b, k).parameters()):
            assert torch.allclose(pa, pb, rtol=1e-6, atol=1e-7), f"{k}.{name} differs by {(pa - pb).abs().max():.3g}"


def test_bf16_autocast_on_cpu_runs_the_step_in_bf16():
    """trainer.amp: bf16 works on a CPU (fast with AVX512-BF16/AMX): the convolutions run in
    bf16, the update stays close to the fp32 one, the weights stay fp32."""
    cfg = tiny_cfg()
    cfg16 = config_from_dict({**cfg.to_dict(), "trainer": {**cfg.to_dict()["trainer"], "amp": "bf16"}})
    s32, s16 = make_settings(cfg, torch.device("cpu")), make_settings(cfg16, torch.device("cpu"))
    with s16.autocast():
        assert torch.nn.functional.conv2d(torch.rand(1, 3, 4, 4), torch.rand(2, 3, 3, 3)).dtype == torch.bfloat16
    results, losses = [], []
    for s in (s32, s16):
        model, nets, opt, bufs = setup(cfg)
        before = snapshot(model)
        out = joint_step(nets, opt, batch(), s, bufs)
        assert out["ok"]
        losses.append(out["losses"])
        results.append({k: [p - b for p, b in zip(getattr(model, k).parameters(), before[k])] for k in NAMES})
        assert all(p.dtype == torch.float32 for p in model.parameters())
    for name, value in losses[0].items():
        assert torch.isclose(losses[1][name].float(), value, rtol=0.05, atol=1e-3), name
    for k in NAMES:  # Adam's first step is about lr * sign(grad): unrelated updates would give ~0;
        # bf16 flips the sign of the tiniest gradients only
        d32, d16 = torch.cat([d.flatten() for d in results[0][k]]), torch.cat([d.flatten() for d in results[1][k]])
        assert torch.nn.functional.cosine_similarity(d32, d16, dim=0) > 0.6, k


def test_fp16_on_cpu_warns_and_runs_in_fp32():
    cfg = tiny_cfg()
    cfg16 = config_from_dict({**cfg.to_dict(), "trainer": {**cfg.to_dict()["trainer"], "amp": "fp16"}})
    with pytest.warns(UserWarning, match="fp16 has no effect on a CPU"):
        s = make_settings(cfg16, torch.device("cpu"))
    with s.autocast():
        assert torch.nn.functional.conv2d(torch.rand(1, 3, 4, 4), torch.rand(2, 3, 3, 3)).dtype == torch.float32


def test_non_finite_loss_skips_update():
    cfg = tiny_cfg()
    model, nets, opt, bufs = setup(cfg)
    before = snapshot(model)
    data = batch()
    data["hr"] = data["hr"] * float("nan")
    out = pretrain_step(nets, opt, data, make_settings(cfg, torch.device("cpu")))
    assert not out["ok"] and changed(before, model) == set()


def mixed_batch(use, seed=1, dtype=torch.float32):
    data = batch(dtype, seed)
    g = torch.Generator().manual_seed(seed + 100)
    data["synth_lr"] = torch.rand(2, 3, 16, 16, generator=g, dtype=dtype)
    data["use_synth"] = torch.tensor(use, dtype=dtype).view(-1, 1, 1, 1)
    return data


@pytest.mark.parametrize("cycle_sr_lam", [0.0, 1000.0])
def test_synthetic_only_sr_update_ignores_the_generator(cycle_sr_lam):
    """synth_mix = 1: the SR update is an SR-only step on synth_lr, whatever G is, and the SR
    loss gives G no gradient."""
    cfg = tiny_cfg(SR_lam=1.0, cycleSR_lam=cycle_sr_lam, grad_clip=0.0)
    s = make_settings(cfg, torch.device("cpu"))
    data = mixed_batch([1.0, 1.0], dtype=torch.float64)
    model_a, nets_a, opt_a, bufs_a = setup(cfg, torch.float64)
    model_b, nets_b, opt_b, bufs_b = setup(cfg, torch.float64)
    torch.manual_seed(5)
    for p in model_b.G.parameters():  # another generator
        p.data.add_(0.1 * torch.randn_like(p))
    model_c, nets_c, opt_c, _ = setup(cfg, torch.float64)
    out_a = joint_step(nets_a, opt_a, data, s, bufs_a)
    joint_step(nets_b, opt_b, data, s, bufs_b)
    pretrain_step(nets_c, opt_c, {"clean_lr": data["synth_lr"], "hr": data["hr"]}, s)
    for pa, pb, pc in zip(model_a.SR.parameters(), model_b.SR.parameters(), model_c.SR.parameters()):
        assert torch.equal(pa, pb)  # G does not matter at all
        # equal up to rounding (the joint step rescales the SR gradient by SR_lam / cycleSR_lam),
        # far below one Adam step (lr 1e-4)
        assert torch.allclose(pa, pc, rtol=0, atol=1e-7)
    assert out_a["losses"]["sr"] > 0
    # G's update is the one without any SR loss (cycleSR_lam = 0 with an unmixed batch)
    ref_cfg = tiny_cfg(SR_lam=1.0, cycleSR_lam=0.0, grad_clip=0.0)
    model_d, nets_d, opt_d, bufs_d = setup(ref_cfg, torch.float64)
    joint_step(nets_d, opt_d, data, make_settings(ref_cfg, torch.device("cpu")), bufs_d)
    for pa, pd in zip(model_a.G.parameters(), model_d.G.parameters()):
        assert torch.allclose(pa, pd, rtol=0, atol=1e-7)


def test_mixed_batch_generator_sr_loss_covers_only_its_samples():
    """With one synthetic sample of two, G's SR gradient is that of the SR loss on its own
    sample (weight cycleSR_lam), and the SR network's gradient that of the batch mean. (An SR
    network without batch norm: with it, batch statistics couple the samples.)"""
    sr = {"name": "VDSR", "SR_nb": 2, "SR_nf": 8, "SR_norm_type": "none"}
    cfg = tiny_cfg(SR_lam=1000.0, cycleSR_lam=10.0, grad_clip=0.0, sr=sr)
    s = make_settings(cfg, torch.device("cpu"))
    data = mixed_batch([1.0, 0.0], dtype=torch.float64)
    model, nets, opt, bufs = setup(cfg, torch.float64)
    ref, ref_nets, _, _ = setup(cfg, torch.float64)
    for o in (opt.gen, opt.sr, opt.d_x, opt.d_y):  # read the gradients instead of stepping
        o.step = lambda *a, **k: None
    joint_step(nets, opt, data, s, bufs)
    # by hand: CycleGAN losses + cycleSR_lam * SR loss on the G(X) sample for G; SR_lam * batch mean for SR
    x, hr = data["clean_lr"], data["hr"]
    fake = ref.G(x)
    sr_in = torch.cat([data["synth_lr"][:1], fake[1:]])
    sr_out = ref.SR(sr_in)
    per_sample = ((sr_out - hr) ** 2).flatten(1).mean(1)
    g_sr = torch.autograd.grad(10.0 * per_sample[1], list(ref.G.parameters()), retain_graph=True,
                               allow_unused=True)
    sr_grad = torch.autograd.grad(1000.0 * per_sample.mean(), list(ref.SR.parameters()))
    sr_scale = max(float(g.abs().max()) for g in sr_grad)
    for p, g in zip(model.SR.parameters(), sr_grad):
        # the step casts SR outputs to float32 for the loss: agreement to float32 precision
        assert torch.allclose(p.grad, g, rtol=1e-6, atol=1e-6 * sr_scale)
    # G's gradient also has the CycleGAN terms: compare the SR part through a run without it
    cfg0 = tiny_cfg(SR_lam=1000.0, cycleSR_lam=0.0, grad_clip=0.0, sr=sr)
    model0, nets0, opt0, bufs0 = setup(cfg0, torch.float64)
    for o in (opt0.gen, opt0.sr, opt0.d_x, opt0.d_y):
        o.step = lambda *a, **k: None
    joint_step(nets0, opt0, data, make_settings(cfg0, torch.device("cpu")), bufs0)
    scale = max(float(g.abs().max()) for g in g_sr if g is not None)
    assert scale > 0
    for p, p0, g in zip(model.G.parameters(), model0.G.parameters(), g_sr):
        extra = p.grad - p0.grad
        want = torch.zeros_like(extra) if g is None else g
        assert torch.allclose(extra, want, rtol=1e-5, atol=1e-6 * scale)


def test_low_frequency_consistency_loss():
    """lambda_lowfreq adds L1 between 4x4 means of X and G(X) (and Y and F(Y)) to G's loss."""
    cfg = config_from_dict({**tiny_cfg().to_dict(), "model": {
        **tiny_cfg().to_dict()["model"], "cyclegan": {**tiny_cfg().to_dict()["model"]["cyclegan"],
                                                      "lambda_lowfreq": 10.0}}})
    model, nets, opt, bufs = setup(cfg)
    data = batch()
    with torch.no_grad():
        expected = 10.0 * torch.nn.functional.l1_loss(
            torch.nn.functional.avg_pool2d(model.G(data["clean_lr"]), 4),
            torch.nn.functional.avg_pool2d(data["clean_lr"], 4))
    out = transfer_step(nets, opt, data, make_settings(cfg, torch.device("cpu")), bufs)
    assert {"lowfreq_x", "lowfreq_y"} <= set(out["losses"])
    assert torch.allclose(out["losses"]["lowfreq_x"], expected, rtol=1e-4)


@pytest.mark.parametrize("padding", [0, 1, 3])
def test_image_conv_trains_like_a_plain_conv(padding):
    """The generator's last conv computes, in training on a CPU, a 1x1 conv to tap maps and
    fold: the same output and gradients as nn.Conv2d (float64), for any zero padding."""
    from cyclesr.nets.cyclegan import ImageConv2d

    torch.manual_seed(0)
    fast = ImageConv2d(16, 3, 7, padding=padding).double()
    plain = torch.nn.Conv2d(16, 3, 7, padding=padding).double()
    plain.load_state_dict(fast.state_dict())
    x = torch.rand(2, 16, 13, 11, dtype=torch.float64, requires_grad=True)
    out_fast, out_plain = fast(x), plain(x)
    assert out_fast.shape == out_plain.shape and torch.allclose(out_fast, out_plain, atol=1e-12)
    g = torch.rand_like(out_plain)
    grads = [torch.autograd.grad(out, [x, *net.parameters()], g) for out, net in
             ((out_fast, fast), (out_plain, plain))]
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("stride, side", [(1, 4), (2, 6), (1, 3), (1, 8)])
def test_patch_conv_trains_like_a_plain_conv(stride, side):
    """The discriminator's conv on tiny maps (unfold and a matrix product when training on a
    CPU; the plain conv on larger maps): the same output and gradients as nn.Conv2d."""
    from cyclesr.nets.cyclegan import PatchConv2d

    torch.manual_seed(0)
    fast = PatchConv2d(16, 256, 4, stride=stride, padding=1).double()
    plain = torch.nn.Conv2d(16, 256, 4, stride=stride, padding=1).double()
    plain.load_state_dict(fast.state_dict())
    x = torch.rand(3, 16, side, side, dtype=torch.float64, requires_grad=True)
    out_fast, out_plain = fast(x), plain(x)
    assert out_fast.shape == out_plain.shape and torch.allclose(out_fast, out_plain, atol=1e-12)
    g = torch.rand_like(out_plain)
    for a, b in zip(torch.autograd.grad(out_fast, [x, *fast.parameters()], g),
                    torch.autograd.grad(out_plain, [x, *plain.parameters()], g)):
        assert torch.allclose(a, b, atol=1e-12)


def test_generator_and_discriminator_train_like_the_plain_layers():
    """Instance norm through group norm, the tap/fold last conv and the discriminator's
    tiny-map convs: the generator's and the discriminator's outputs and gradients are those of
    the same networks with plain nn.InstanceNorm2d and nn.Conv2d (float64), in training and
    in evaluation."""
    from cyclesr.nets.cyclegan import (ImageConv2d, InstanceNorm, NLayerDiscriminator, PatchConv2d,
                                       ResnetGenerator)

    def plain_copy(net):
        twin = type(net)(**kwargs[type(net)]).double()
        for m in twin.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.__class__ = torch.nn.InstanceNorm2d
            elif isinstance(m, torch.nn.Conv2d):
                m.__class__ = torch.nn.Conv2d
        twin.load_state_dict(net.state_dict())
        return twin

    # ndf 32: the discriminator's last layers are 256 wide on a 4x4 and 3x3 map (PatchConv2d)
    kwargs = {ResnetGenerator: dict(ngf=8, n_blocks=2), NLayerDiscriminator: dict(ndf=32, n_layers=3)}
    torch.manual_seed(0)
    for cls in kwargs:
        net = cls(**kwargs[cls]).double()
        assert any(type(m) in (InstanceNorm, ImageConv2d, PatchConv2d) for m in net.modules())
        twin = plain_copy(net)
        assert set(net.state_dict()) == set(twin.state_dict())
        x = torch.rand(3, 3, 32, 32, dtype=torch.float64, requires_grad=True)
        out, ref = net(x), twin(x)
        assert torch.allclose(out, ref, rtol=1e-9, atol=1e-10)
        g = torch.rand_like(ref)
        for a, b in zip(torch.autograd.grad(out, [x, *net.parameters()], g),
                        torch.autograd.grad(ref, [x, *twin.parameters()], g)):
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-10)
        with torch.no_grad():
            assert torch.allclose(net.eval()(x), twin.eval()(x), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", ["VDSR", "SRResNet"])
def test_sr_network_trains_like_the_plain_layers(name):
    """The SR network's last conv (tap maps and fold when training on a CPU): outputs and
    gradients of the same network with a plain nn.Conv2d (float64); same state dict."""
    from cyclesr.nets.blocks import ImageConv2d
    from cyclesr.nets.registry import create_net

    kwargs = {"SR_nb": 2, "SR_nf": 8, "SR_norm_type": "batch", "upscale": 4}
    torch.manual_seed(0)
    net = create_net(name, **kwargs).double()
    assert isinstance(net.tail[-1], ImageConv2d)
    twin = create_net(name, **kwargs).double()
    twin.tail[-1].__class__ = torch.nn.Conv2d
    twin.load_state_dict(net.state_dict())
    assert net.state_dict().keys() == twin.state_dict().keys()
    x = torch.rand(2, 3, 9, 7, dtype=torch.float64, requires_grad=True)
    out, ref = net(x), twin(x)
    assert out.shape == ref.shape == (2, 3, 36, 28)
    assert torch.allclose(out, ref, rtol=1e-9, atol=1e-10)
    g = torch.rand_like(ref)
    for a, b in zip(torch.autograd.grad(out, [x, *net.parameters()], g),
                    torch.autograd.grad(ref, [x, *twin.parameters()], g)):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("max_norm", [1e-3, 1e6])
@pytest.mark.parametrize("nan", [False, True])
def test_clipping_equals_clip_grad_norm(max_norm, nan):
    """The steps' clipping (no multiplication by 1 on a CPU) leaves exactly the gradients of
    torch's clip_grad_norm_, clipped or not, and with a non-finite gradient."""
    from cyclesr.engine.step_tools import _clip_grad_norm

    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 3, 1)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.rand(2, 3, 8, 8)
    for net in nets:
        net(x).square().sum().backward()
        if nan:
            net[1].bias.grad[0] = float("nan")
    _clip_grad_norm(nets[0], max_norm)
    torch.nn.utils.clip_grad_norm_(nets[1].parameters(), max_norm, foreach=True)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("capability, sr_nhwc", [("AVX512", True), ("AVX2", False), ("DEFAULT", False)])
def test_auto_memory_format_on_a_cpu_follows_its_vector_unit(monkeypatch, capability, sr_nhwc):
    """channels_last: auto puts the SR network in NHWC on CPUs with AVX-512 only (oneDNN's
    NHWC convolutions are slower than NCHW with AVX2); the CycleGAN networks stay NCHW."""
    from cyclesr.engine.setup import memory_formats

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    formats = memory_formats("auto", torch.device("cpu"))
    assert (formats["SR"] == torch.channels_last) == sr_nhwc
    assert all(formats[k] == torch.contiguous_format for k in ("G", "F", "D_X", "D_Y", "batch"))


@pytest.mark.parametrize("isa, sr_nhwc", [("AVX2", False), ("avx2_vnni", False), ("SSE41", False),
                                          ("AVX512_CORE_BF16", True), ("ALL", True), ("", True)])
def test_auto_memory_format_follows_onednn_isa_cap(monkeypatch, isa, sr_nhwc):
    """On an AVX-512 CPU, oneDNN limited below AVX-512 (ONEDNN_MAX_CPU_ISA) counts as AVX2."""
    from cyclesr.engine.setup import memory_formats

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    assert (memory_formats("auto", torch.device("cpu"))["SR"] == torch.channels_last) == sr_nhwc
