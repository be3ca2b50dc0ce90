"""``cyclesr import-vega``: a Vega CycleSR run's saved networks as a published CycleSR model,
through ``cyclesr.modelfile.vega.import_vega``."""
from __future__ import annotations

from cyclesr.cli.common import add_command

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  cyclesr import-vega vega_output/worker0 --config cyclesr.yml -o models/vega_cyclesr
  cyclesr import-vega vega_output/worker0/200 --config cyclesr.yml -o models/epoch200
  cyclesr upscale --checkpoint models/vega_cyclesr real_LR/ -o upscaled/"""


def add_parser(sub) -> None:
    p = add_command(sub, "import-vega", "publish a Vega CycleSR run's weights as a CycleSR model",
                    EPILOG)
    p.add_argument("inputs", nargs="+", metavar="RUN_DIR_OR_FILES",
                   help="a Vega run folder (its model_NAME.pth, else its last EPOCH folder), an "
                        "EPOCH folder, or the five files (NAME in G, F, D_X, D_Y, SR)")
    p.add_argument("--config", required=True, help="the run's config (Vega's YAML) to build the networks")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, as for train")
    p.add_argument("-o", "--output", required=True, metavar="MODEL_DIR", help="model folder to write")


def run(args) -> int:
    from cyclesr.config import load_config
    from cyclesr.modelfile.vega import import_vega

    cfg = load_config(args.config, args.overrides)
    path = import_vega(args.inputs, cfg, args.output)
    print(f"model written to {path.parent}  (safetensors + model.json: SR and G, x{cfg.upscale})")
    print(f"next: cyclesr upscale --checkpoint {path.parent} YOUR_IMAGES -o upscaled/\n"
          f"      cyclesr export --checkpoint {path.parent} --format onnx")
    return 0
