"""Charts of the benchmarks' JSON results, as PNGs under docs/ (shown in the README).

Every benchmark writes `benchmarks/results/<name>.json` (`common.write_json`);
this turns each into a chart with matplotlib:

- utilization: utilization per loader at the main step time, with the
  speed-up over "Before"; and utilization over step times (the knee curve);
- pipeline-speedup, decode, features, augment, ...: throughput (or time)
  bars per tool, labelled with their values and ratios;
- epochs: epoch 1 against epoch 2 per loader and cache mode;
- gpu (the JSON `benchmarks/gpu.py --out` wrote): features per tool and
  training steps/s with GPU utilization.

    python benchmarks/plot.py [--results benchmarks/results] [--out docs] [--gpu path/to/gpu.json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common import utilization_curves  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COLORS = {"before": "#9e9e9e", "ours": "#1f77b4", "ours2": "#ff7f0e", "other": "#7f7f7f"}


def number(cell: object) -> float | None:
    """The number in a formatted table cell: "1,462" -> 1462, "5.7x" -> 5.7,
    "56%" -> 56, "12.3 ms" -> 12.3; None where there is none."""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return float(cell)
    m = re.search(r"-?\d[\d,]*\.?\d*(?:e[-+]?\d+)?", str(cell))
    return float(m.group().replace(",", "")) if m else None


# A cell that is one number with at most a unit: "1,462", "5.7x", "12.3 ms".
NUMERIC = re.compile(r"^\s*-?[\d,]*\.?\d+(?:e[-+]?\d+)?\s*(?:x|%|ms|s|kB|MB|GB)?\s*$")
# Our package, not torchcodec's AudioDecoder.
OURS = re.compile(r"(?<![a-z])audiodecode(?!r)")


def color(name: str) -> str:
    name = name.lower()
    if "audiodecode.torch" in name or "audiodataloader" in name:
        return COLORS["ours2"]
    if OURS.search(name) or "ours" in name:
        return COLORS["ours"]
    if "before" in name or "librosa" in name or "baseline" in name or "dataloader" in name:
        return COLORS["before"]
    return COLORS["other"]


def footnote(fig: plt.Figure, doc: dict) -> None:
    fig.text(0.01, 0.005, f"{doc.get('date', '')}, {doc.get('machine', '')}", fontsize=7, color="#555")


def save(fig: plt.Figure, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")
    return path


def hbars(ax: plt.Axes, labels: list[str], values: list[float], fmt: str, notes: list[str] | None = None) -> None:
    """Horizontal bars, top to bottom in the given order, each labelled."""
    y = list(range(len(labels)))[::-1]
    ax.barh(y, values, color=[color(label) for label in labels])
    ax.set_yticks(y, [label if len(label) < 60 else label[:57] + "..." for label in labels], fontsize=8)
    for yi, v, note in zip(y, values, notes or [""] * len(values)):
        ax.text(v, yi, f" {fmt.format(v)}{(' ' + note) if note else ''}", va="center", fontsize=8)
    ax.set_xlim(0, max(values) * 1.3 if values else 1)


# -- per benchmark -------------------------------------------------------------------------------


def utilization(doc: dict, out: Path) -> list[Path]:
    rows, step = doc["rows"], doc["step_ms"]
    paths = []
    at = [r for r in rows if r["step_ms"] == step]
    if at:
        fig, axes = plt.subplots(1, 2, figsize=(14, 3.2))
        fig.subplots_adjust(wspace=0.8)
        for ax, augment in zip(axes, (False, True)):
            sel = [r for r in at if r["augment"] == augment]
            base = next((r["steps_per_s"] for r in sel if r["loader"].startswith("Before")), None)
            hbars(ax, [r["loader"].split(":")[0] for r in sel],
                  [100 * r["utilization"] for r in sel], "{:.1f}%",
                  [f"{r['steps_per_s'] / base:.1f}x steps/s" if base else "" for r in sel])
            ax.axvline(95, color="green", ls="--", lw=1)
            ax.set_xlim(0, 130)
            ax.set_title(f"augmentation {'on' if augment else 'off'}", fontsize=10)
            ax.set_xlabel(f"accelerator utilization at a {step:g} ms step (%)")
        fig.suptitle("Emulated accelerator utilization (dashed: the 95% goal)", fontsize=11)
        footnote(fig, doc)
        paths.append(save(fig, out, "utilization"))
    curves = utilization_curves(rows)
    if curves:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, c in curves.items():
            xs = sorted(c)
            ax.plot(xs, [100 * c[x] for x in xs], "o-", color=color(name), label=name.split(":")[0])
            knee = (doc.get("knee_ms") or {}).get(name)
            if knee:
                ax.axvline(knee, color=color(name), ls=":", lw=1)
        ax.axhline(90, color="#555", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("device step time (ms, log scale)")
        ax.set_ylabel("utilization (%)")
        ax.set_ylim(0, 105)
        ax.set_title("Utilization over step times, augmentation on (dotted: each knee, where it drops below 90%)",
                     fontsize=9)
        ax.legend(fontsize=8)
        footnote(fig, doc)
        paths.append(save(fig, out, "utilization_curve"))
    return paths


def epochs(doc: dict, out: Path) -> list[Path]:
    rows = doc["rows"]
    labels = [f"{r['loader']}\ncache: {r['cache']}" for r in rows]
    e1 = [number(r["epoch 1 clips/s"]) or 0 for r in rows]
    e2 = [number(r["epoch 2 clips/s"]) or 0 for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(rows)), 4))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], e1, 0.4, label="epoch 1", color="#9ecae1")
    ax.bar([i + 0.2 for i in x], e2, 0.4, label="epoch 2", color="#08519c")
    for i, r in enumerate(rows):
        ax.text(i + 0.2, e2[i], r["epoch 2 / epoch 1"], ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), labels, fontsize=7)
    ax.set_ylabel("clips/s")
    ax.set_title("Epoch 1 against epoch 2 (label: epoch 2 / epoch 1)", fontsize=10)
    ax.legend(fontsize=8)
    footnote(fig, doc)
    return [save(fig, out, "epochs")]


def generic(doc: dict, out: Path) -> list[Path]:
    """Bars of each numeric column per row (the first column names the row);
    a column of ratios is written next to the bars of the column before it."""
    rows = doc["rows"]
    if not rows:
        return []
    keys = list(rows[0])
    label_keys = [k for k in keys if any(not NUMERIC.match(str(r[k])) for r in rows if r[k] not in ("", "-"))]
    value_keys = [k for k in keys if k not in label_keys and not str(rows[0][k]).endswith("x")]
    ratio_keys = [k for k in keys if k not in label_keys and k not in value_keys]
    if not value_keys:
        return []
    labels = [" / ".join(str(r[k]) for k in label_keys) for r in rows]
    fig, axes = plt.subplots(1, len(value_keys), figsize=(5 * len(value_keys) + 2, 0.35 * len(rows) + 1.5),
                             sharey=True, squeeze=False)
    for ax, key in zip(axes[0], value_keys):
        ratio = next((k for k in ratio_keys if keys.index(k) == keys.index(key) + 1), None)
        hbars(ax, labels, [number(r[key]) or 0 for r in rows], "{:,.4g}",
              [str(r[ratio]) if ratio and r[ratio] else "" for r in rows])
        ax.set_title(key, fontsize=9)
    fig.suptitle(doc["benchmark"], fontsize=11)
    footnote(fig, doc)
    return [save(fig, out, doc["benchmark"])]


def gpu(doc: dict, out: Path) -> list[Path]:
    panels = []
    feats = (doc.get("features") or {}).get("tools") or {}
    train = [(f"JAX: {k}", v) for k, v in ((doc.get("jax") or {}).get("models") or {}).items()]
    train += [(f"torch: {k}", v) for k, v in ((doc.get("torch") or {}).get("loaders") or {}).items()]
    panels = [("features", feats)] * bool(feats) + [("train", train)] * bool(train)
    if not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(8 * len(panels), 3.5), squeeze=False)
    fig.subplots_adjust(wspace=1.0)
    for ax, (kind, data) in zip(axes[0], panels):
        if kind == "features":
            labels = [f"{f}: {name}" for f, tools in data.items() for name in tools]
            ms = [r["ms"] for tools in data.values() for r in tools.values()]
            hbars(ax, labels, ms, "{:.1f} ms")
            ax.set_xscale("log")
            ax.set_xlim(min(ms) / 2, max(ms) * 20)
            b = doc["features"]["batch"]
            ax.set_title(f"features of {b[0]} x {b[1]:g} s (ms per batch, log scale)", fontsize=9)
        else:
            util = [r.get("gpu_utilization") for _, r in data]
            hbars(ax, [n for n, _ in data], [r["steps_per_s"] for _, r in data], "{:.1f} steps/s",
                  [f"GPU {u:.0%}, stall {r['data_stall_share']:.0%}" if u is not None
                   else f"stall {r['data_stall_share']:.0%}" for u, (_, r) in zip(util, data)])
            ax.set_title("training steps/s (GPU utilization by nvidia-smi, data stall)", fontsize=9)
    fig.suptitle(f"GPU: {doc.get('gpu') or 'no GPU (CPU run)'}", fontsize=10)
    fig.text(0.01, 0.005, doc.get("date", ""), fontsize=7, color="#555")
    return [save(fig, out, "gpu")]


SPECIAL = {"utilization": utilization, "epochs": epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--gpu", type=Path, default=None, help="gpu.py's JSON (default: <results>/gpu.json if any)")
    args = parser.parse_args()
    for path in sorted(args.results.glob("*.json")):
        doc = json.loads(path.read_text())
        if path.stem == "gpu" or "rows" not in doc:
            continue
        SPECIAL.get(doc["benchmark"], generic)(doc, args.out)
    gpu_json = args.gpu or args.results / "gpu.json"
    if gpu_json.exists():
        gpu(json.loads(gpu_json.read_text()), args.out)


if __name__ == "__main__":
    main()
