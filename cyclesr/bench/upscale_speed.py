"""``cyclesr bench upscale``: megapixels per second and peak memory of (tiled) upscaling.

Every case runs in a fresh Python process, so that its peak RSS is its own: the tiled run (the
given or automatic tile), the untiled run when the whole image fits in memory, and, for an x4
model when the optional ``anchors`` extra is installed, Real-ESRGAN x4plus (ncnn, on the CPU, at
the same thread count, tiled) on the same image, as what a user would run instead.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

from cyclesr.ops.device import resolve_device

__all__ = ["add_upscale_parser", "bench_upscale", "print_upscale", "run_case", "ANCHOR"]

ANCHOR = "realesrgan_x4plus"  # the pretrained model the speed is compared with


def add_upscale_parser(sub, common) -> None:
    p = sub.add_parser("upscale", help="megapixels per second and peak memory of upscaling",
                       description="Upscale a random LR image of --size with the SR network of "
                       "--checkpoint (or a freshly initialised one from --config): tiled, and "
                       "untiled when it fits. Each case runs in its own process.")
    common(p, config_required=False)
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint .pt, model folder or .safetensors")
    p.add_argument("--size", default="512x512", help="LR input size WxH (default 512x512)")
    p.add_argument("--tile", type=int, default=None, help="tile size in LR pixels (default: auto)")
    p.add_argument("--tile-pad", type=int, default=16)
    p.add_argument("--half", action="store_true", help="fp16 (CUDA only)")
    p.add_argument("--untiled", choices=("auto", "yes", "no"), default="auto",
                   help="also run the whole image at once: auto = only if it fits in memory")
    p.add_argument("--anchor", choices=("auto", "yes", "no"), default="auto",
                   help=f"also time {ANCHOR} (ncnn, CPU, same threads and image; x4 models only): "
                        "auto = when pip install -e .[anchors] is present")


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like WxH (e.g. 2000x2000), got {text!r}") from None
    if w < 1 or h < 1:
        raise ValueError(f"--size must be positive, got {text!r}")
    return w, h


def _load_net(spec: dict):
    if spec.get("anchor"):
        from cyclesr.bench.anchors import ANCHOR_SCALE, load_anchor
        return load_anchor(spec["anchor"], threads=spec.get("threads")), ANCHOR_SCALE
    if spec.get("checkpoint"):
        from cyclesr.modelfile.publish import load_any
        sr, _, scale = load_any(spec["checkpoint"])
        return sr, scale
    from cyclesr.config import load_config
    from cyclesr.model import build_sr
    cfg = load_config(spec["config"], spec.get("overrides") or [])
    return build_sr(cfg), cfg.upscale


def run_case(spec: dict) -> dict:
    """One upscaling run in this process (``python -m cyclesr.bench.upscale_speed SPEC``)."""
    import torch

    from cyclesr.engine.timing import peak_rss_mb
    from cyclesr.inference.tiling import auto_tile_size, upscale_tensor
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    dev = resolve_device(spec.get("device"))
    net, scale = _load_net(spec)
    net = net.to(dev).eval()
    w, h = spec["size"]
    tile = spec.get("tile")
    if tile == "auto":
        tile = auto_tile_size(h, w, scale, net, device=dev, tile_pad=spec["tile_pad"])
    upscale_tensor(net, torch.rand(3, 32, 32), scale, device=dev, half=spec["half"])  # warm-up
    lr = torch.rand(3, h, w, generator=torch.Generator().manual_seed(0))
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    out = upscale_tensor(net, lr, scale, tile=tile, tile_pad=spec["tile_pad"], device=dev,
                         half=spec["half"])
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    result = {"mode": "untiled" if tile is None else "tiled", "tile": tile,
              "tile_pad": spec["tile_pad"], "seconds": seconds,
              "in_mp_per_s": h * w / seconds / 1e6, "out_mp_per_s": out[0].numel() / seconds / 1e6,
              "peak_rss_mb": peak_rss_mb(), "rss_before_run_mb": rss_before,
              "threads": getattr(net, "threads", None) or torch.get_num_threads()}
    if dev.type == "cuda":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return result


def _spawn(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, "-m", "cyclesr.bench.upscale_speed", json.dumps(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"exit code {proc.returncode}: " + " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_upscale(args) -> dict:
    from cyclesr.inference.tiling import available_bytes, estimate_bytes
    if not (args.checkpoint or args.config):
        raise ValueError("bench upscale needs --checkpoint (a trained model) or --config (a "
                         "freshly initialised SR network of that config)")
    w, h = _parse_size(args.size)
    dev = resolve_device(args.device)
    spec = {"checkpoint": args.checkpoint, "config": args.config, "overrides": args.overrides,
            "size": [w, h], "tile_pad": args.tile_pad, "half": args.half, "device": str(dev),
            "threads": args.threads}
    net, scale = _load_net(spec)
    need = estimate_bytes(h, w, scale, net)
    available = available_bytes(dev)
    out = {"device": str(dev), "size": f"{w}x{h}", "scale": scale,
           "out_size": f"{w * scale}x{h * scale}", "half": args.half,
           "untiled_estimate_mb": need / 2**20,
           "available_mb": available / 2**20 if available else None,
           "tiled": _spawn({**spec, "tile": args.tile or "auto"})}
    fits = available is not None and need < 0.8 * available
    if args.untiled == "yes" or (args.untiled == "auto" and fits):
        out["untiled"] = _spawn({**spec, "tile": None})
    elif args.untiled == "no":
        out["untiled"] = {"skipped": "not asked for (--untiled no)"}
    else:
        out["untiled"] = {"skipped": f"needs about {need / 2**30:.1f} GiB; "
                                     f"{(available or 0) / 2**30:.1f} GiB available"}
    if args.anchor != "no":
        out["anchor"] = _time_anchor(spec, scale, args)
        if "out_mp_per_s" in out["anchor"] and "out_mp_per_s" in out["tiled"]:
            out["speedup_vs_anchor"] = out["tiled"]["out_mp_per_s"] / out["anchor"]["out_mp_per_s"]
    return out


def _time_anchor(spec: dict, scale: int, args) -> dict:
    """Real-ESRGAN x4plus on the same image at the same thread count, or why it was skipped
    (an error with ``--anchor yes``)."""
    import torch

    from cyclesr.bench.anchors import ANCHOR_SCALE, ANCHOR_TILE, INSTALL_HINT, anchors_available
    why = (f"the anchor is x{ANCHOR_SCALE} only; this model is x{scale}" if scale != ANCHOR_SCALE
           else anchors_available() and f"left out: it needs the anchors extra: {INSTALL_HINT}")
    if why:
        if args.anchor == "yes":
            raise ValueError(f"--anchor yes: {why}")
        return {"name": ANCHOR, "skipped": why}
    threads = args.threads or torch.get_num_threads()
    case = _spawn({**spec, "anchor": ANCHOR, "device": "cpu", "half": False, "threads": threads,
                   "tile": args.tile or ANCHOR_TILE})
    return {"name": ANCHOR, "runtime": "ncnn, CPU", **case}


def print_upscale(r: dict) -> None:
    print(f"x{r['scale']} upscaling of {r['size']} -> {r['out_size']} on {r['device']}:")
    for mode in ("tiled", "untiled", "anchor"):
        c = r.get(mode)
        if c is None:
            continue
        label = f"{mode:8s}" if mode != "anchor" else f"{c['name']} ({c.get('runtime', 'ncnn')})"
        if "skipped" in c or "error" in c:
            print(f"  {label} {c.get('skipped') or c.get('error')}")
            continue
        tile = f"tile {c['tile']}+{c['tile_pad']}" if c["tile"] else "whole image"
        mem = f"peak RSS {c['peak_rss_mb']:.0f} MiB" + (
            f", CUDA peak {c['cuda_peak_mb']:.0f} MiB" if "cuda_peak_mb" in c else "")
        print(f"  {label} {tile}: {c['seconds']:.1f} s, {c['out_mp_per_s']:.3f} output MP/s "
              f"({c['in_mp_per_s']:.4f} input MP/s), {c['threads']} threads, {mem}")
    if "speedup_vs_anchor" in r:
        print(f"  this model (tiled) is {r['speedup_vs_anchor']:.1f}x the throughput of {r['anchor']['name']}")


if __name__ == "__main__":
    print(json.dumps(run_case(json.loads(sys.argv[1]))))
