"""``cyclesr export``: ``cyclesr.modelfile.export.export_model``, which checks every export
against PyTorch before this command reports success."""
from __future__ import annotations

from cyclesr.cli.common import add_command

__all__ = ["add_parser", "run", "parse_size"]

FORMATS = ("onnx", "safetensors", "torchscript", "pth", "ncnn")  # cyclesr.modelfile.export.FORMATS, without torch

EPILOG = """examples:
  cyclesr export --checkpoint runs/try1/model --format onnx --dynamic
  cyclesr export --checkpoint runs/try1/checkpoints/best.pt --format torchscript -o sr_x4.pt
  cyclesr export --checkpoint runs/try1/checkpoints/best.pt --format safetensors -o x4.safetensors
  cyclesr export --checkpoint runs/try1/model --format onnx --net G     # the learned degradation
  cyclesr export --checkpoint runs/try1/model --format pth -o 4x_mymodel.pth      # chaiNNer, ComfyUI
  cyclesr export --checkpoint runs/try1/model --format ncnn -o ncnn/mymodel-x4    # Upscayl

inputs and outputs: float32 (N, 3, H, W) RGB in [0, 1]. Without --dynamic the ONNX graph only
accepts the --size it was exported at; with it, any H and W (G: at least 2 * 2**n_downsampling).
--format safetensors writes a model file (both networks) that upscale, degrade and the API load;
for RRDBNet and SRVGGNetCompact it is the SR network's flat state dict, as --format pth
(params_ema), which spandrel-based tools (chaiNNer, ComfyUI, A1111) load. --format ncnn writes
NAME.param + NAME.bin (blobs data/output, as realesrgan-ncnn-vulkan and Upscayl expect).
See docs/export.md."""


def add_parser(sub) -> None:
    p = add_command(sub, "export", "export a trained network as ONNX, TorchScript, NCNN, .pth or safetensors",
                    EPILOG)
    p.add_argument("--checkpoint", required=True, help="checkpoint .pt, model folder or .safetensors")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--net", default="SR", choices=("SR", "G"),
                   help="SR network (default) or G, the learned degradation (onnx/ncnn/torchscript)")
    p.add_argument("--dynamic", action="store_true", help="any batch size, height and width (ONNX)")
    p.add_argument("--size", default="64", metavar="H[xW]",
                   help="example input size used for tracing and checking (default 64)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    p.add_argument("-o", "--output", default=None, help="output file (default: beside the checkpoint)")
    p.add_argument("--no-ema", action="store_true", help="use raw SR weights, not the EMA")
    p.add_argument("--half", action="store_true", help="fp16 weights (onnx: fp16 input and output; ncnn)")


def parse_size(text: str) -> tuple[int, int]:
    """``64`` -> (64, 64); ``48x64`` -> (48, 64)."""
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise ValueError(f"--size must look like 64 or 48x64, got '{text}'")
    return (parts[0], parts[-1])


def run(args) -> int:
    from cyclesr.modelfile.export import export_model
    size = parse_size(args.size)
    out, diff = export_model(args.checkpoint, args.format, args.output, net_name=args.net,
                             dynamic=args.dynamic, size=size, opset=args.opset, use_ema=not args.no_ema,
                             half=args.half)
    what = "model" if args.format == "safetensors" else f"{args.net} network"
    print(f"{what} exported as {args.format} to {out}")
    if diff is not None:
        print(f"  checked against PyTorch: max difference {diff:.1e}")
    elif args.format in ("onnx", "ncnn"):
        runtime = "onnxruntime" if args.format == "onnx" else "ncnn"
        print(f"  not checked: install {runtime} (pip install 'cyclesr[export]') to verify it")
    _print_next(args, out, size)
    return 0


def _print_next(args, out, size: tuple[int, int]) -> None:
    if args.format == "onnx":
        shape = "any (N, 3, H, W)" if args.dynamic else f"(1, 3, {size[0]}, {size[1]})"
        print(f"  input 'input': float32 RGB in [0, 1], {shape}; output 'output'")
        print(f"next: import onnxruntime; s = onnxruntime.InferenceSession('{out}'); "
              "y = s.run(None, {'input': x})[0]")
    elif args.format == "ncnn":
        print(f"  {out.with_suffix('.bin')} beside it; blobs 'data' in, 'output' out, RGB in [0, 1]")
        print(f"next: realesrgan-ncnn-vulkan -i in.png -o out.png -m {out.parent} -n {out.stem} "
              "-s SCALE   # or Upscayl: select the folder as custom models")
    elif args.format == "pth":
        print(f"next: open {out} in chaiNNer or ComfyUI, or: cyclesr upscale --checkpoint {out} "
              "YOUR_IMAGES -o upscaled/")
    elif args.format == "torchscript":
        print(f"next: import torch; net = torch.jit.load('{out}'); y = net(x)   "
              "# x: float32 (N, 3, H, W) RGB in [0, 1]")
    else:
        print(f"next: cyclesr upscale --checkpoint {out} YOUR_IMAGES -o upscaled/")
