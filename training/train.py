"""Train an expression model on FER-2013 Training, select it on PublicTest.

A run lives in one folder: `last.keras` (checkpoint after every epoch, with
optimizer state, so a killed run resumes where it stopped), `best.keras` (the
epoch with the best PublicTest accuracy; the model alone, without optimizer
state, once the run ends), `history.csv`, `run.json` (the recipe and the
command) and, at the end, `curves.png`.

The batches are NumPy arrays (training.batches), so a run works on any Keras
backend: TensorFlow on a CPU, or `KERAS_BACKEND=jax` on a GPU machine. The
`.keras` files it writes load on either.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from device.storage import atomic_write_text
from training import data as fer
from training.reports import best_in_history


@dataclass(frozen=True)
class Recipe:
    """How an architecture is trained. `seed` follows the original design
    (Adam, no augmentation); `default` is ours."""

    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    augment: float = 0.0  # augmentation strength (training.augment), 0 = none
    dropout: float = 0.4
    l2: float = 1e-4
    label_smoothing: float = 0.0
    warmup_epochs: int = 0
    cosine: bool = False
    widths: tuple[int, ...] = (32, 64, 128, 256)  # `default` only: filters per stage
    dense: int = 256  # `default` only: units before the classifier
    distill: float = 0.0  # weight of teacher scores in each target (training.teach), 0 = labels only

    def with_overrides(self, overrides: dict[str, str]) -> Recipe:
        """This recipe with some fields set from text (`--set augment=1.0`,
        `--set widths=40,80,160,320`); an unknown field or bad value is a
        ValueError naming it."""
        fields = asdict(self)
        changed = {}
        for key, text in overrides.items():
            if key not in fields:
                raise ValueError(f"--set {key}: unknown recipe field; fields: {', '.join(fields)}")
            current = fields[key]
            try:
                if isinstance(current, bool):
                    if text.lower() not in ("true", "false"):
                        raise ValueError(text)
                    changed[key] = text.lower() == "true"
                elif isinstance(current, tuple):
                    changed[key] = tuple(int(part) for part in text.split(","))
                else:
                    changed[key] = type(current)(text)
            except ValueError:
                raise ValueError(
                    f"--set {key}={text}: expected {type(current).__name__} like {current!r}"
                ) from None
        recipe = replace(self, **changed)
        recipe.check()
        return recipe

    def check(self) -> None:
        """A ValueError naming the first field no run could train with."""
        valid = {
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "weight_decay": self.weight_decay >= 0,
            "augment": self.augment >= 0,
            "dropout": 0 <= self.dropout < 1,
            "l2": self.l2 >= 0,
            "label_smoothing": 0 <= self.label_smoothing < 1,
            "warmup_epochs": self.warmup_epochs >= 0,
            "widths": len(self.widths) == 4 and min(self.widths) >= 1,
            "dense": self.dense >= 1,
            "distill": 0 <= self.distill <= 1,
        }
        expected = {
            "batch_size": "at least 1", "learning_rate": "above 0", "dropout": "from 0 to below 1",
            "label_smoothing": "from 0 to below 1", "widths": "four filter counts, e.g. 32,64,128,256",
            "dense": "at least 1", "distill": "from 0 to 1 (the teachers' weight: between 0 and 1)",
        }
        for field, ok in valid.items():
            if not ok:
                raise ValueError(
                    f"--set {field}={getattr(self, field)!r}: expected {expected.get(field, 'at least 0')}"
                )


RECIPES = {
    "seed": Recipe(),
    "default": Recipe(
        batch_size=64,
        learning_rate=1e-3,
        weight_decay=1e-4,
        augment=1.0,
        dropout=0.3,
        l2=5e-5,
        label_smoothing=0.1,
        warmup_epochs=2,
        cosine=True,
    ),
}


def _digest(*arrays: np.ndarray) -> str:
    """Which faces a run trains and selects on, whatever the data file is called now."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _log(message: str) -> None:
    print(message, flush=True)


def train(
    data_path: str | Path,
    arch: str,
    epochs: int,
    out: str | Path,
    seed: int = 1,
    limit: int | None = None,
    overrides: dict[str, str] | None = None,
    teacher_scores: str | Path | None = None,
    command: str | None = None,
) -> Path:
    """Train (or resume) a run in `out`; returns the path of `best.keras`.

    `overrides` sets recipe fields over the architecture's recipe (RECIPES).
    `teacher_scores` (from `python -m training teach`) are mixed into the
    targets with the recipe's `distill` weight; the recipe's label smoothing
    then applies to the mixed targets, and the logged training `acc` is
    agreement with the mixed targets' top class (PublicTest accuracy, which
    selects `best.keras`, is always against the labels).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from training.batches import FaceBatches
    from training.models import build

    out = Path(out)
    if epochs < 1:
        raise ValueError(f"--epochs {epochs}: train for at least 1 epoch")
    recipe = RECIPES[arch].with_overrides(overrides or {})
    if recipe.distill and teacher_scores is None:
        raise ValueError("--set distill needs --teacher-scores (made by `python -m training teach`)")
    if teacher_scores is not None and not recipe.distill:
        raise ValueError("--teacher-scores has no effect without a weight: add --set distill=W (0 < W <= 1)")

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()

    dataset = fer.load(data_path, {"Training", "PublicTest"})
    x_train, y_train = dataset.split("Training")
    x_val, y_val = dataset.split("PublicTest")
    soft = None
    if teacher_scores is not None:
        from training import teach

        taught = teach.load(teacher_scores, x_train, y_train)
        soft = taught.scores
        _log(f"distilling from {len(taught.teachers)} teachers ({teacher_scores}), weight {recipe.distill}")
    if limit:
        picks = _stratified_picks(y_train, limit, seed)
        x_train, y_train = x_train[picks], y_train[picks]
        soft = soft[picks] if soft is not None else None
        val_picks = _stratified_picks(y_val, max(limit // 4, 70), seed)
        x_val, y_val = x_val[val_picks], y_val[val_picks]
    _log(
        f"data: {len(y_train)} Training faces, {len(y_val)} PublicTest faces from {dataset.source}"
    )
    data_digest = _digest(x_train, y_train, x_val, y_val)
    steps = math.ceil(len(y_train) / recipe.batch_size)
    last_path, best_path = out / "last.keras", out / "best.keras"
    state_path, history_path = out / "run.json", out / "history.csv"
    if state_path.exists() and not last_path.exists():
        # e.g. a finished run whose last.keras was deleted to save space: starting afresh
        # would replace its best.keras and history after one epoch. (A run killed in its
        # first epoch has no run.json yet, and starts afresh.)
        raise SystemExit(
            f"{out} holds a trained run ({state_path.name}) without "
            f"{last_path.name} to resume from; training here would replace it: use another "
            "--out, or move that run's files away to train afresh here"
        )
    out.mkdir(parents=True, exist_ok=True)  # only once the data loaded: no empty run folders

    initial_epoch = 0
    if last_path.exists() and state_path.exists():
        state = json.loads(state_path.read_text())
        if state.get("arch") != arch or state.get("seed") != seed:
            raise SystemExit(
                f"{out} holds a run of arch={state.get('arch')} seed={state.get('seed')}; "
                "use another --out or the same arch and seed to resume"
            )
        stored = Recipe(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in state.get("recipe", {}).items()})
        if stored != recipe:
            changed = sorted(k for k, v in asdict(recipe).items() if asdict(stored)[k] != v)
            raise SystemExit(
                f"{out} was trained with another recipe ({', '.join(changed)} differ); "
                "resume with the same --set options or use another --out"
            )
        stored = state.get("teacher_scores") or {}
        if recipe.distill and stored.get("digest") != taught.digest:
            raise SystemExit(
                f"{out} was distilled from other teacher scores (digest "
                f"{stored.get('digest') or 'not recorded'}, from {stored.get('path')}) than "
                f"{teacher_scores} (digest {taught.digest}); "
                "resume with the same scores or train afresh in another --out"
            )
        if state.get("limit") != limit:
            raise SystemExit(
                f"{out} was trained on --limit {state.get('limit')} faces, not {limit}: its "
                "schedule and best epoch belong to that data; resume with the same --limit "
                "or train afresh in another --out"
            )
        if state.get("data_digest", data_digest) != data_digest:
            raise SystemExit(
                f"{out} was trained on other faces ({state.get('data')}) than {data_path}: "
                "resume with the same data or train afresh in another --out"
            )
        planned = int(state.get("epochs", epochs))
        if planned != epochs and (recipe.cosine or recipe.warmup_epochs):
            raise SystemExit(
                f"{out} was planned for {planned} epochs and its learning-rate schedule ends "
                f"there: resume with --epochs {planned}, or train afresh in another --out"
            )
        model = keras.models.load_model(last_path)
        # The checkpoint itself says how far it got: run.json is written after it, so a
        # run stopped between the two would otherwise train one epoch twice.
        initial_epoch = int(keras.ops.convert_to_numpy(model.optimizer.iterations)) // steps
        recorded = int(state.get("epochs_done", 0))
        if initial_epoch != recorded:
            _log(f"{last_path} holds epoch {initial_epoch}, run.json says {recorded}: "
                 f"going on from the checkpoint")
        _keep_history_until(history_path, initial_epoch)  # then it names the best epoch
        _log(f"resuming from {last_path} after epoch {initial_epoch}")
    else:
        from training.sharpness import estimate_blur_sigma

        state_blur = 0.0
        if arch == "default":  # the seed architecture stays the original design
            state_blur = estimate_blur_sigma(x_train, x_val)
            _log(f"Training faces are blurred like PublicTest faces at sigma {state_blur:.1f} px"
                 + (" (matched at inference)" if state_blur else ""))
        model = build(arch, blur_sigma=state_blur, dropout=recipe.dropout, l2=recipe.l2,
                      widths=recipe.widths, dense=recipe.dense)
        model.compile(
            optimizer=_optimizer(keras, recipe, steps, epochs),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
            metrics=["accuracy"],
        )
        history_path.unlink(missing_ok=True)
    _log(f"model {model.name}: {model.count_params():,} parameters, "
         f"Keras backend {keras.backend.backend()}")

    state = {
        "arch": arch,
        "seed": seed,
        "epochs": epochs,
        "epochs_done": initial_epoch,
        "best_epoch": best_in_history(history_path)[1],
        "recipe": asdict(recipe),
        "data": str(data_path),
        "data_digest": data_digest,
        "limit": limit,
        "teacher_scores": None if teacher_scores is None else {
            "path": str(teacher_scores), "digest": taught.digest, "teachers": list(taught.teachers)},
        "command": command or " ".join(sys.argv),
    }
    if initial_epoch >= epochs:
        _log(f"{out}: already trained for {initial_epoch} epochs")
        if int(json.loads(state_path.read_text()).get("epochs_done", 0)) != initial_epoch:
            # stopped after the last checkpoint, before its bookkeeping: finish that now
            state["best_val_accuracy"] = best_in_history(history_path)[0]
            atomic_write_text(state_path, json.dumps(state, indent=2))
            _finish(keras, arch, out, history_path, best_path)
        return best_path

    num_classes = model.output_shape[-1]
    train_batches = FaceBatches(x_train, y_train, num_classes, recipe.batch_size,
                                recipe.augment, seed, initial_epoch,
                                teacher_scores=soft, distill=recipe.distill)
    val_targets = keras.utils.to_categorical(y_val, num_classes)

    best_so_far = best_in_history(history_path)[0]

    class Checkpoint(keras.callbacks.Callback):
        """Write last/best atomically and the history row after every epoch."""

        def __init__(self):
            super().__init__()
            self.started = time.monotonic()

        def on_epoch_begin(self, epoch, logs=None):
            train_batches.start_epoch(epoch)
            _reseed_dropout(keras, self.model, seed, epoch)
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            nonlocal best_so_far
            logs = dict(logs or {})
            seconds = time.monotonic() - self.started
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}, "lr": lr, "seconds": seconds}
            _append_history(history_path, row)
            # best before last: last.keras is what a resume goes on from, so once it holds
            # this epoch, best.keras has already taken it if it was the best.
            if logs.get("val_accuracy", -1.0) > best_so_far:
                best_so_far = logs["val_accuracy"]
                state["best_epoch"] = epoch + 1
                _atomic_save(self.model, best_path)
            _atomic_save(self.model, last_path)
            state["epochs_done"] = epoch + 1
            state["best_val_accuracy"] = best_so_far
            atomic_write_text(state_path, json.dumps(state, indent=2))
            _log(
                f"epoch {epoch + 1}/{epochs}: loss {logs.get('loss', 0):.4f} "
                f"acc {logs.get('accuracy', 0):.4f} val_loss {logs.get('val_loss', 0):.4f} "
                f"val_acc {logs.get('val_accuracy', 0):.4f} (best {best_so_far:.4f}) "
                f"lr {lr:.2e} {seconds:.0f}s"
            )

    model.fit(
        train_batches,
        epochs=epochs,
        initial_epoch=initial_epoch,
        validation_data=(x_val.astype(np.float32)[..., None], val_targets),
        validation_batch_size=256,
        callbacks=[Checkpoint()],
        shuffle=False,  # FaceBatches shuffles, from the seed and the epoch
        verbose=2 if sys.stdout.isatty() else 0,
    )
    _finish(keras, arch, out, history_path, best_path)
    _log(f"best PublicTest accuracy {best_so_far:.4f}; model {best_path}")
    return best_path


def _finish(keras, arch: str, out: Path, history_path: Path, best_path: Path) -> None:
    """After the last epoch: the curves, and best.keras without its optimizer state."""
    from training.reports import plot_curves

    plot_curves(history_path, out / "curves.png", title=f"{arch} on FER-2013")
    _strip_optimizer(keras, best_path)


def _optimizer(keras, recipe: Recipe, steps: int, epochs: int):
    learning_rate = recipe.learning_rate
    if recipe.cosine:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=recipe.learning_rate / 20,
            decay_steps=max(1, steps * (epochs - recipe.warmup_epochs)),
            alpha=0.01,
            warmup_target=recipe.learning_rate,
            warmup_steps=steps * recipe.warmup_epochs,
        )
    if recipe.weight_decay:
        return keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=recipe.weight_decay)
    return keras.optimizers.Adam(learning_rate=learning_rate)


def _stratified_picks(y, n, seed) -> np.ndarray:
    """Indices of a small class-balanced-ish subset for smoke runs: every class kept."""
    rng = np.random.default_rng(seed)
    picks = []
    per_class = max(1, n // int(y.max() + 1))
    for label in np.unique(y):
        ids = np.flatnonzero(y == label)
        picks.extend(rng.permutation(ids)[:per_class])
    return np.sort(np.asarray(picks))


def _append_history(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def _keep_history_until(path: Path, epoch: int) -> None:
    """Drop history rows after `epoch` (written by a run stopped before its checkpoint)."""
    if not path.exists():
        return
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames or [], list(reader)
    kept = [row for row in rows if int(row["epoch"]) <= epoch]
    if len(kept) == len(rows):
        return
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields)  # the same line ends as _append_history
    writer.writeheader()
    writer.writerows(kept)
    atomic_write_text(path, text.getvalue())
    _log(f"history: dropped {len(rows) - len(kept)} row(s) after epoch {epoch}")


def _reseed_dropout(keras, model, seed: int, epoch: int) -> None:
    """Set every dropout layer's random state from (seed, epoch, layer).

    Keras does not save its layers' seed generators, so a resumed run would
    otherwise draw other dropout masks than an uninterrupted one.
    """
    for index, layer in enumerate(model.layers):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            value = (seed * 1_000_003 + epoch * 1_009 + index) % 2**31
            generator.state.assign(
                keras.ops.convert_to_tensor([value, 0], dtype=generator.state.dtype))


def _strip_optimizer(keras, path: Path) -> None:
    """Rewrite `best.keras` as the model alone: the optimizer's moments are
    two thirds of the file and only `last.keras` needs them (to resume)."""
    if path.exists():
        _atomic_save(keras.models.load_model(path, compile=False), path)


def _atomic_save(model, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)

