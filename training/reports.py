"""Report figures: training curves and confusion matrices (matplotlib, headless),
and what a run's history.csv says about its best epoch."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from device.labels import EXPRESSIONS


def best_in_history(history_csv: Path) -> tuple[float, int | None]:
    """(best PublicTest accuracy, its first epoch) in a run's history.csv; (-1.0, None)
    before any epoch. best.keras holds that epoch's model."""
    if not Path(history_csv).exists():
        return -1.0, None
    with open(history_csv, newline="") as handle:
        rows = [(float(row["val_accuracy"]), int(row["epoch"])) for row in csv.DictReader(handle)
                if row.get("val_accuracy")]
    return max(rows, key=lambda row: (row[0], -row[1]), default=(-1.0, None))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history_csv: Path, out_png: Path, title: str = "") -> Path:
    """Loss and accuracy per epoch, Training against PublicTest."""
    with open(history_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    epochs = [int(r["epoch"]) for r in rows]
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("loss", "Training"), ("val_loss", "PublicTest")):
        ax_loss.plot(epochs, [float(r[key]) for r in rows], label=label)
    for key, label in (("accuracy", "Training"), ("val_accuracy", "PublicTest")):
        ax_acc.plot(epochs, [100 * float(r[key]) for r in rows], label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def plot_confusion(matrix: np.ndarray, out_png: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (rows: true label), counts annotated."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True).clip(min=1)
    share = matrix / rows
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(EXPRESSIONS)), EXPRESSIONS, rotation=45, ha="right")
    ax.set_yticks(range(len(EXPRESSIONS)), EXPRESSIONS)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            colour = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, f"{matrix[i, j]}", ha="center", va="center", color=colour, fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of true class")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
