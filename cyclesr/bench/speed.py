"""Speed benchmarks: ``cyclesr bench step``, ``bench data`` and ``bench upscale``.

Each prints a short summary, or one JSON object with ``--json``; ``--out FILE`` also writes the
JSON. Timings are medians over repeated blocks, so that a busy machine disturbs them less.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from cyclesr.ops.device import resolve_device

__all__ = ["add_parsers", "run", "bench_step", "bench_data", "REFERENCES"]

# what ``--reference`` can time next to our step, and how the output names it
REFERENCES = ("vega", "reimpl")
_REFERENCE_CODE = {
    "vega": "Vega's own CycleSR code (noah-vega {version}: its networks and "
            "CycleSRModel.optimize_CycleSR, as its trainer calls it)",
    "reimpl": "our re-implementation of the reference's step on this project's networks, "
              "not Vega's code",
}


def _common(p: argparse.ArgumentParser, config_required: bool = True) -> None:
    p.add_argument("--config", required=config_required, help="YAML config (any layout)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set trainer.channels_last=true")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cuda if present)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, metavar="FILE", help="also write the JSON here")


def add_parsers(sub) -> None:
    p = sub.add_parser("step", help="time the training step on random data",
                       description="Milliseconds per training iteration (median of --repeats "
                       "blocks of --iters after --warmup), images per second and peak memory "
                       "(RSS on the CPU, allocator peak on CUDA).")
    _common(p)
    p.add_argument("--phase", choices=("transfer", "pretrain", "joint"), default="joint")
    p.add_argument("--batch", type=int, default=None, help="default: dataset.train.batch_size")
    p.add_argument("--patch", type=int, default=None,
                   help="LR crop; default: dataset.train.crop_size")
    p.add_argument("--iters", type=int, default=5, help="iterations per timed block")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timed blocks; the median is reported")
    p.add_argument("--channels-last", choices=("auto", "true", "false"), default=None,
                   help="weight layout (default: trainer.channels_last); auto = where faster")
    p.add_argument("--reference", action="append", nargs="?", const="vega", choices=REFERENCES,
                   help="also time a reference step in alternating blocks and report the speed-up: "
                        "vega (the default) runs Vega's own CycleSR code (pip install --no-deps "
                        "noah-vega==1.8.5), reimpl our re-implementation of its step on this "
                        "project's networks (not Vega's code); give it twice for both")

    p = sub.add_parser("data", help="patches per second from the training loader",
                       description="Training samples per second that the loader delivers (its "
                       "workers, pinned memory, prefetching), next to the images per second "
                       "the training step consumes. Without data folders in the config, "
                       "synthetic images are written to a temporary folder.")
    _common(p)
    p.add_argument("--batches", type=int, default=40, help="batches to time after the first")
    p.add_argument("--workers", type=int, default=None, help="default: dataset.train.num_workers")
    p.add_argument("--phase", choices=("transfer", "pretrain", "joint"), default="joint",
                   help="the step whose consumption is shown")
    p.add_argument("--no-step", action="store_true", help="do not time the training step")

    from cyclesr.bench.upscale_speed import add_upscale_parser
    add_upscale_parser(sub, _common)


def _config(args):
    from cyclesr.config import load_config
    return load_config(args.config, args.overrides)


def bench_step(args) -> dict:
    import torch

    from cyclesr.engine.timing import count_gflop, measure, peak_memory, step_header, step_runner
    cfg = _config(args)
    if args.channels_last is not None:
        value = {"true": True, "false": False}.get(args.channels_last, args.channels_last)
        cfg = cfg.replace(trainer=dataclasses.replace(cfg.trainer, channels_last=value))
    dev = resolve_device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    b = args.batch or cfg.dataset.train.batch_size
    p = args.patch or cfg.dataset.train.crop_size
    runners = {"optimised": step_runner(cfg, args.phase, dev, b, p)}
    kinds = list(dict.fromkeys(args.reference or []))
    for kind in kinds:
        runners[kind] = _reference_runner(kind, cfg, args.phase, dev, b, p)
    times = measure(runners, dev, b, args.iters, args.warmup, args.repeats)
    out = {**step_header(cfg, args.phase, dev, b, p, args.iters, args.repeats),
           **times["optimised"], **peak_memory(dev)}
    # the arithmetic each step does, and how fast it gets through it
    for name, run in runners.items():
        gflop = count_gflop(run)
        if gflop is not None:
            times[name].update(gflop_per_iter=gflop, gflop_per_s=gflop * 1000 / times[name]["ms_per_iter"])
    out.update({k: times["optimised"][k] for k in ("gflop_per_iter", "gflop_per_s") if k in times["optimised"]})
    refs = [_compared(kind, times[kind], out) for kind in kinds]
    if refs:  # the first reference named is the one the top-level speed-up is against
        out["reference"] = refs[0]
        out.update({k: refs[0][k] for k in ("speedup", "speedup_cpu_time", "flop_ratio") if k in refs[0]})
        if len(refs) > 1:
            out["other_references"] = refs[1:]
        out["peak_mem_note"] = "one process ran all steps"
    return out


def _reference_runner(kind: str, cfg, phase: str, dev, batch: int, patch: int):
    if kind == "reimpl":
        from cyclesr.bench.reference_step import reference_runner
        return reference_runner(cfg, phase, dev, batch, patch)
    from cyclesr.bench.vega_step import vega_missing, vega_runner
    why = vega_missing()
    if why is not None:
        raise ValueError(f"--reference vega times Vega's own code: {why}; --reference reimpl "
                         "times our re-implementation of its step instead")
    return vega_runner(cfg, phase, dev, batch, patch)


def _compared(kind: str, ref: dict, ours: dict) -> dict:
    """A reference's timing with what it is and how our step compares."""
    version = ""
    if kind == "vega":
        from cyclesr.bench.vega_step import vega_version
        version = vega_version() or "?"
    out = {"kind": kind, "code": _REFERENCE_CODE[kind].format(version=version), **ref}
    if "gflop_per_iter" in ref and "gflop_per_iter" in ours:
        # the speed-up that fewer FLOPs alone would give, at equal GFLOP/s
        out["flop_ratio"] = ref["gflop_per_iter"] / ours["gflop_per_iter"]
    out["speedup"] = ref["ms_per_iter"] / ours["ms_per_iter"]
    out["speedup_cpu_time"] = ref["cpu_ms_per_iter"] / ours["cpu_ms_per_iter"]
    return out


def _synthetic_folders(root: Path, crop: int, scale: int) -> tuple[str, str]:
    """A few smooth random HR images (large enough for the HR crop) and real-LR images."""
    import torch
    import torch.nn.functional as nnf

    from cyclesr.data.io import save_rgb
    g = torch.Generator().manual_seed(0)
    hr_side, lr_side = max(512, crop * scale * 2), max(128, crop * 2)
    for sub, side in (("hr", hr_side), ("lr", lr_side)):
        (root / sub).mkdir(parents=True)
        for i in range(8):
            noise = torch.rand(1, 3, side // 8, side // 8, generator=g)
            img = nnf.interpolate(noise, size=(side, side), mode="bicubic", align_corners=False)
            save_rgb(img[0].clamp(0, 1), root / sub / f"{i:03d}.png")
    return str(root / "hr"), str(root / "lr")


def bench_data(args) -> dict:
    import tempfile

    import torch

    from cyclesr.config import config_from_dict
    from cyclesr.data.loader import train_loader
    cfg = _config(args)
    tr = cfg.dataset.train
    dev = resolve_device(args.device)
    sets, synthetic = [], None
    if args.workers is not None:
        sets.append(f"dataset.train.num_workers={args.workers}")
    if not (tr.HR_dir and tr.LR_dir):
        synthetic = tempfile.TemporaryDirectory(prefix="cyclesr_bench_data_")
        hr, lr = _synthetic_folders(Path(synthetic.name), tr.crop_size, cfg.upscale)
        sets += [f"dataset.train.HR_dir={hr}", f"dataset.train.LR_dir={lr}"]
    workers = args.workers if args.workers is not None else tr.num_workers
    skip = 1 + 4 * workers  # the batches the workers prefetch (4 each) come in a burst
    # enough samples for the timed batches, whatever the data set's size
    sets.append(f"dataset.train.iters_per_epoch={args.batches + skip + 1}")
    cfg = config_from_dict(cfg.to_dict(), cfg.source, sets)
    tr = cfg.dataset.train
    try:
        _, _, loader = train_loader(cfg, pin_memory=dev.type == "cuda")
        it = iter(loader)
        for _ in range(skip):  # workers started, prefetch queue drained: then steady state
            next(it)
        start = time.perf_counter()
        n = 0
        for batch in it:
            batch = {k: v.to(dev, non_blocking=True) for k, v in batch.items() if torch.is_tensor(v)}
            n += 1
            if n == args.batches:
                break
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - start
    finally:
        if synthetic is not None:
            synthetic.cleanup()
    out = {"device": str(dev), "workers": tr.num_workers, "batch": tr.batch_size,
           "lr_patch": tr.crop_size, "scale": cfg.upscale, "batches": n,
           "synthetic_images": synthetic is not None, "pin_memory": dev.type == "cuda",
           "patches_per_s": n * tr.batch_size / seconds, "batches_per_s": n / seconds}
    if not args.no_step:
        from cyclesr.engine.timing import time_step
        step = time_step(cfg, args.phase, iters=1, warmup=1, repeats=3, device=str(dev))
        out.update(step_phase=args.phase, step_ms_per_iter=step["ms_per_iter"],
                   step_images_per_s=step["images_per_s"],
                   loader_headroom=out["patches_per_s"] / step["images_per_s"])
    return out


def _flops(r: dict) -> str:
    if "gflop_per_iter" not in r:
        return ""
    return f", {r['gflop_per_iter']:.1f} GFLOP/iter at {r['gflop_per_s']:.0f} GFLOP/s"


def _print_summary(kind: str, r: dict) -> None:
    if kind == "step":
        print(f"{r['phase']} step on {r['device_name']} ({r['threads']} threads), "
              f"batch {r['batch']}, LR patch {r['lr_patch']}, x{r['scale']}: {r['ms_per_iter']:.1f} ms/iter "
              f"(fastest block {r['ms_per_iter_min']:.1f}), {r['images_per_s']:.2f} images/s, "
              f"peak {r['peak_mem_kind']} {r['peak_mem_mb']:.0f} MiB{_flops(r)}")
        for ref in ([r["reference"]] if "reference" in r else []) + r.get("other_references", []):
            fewer = f"; {ref['flop_ratio']:.2f}x from fewer FLOPs alone" if "flop_ratio" in ref else ""
            print(f"{ref['code']}: {ref['ms_per_iter']:.1f} ms/iter{_flops(ref)}; our speed-up "
                  f"{ref['speedup']:.2f}x (CPU time {ref['speedup_cpu_time']:.2f}x{fewer})")
    elif kind == "data":
        line = (f"loader: {r['patches_per_s']:.1f} patches/s ({r['workers']} workers, batch "
                f"{r['batch']}, LR patch {r['lr_patch']}, x{r['scale']})")
        if "step_images_per_s" in r:
            line += (f"; the {r['step_phase']} step consumes {r['step_images_per_s']:.2f} "
                     f"images/s (loader headroom {r['loader_headroom']:.1f}x)")
        print(line)
    else:
        from cyclesr.bench.upscale_speed import print_upscale
        print_upscale(r)


def run(args: argparse.Namespace) -> int:
    import torch
    threads = torch.get_num_threads()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        if args.bench == "step":
            result = bench_step(args)
        elif args.bench == "data":
            result = bench_data(args)
        elif args.bench == "upscale":
            from cyclesr.bench.upscale_speed import bench_upscale
            result = bench_upscale(args)
        else:
            raise ValueError(f"unknown benchmark {args.bench!r}")
    finally:
        torch.set_num_threads(threads)
    machine = {"cpu_count": os.cpu_count(), "load_avg_1min_before": load_before,
               "load_avg_1min_after": os.getloadavg()[0] if load_before is not None else None}
    result = {"benchmark": args.bench, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **result,
              "machine": machine}
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    if args.json:
        print(text)
    else:
        _print_summary(args.bench, result)
        if args.out:
            print(f"written to {args.out}", file=sys.stderr)
    return 0
