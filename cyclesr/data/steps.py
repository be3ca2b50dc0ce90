"""The steps of a degradation recipe. Each step draws its concrete parameters for one image
(`sample`), then applies them (`apply`); the drawn parameters fully determine the result, so
they can be logged and replayed. Images are (C, H, W) float tensors in [0, 1]."""

from __future__ import annotations

import copy
import io
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from cyclesr.data.kernels import BLUR_KINDS, blur_kernel, default_kernel_size, filter2d, motion_kernel
from cyclesr.data.noise_pool import tile_noise
from cyclesr.data.recipe import Fixed, Param, Range, parse_value
from cyclesr.ops.color import gray as luma
from cyclesr.ops.resize import RESIZE_MODES, resize

__all__ = ["Step", "Blur", "Motion", "Down", "Resize", "Noise", "Inject", "Jpeg", "Sharpen", "STEPS", "make_step"]

_INF = float("inf")


class Step:
    """Base class. Subclasses declare their parameters: DEFAULTS (name -> default value text),
    WORDS (name -> allowed words), LIMITS (name -> (low, high) for numbers), ALIASES."""

    name: ClassVar[str] = ""
    DEFAULTS: ClassVar[dict[str, Any]] = {}
    WORDS: ClassVar[dict[str, tuple[str, ...]]] = {}
    LIMITS: ClassVar[dict[str, tuple[float, float]]] = {}
    ALIASES: ClassVar[dict[str, str]] = {}

    def __init__(self, **params: Any):
        self.given: dict[str, Param] = {}
        for key, value in params.items():
            key = self.ALIASES.get(key, key)
            if key not in self.DEFAULTS:
                raise ValueError(f"step {self.name!r} has no parameter {key!r}; "
                                 f"valid parameters: {', '.join(self.DEFAULTS)}")
            self.given[key] = parse_value(value)
        self.params = {k: parse_value(v) for k, v in self.DEFAULTS.items() if v is not None}
        self.params.update(self.given)
        for key, param in self.params.items():
            self._check(key, param)

    def _check(self, key: str, param: Param) -> None:
        where = f"step {self.name!r}, parameter {key!r}"
        if key in self.WORDS:
            allowed = self.WORDS[key]
            if isinstance(param, Range) or any(v not in allowed for v in param.values()):
                raise ValueError(f"{where}: {param} is not one of {', '.join(allowed)}")
            return
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in param.values()):
            raise ValueError(f"{where}: {param} is not a number")
        low, high = self.LIMITS.get(key, (-_INF, _INF))
        if any(not low <= v <= high for v in param.values()):
            raise ValueError(f"{where}: {param} is outside [{low}, {high}]")

    def draw(self, key: str, rng: np.random.Generator) -> Any:
        return self.params[key].sample(rng)

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Concrete parameters for one image, with "step": name; "applied": False if skipped
        by the step's probability `p`."""
        if "p" in self.params and rng.random() >= self.draw("p", rng):
            return {"step": self.name, "applied": False}
        return {"step": self.name, **self._sample(rng)}

    def _sample(self, rng: np.random.Generator) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        params = self.sample(rng)
        return self.apply(image, params) if params.get("applied", True) else image

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.given.items())
        return f"{self.name}({args})" if args else self.name


def _odd(size: float) -> int:
    size = max(1, int(round(size)))
    return size if size % 2 else size + 1


class Blur(Step):
    """Blur with a Gaussian-family kernel (see `kernels.blur_kernel`). "iso" uses `sigma`;
    the other kinds draw `sigma_x` and `sigma_y` independently (each falling back to `sigma`)
    and a rotation `theta` in degrees; "generalized"/"plateau" given only `sigma` are
    isotropic. `size` (odd) defaults to 6 sigma + 1."""

    name = "blur"
    DEFAULTS = {"kind": "iso", "sigma": 1.0, "sigma_x": None, "sigma_y": None, "theta": 0.0,
                "beta": 1.0, "size": None, "p": 1.0}
    WORDS = {"kind": BLUR_KINDS}
    LIMITS = {"sigma": (1e-3, 50), "sigma_x": (1e-3, 50), "sigma_y": (1e-3, 50), "beta": (0.05, 10),
              "size": (1, 101), "p": (0, 1), "theta": (-360, 360)}
    ALIASES = {"kernel_size": "size", "ksize": "size"}

    def _sample(self, rng):
        kind = self.draw("kind", rng)
        isotropic = kind == "iso" or (kind != "aniso" and "sigma_x" not in self.given
                                      and "sigma_y" not in self.given)
        if isotropic:
            use = "sigma" if "sigma" in self.given or "sigma_x" not in self.params else "sigma_x"
            sigma_x = sigma_y = self.draw(use, rng)
            theta = 0.0
        else:
            sigma_x = self.draw("sigma_x" if "sigma_x" in self.params else "sigma", rng)
            sigma_y = self.draw("sigma_y" if "sigma_y" in self.params else "sigma", rng)
            theta = self.draw("theta", rng)
        out = {"kind": kind, "sigma_x": sigma_x, "sigma_y": sigma_y, "theta": theta}
        if kind in ("generalized", "plateau"):
            out["beta"] = self.draw("beta", rng)
        size = self.draw("size", rng) if "size" in self.params else default_kernel_size(max(sigma_x, sigma_y))
        return {**out, "size": _odd(size)}

    def apply(self, image, params):
        kernel = blur_kernel(params["kind"], params["size"], params["sigma_x"], params["sigma_y"],
                             params["theta"], params.get("beta", 1.0))
        return filter2d(image, kernel)


class Motion(Step):
    """Linear motion blur of `length` pixels at `angle` degrees."""

    name = "motion"
    DEFAULTS = {"length": 5.0, "angle": "0~180", "p": 1.0}
    LIMITS = {"length": (0, 100), "p": (0, 1)}

    def _sample(self, rng):
        return {"length": self.draw("length", rng), "angle": self.draw("angle", rng)}

    def apply(self, image, params):
        return filter2d(image, motion_kernel(params["length"], params["angle"]))


class Down(Step):
    """Downscale by a fixed `scale`; the recipe's total scale is the product of all `down`
    scales. The recipe sets the exact output "size" when it applies the step."""

    name = "down"
    DEFAULTS = {"scale": 4, "mode": "bicubic"}
    WORDS = {"mode": RESIZE_MODES}
    LIMITS = {"scale": (1e-3, 64)}

    def __init__(self, **params):
        super().__init__(**params)
        if not isinstance(self.params["scale"], Fixed):
            raise ValueError("step 'down': scale must be a fixed number "
                             "(use resize(factor=a~b) for a random intermediate resize)")
        self.scale = float(self.params["scale"].value)

    def _sample(self, rng):
        return {"scale": self.scale, "mode": self.draw("mode", rng)}

    def apply(self, image, params):
        return resize(image, params.get("size") or 1.0 / params["scale"], params["mode"])


class Resize(Step):
    """Random intermediate resize by `factor` (size * factor); a later `down` step restores
    the recipe's output size, so it does not change the total scale."""

    name = "resize"
    DEFAULTS = {"factor": 1.0, "mode": "bicubic", "p": 1.0}
    WORDS = {"mode": RESIZE_MODES}
    LIMITS = {"factor": (1e-2, 16), "p": (0, 1)}

    def _sample(self, rng):
        return {"factor": self.draw("factor", rng), "mode": self.draw("mode", rng)}

    def apply(self, image, params):
        height, width = image.shape[-2:]
        size = (max(1, round(height * params["factor"])), max(1, round(width * params["factor"])))
        return resize(image, size, params["mode"])


def _luma(image: torch.Tensor) -> torch.Tensor:
    if image.shape[-3] != 3:
        return image.mean(-3, keepdim=True)
    return luma(image)


class Noise(Step):
    """Additive noise, in 0-255 units. "gaussian": std `sigma`; "poisson": shot noise whose
    variance is `scale` * x (x in 0-255); "camera": Gaussian with signal-dependent variance
    `a` * x + `b`. With probability `gray` the same noise goes to every channel."""

    name = "noise"
    DEFAULTS = {"kind": "gaussian", "sigma": 5.0, "scale": 1.0, "a": 1.0, "b": 4.0, "gray": 0.0, "p": 1.0}
    WORDS = {"kind": ("gaussian", "poisson", "camera")}
    LIMITS = {"sigma": (0, 255), "scale": (0, 100), "a": (0, 100), "b": (0, 10000), "gray": (0, 1),
              "p": (0, 1)}
    _USES = {"gaussian": ("sigma",), "poisson": ("scale",), "camera": ("a", "b")}

    def _sample(self, rng):
        kind = self.draw("kind", rng)
        out = {"kind": kind, **{key: self.draw(key, rng) for key in self._USES[kind]}}
        out["gray"] = bool(rng.random() < self.draw("gray", rng))
        out["seed"] = int(rng.integers(2**63))  # the noise itself, so params replay exactly
        return out

    def apply(self, image, params):
        source = _luma(image) if params["gray"] else image
        gen = np.random.default_rng(params["seed"])
        if params["kind"] == "poisson":
            # a blur with negative lobes (sinc) or a resize can leave values below 0: no photons there
            photons = source.double().clamp(min=0).cpu().numpy() * 255 / max(params["scale"], 1e-8)
            noisy = gen.poisson(photons) * max(params["scale"], 1e-8) / 255
            noise = torch.from_numpy(noisy).to(image) - source
        else:
            normal = torch.from_numpy(gen.standard_normal(tuple(source.shape), dtype=np.float32)).to(image)
            if params["kind"] == "gaussian":
                std = params["sigma"] / 255
            else:
                std = (params["a"] * source * 255 + params["b"]).clamp(min=0).sqrt() / 255
            noise = normal * std
        return (image + noise).clamp(0, 1)


class Inject(Step):
    """Adds noise patches cut from flat regions of real LR images (``cyclesr.data.noise_pool``),
    times `amount`. The patches come from outside the recipe: in training the real-LR folder
    provides them (``model.synth_mix``), in ``cyclesr synth`` the ``--noise-from`` folder."""

    name = "inject"
    DEFAULTS = {"amount": 1.0, "p": 1.0}
    LIMITS = {"amount": (0, 10), "p": (0, 1)}

    def __init__(self, pool: torch.Tensor | None = None, **params: Any):
        super().__init__(**params)
        self.pool = pool

    def with_pool(self, pool: torch.Tensor) -> "Inject":
        step = copy.copy(self)
        step.pool = pool
        return step

    def _sample(self, rng):
        return {"amount": self.draw("amount", rng), "seed": int(rng.integers(2**63))}

    def apply(self, image, params):
        if self.pool is None:
            raise ValueError("the recipe step inject() needs noise patches from real LR images: use it "
                             "in training (model.synth_recipe, the real-LR folder provides them) or "
                             "with `cyclesr synth --noise-from REAL_LR_DIR`")
        field = tile_noise(self.pool, *image.shape[-2:], np.random.default_rng(params["seed"]))
        return (image + params["amount"] * field.to(image)).clamp(0, 1)


class Jpeg(Step):
    """Real JPEG compression round trip (Pillow) at `quality` 1-100."""

    name = "jpeg"
    DEFAULTS = {"quality": "30~95", "p": 1.0}
    LIMITS = {"quality": (1, 100), "p": (0, 1)}
    ALIASES = {"q": "quality"}

    def _sample(self, rng):
        return {"quality": int(round(self.draw("quality", rng)))}

    def apply(self, image, params):
        pixels = image.detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
        pixels = pixels.permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(pixels if pixels.shape[2] == 3 else pixels[:, :, 0]).save(
            buffer, format="JPEG", quality=params["quality"])
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
        decoded = decoded.reshape(*decoded.shape[:2], -1)
        return torch.from_numpy(decoded.copy()).permute(2, 0, 1).contiguous().to(image).div(255)


class Sharpen(Step):
    """Unsharp mask: x + `amount` * (x - gaussian_blur(x, `sigma`))."""

    name = "sharpen"
    DEFAULTS = {"amount": 0.5, "sigma": 1.0, "p": 1.0}
    LIMITS = {"amount": (0, 10), "sigma": (1e-3, 20), "p": (0, 1)}

    def _sample(self, rng):
        return {"amount": self.draw("amount", rng), "sigma": self.draw("sigma", rng)}

    def apply(self, image, params):
        sigma = params["sigma"]
        blurred = filter2d(image, blur_kernel("iso", default_kernel_size(sigma), sigma))
        return (image + params["amount"] * (image - blurred)).clamp(0, 1)


STEPS: dict[str, type[Step]] = {cls.name: cls for cls in (Blur, Motion, Down, Resize, Noise, Inject, Jpeg, Sharpen)}


def make_step(name: str, params: dict[str, Param]) -> Step:
    """Build a step by name; unknown names raise ValueError listing the valid ones."""
    if name not in STEPS:
        raise ValueError(f"unknown degradation step {name!r}; valid steps: {', '.join(STEPS)}")
    return STEPS[name](**params)
