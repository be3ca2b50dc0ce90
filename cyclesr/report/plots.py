"""The training curves of a run's report: matplotlib figures as PNG bytes (the Agg backend, so
no display is needed)."""
from __future__ import annotations

import io

__all__ = ["LOSS_GROUPS", "PHASE_COLOURS", "phase_of", "plot_training", "plot_validation"]

LOSS_GROUPS = {"adversarial": ("G_gan", "F_gan", "D_X", "D_Y"),
               "cycle and identity": ("cycle_x", "cycle_y", "idt_x", "idt_y"),
               "SR": ("sr", "sr_pretrain"), "generator total": ("G_total",)}
PHASE_COLOURS = {"pretrain": "#e3f2fd", "transfer": "#fff3e0", "joint": "#e8f5e9"}


def phase_of(rec: dict) -> str:
    """The phase a training record was logged in, from the losses it holds."""
    if "sr_pretrain" in rec:
        return "pretrain"
    return "joint" if "sr" in rec else "transfer"


def _figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def plot_training(records: list[dict]) -> bytes:
    """Loss groups and learning rates against the step, phases shaded."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    keys = sorted({k for r in records for k in r} - {"kind", "step", "epoch", "time"})
    grouped = {name: [k for k in members if k in keys] for name, members in LOSS_GROUPS.items()}
    known = {k for members in grouped.values() for k in members}
    grouped["other"] = [k for k in keys if k not in known and not k.startswith("lr_")]
    grouped["learning rate"] = [k for k in keys if k.startswith("lr_")]
    grouped = {name: ks for name, ks in grouped.items() if ks}
    cols = 3
    rows = -(-len(grouped) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.1 * rows), squeeze=False)
    spans, start = [], 0  # (phase, first step, first step of the next phase)
    for i, rec in enumerate(records):
        if i == len(records) - 1 or phase_of(records[i + 1]) != phase_of(rec):
            end = records[i + 1]["step"] if i + 1 < len(records) else rec["step"]
            spans.append((phase_of(rec), records[start]["step"], end))
            start = i + 1
    for ax, (name, ks) in zip(axes.flat, grouped.items()):
        for phase, a, b in spans:
            ax.axvspan(a, b, color=PHASE_COLOURS[phase], lw=0)
        for k in ks:
            pts = [(r["step"], r[k]) for r in records if isinstance(r.get(k), (int, float))]
            if pts:
                ax.plot(*zip(*pts), label=k, lw=1.2)
        values = [r[k] for r in records for k in ks if isinstance(r.get(k), (int, float))]
        if values and min(values) > 0 and max(values) / min(values) > 30:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(grouped):]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=PHASE_COLOURS[p]) for p in PHASE_COLOURS]
    fig.legend(handles, [f"{p} phase" for p in PHASE_COLOURS], loc="upper center", ncol=3,
               fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    data = _figure_png(fig)
    plt.close(fig)
    return data


def plot_validation(records: list[dict]) -> bytes:
    """PSNR-Y and SSIM-Y of CycleSR and bicubic against the epoch."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
    for ax, metric, label in ((axes[0], "psnr_y", "PSNR-Y (dB)"), (axes[1], "ssim_y", "SSIM-Y")):
        for who, style in (("cyclesr", "o-"), ("bicubic", "s--")):
            pts = [(r["epoch"], r[f"{who}_{metric}"]) for r in records if f"{who}_{metric}" in r]
            if pts:
                ax.plot(*zip(*pts), style, label="CycleSR" if who == "cyclesr" else "bicubic", ms=4)
        ax.set_xlabel("epoch", fontsize=8)
        epochs = sorted({r["epoch"] for r in records})
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
            ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(label, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    data = _figure_png(fig)
    plt.close(fig)
    return data


