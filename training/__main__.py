"""`python -m training train|teach|evaluate|sharpness`: the training-machine command line."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from device.infer import ModelMissingError  # a .tflite that is damaged or not an expression model
from device.storage import atomic_write_text
from training.data import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model on Training, select on PublicTest")
    train.add_argument("--data", required=True, help="fer2013.csv(.gz) or a train/ test/ folder tree")
    train.add_argument("--arch", choices=("seed", "default"), default="default")
    train.add_argument("--epochs", type=int, default=80)
    train.add_argument("--out", required=True, help="run folder (checkpoints; resumed if present)")
    train.add_argument("--seed", type=int, default=1)
    train.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                       help="override a recipe field, e.g. --set augment=1.0 --set batch_size=128")
    train.add_argument("--limit", type=int, default=None, help="use only about N Training faces (smoke runs)")

    train.add_argument("--teacher-scores", default=None, metavar="NPZ",
                       help="distil from these teacher scores (from `teach`); weight them with --set distill=W")

    teach = commands.add_parser("teach", help="score the Training faces with teacher models, for distillation")
    teach.add_argument("--teacher", action="append", required=True, metavar="MODEL",
                       help="a trained .keras model; repeat for an ensemble")
    teach.add_argument("--data", required=True)
    teach.add_argument("--out", required=True, help="the scores file to write (.npz)")

    evaluate = commands.add_parser("evaluate", help="accuracy, macro-F1, recall, confusion matrix")
    evaluate.add_argument("--model", required=True, help=".keras or .tflite")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--split", default="PublicTest", help="any Usage value present in the data")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    evaluate.add_argument("--reports", default=None,
                          help="folder for the PNG/JSON reports (default: beside the model; "
                               "runs/reports/ for a model under device/, which ships)")

    sharpness = commands.add_parser("sharpness", help="how blurred each split is; the blur matched at inference")
    sharpness.add_argument("--data", required=True)
    sharpness.add_argument("--json", action="store_true")

    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return _train(args, argv)
        if args.command == "teach":
            return _teach(args, argv)
        if args.command == "sharpness":
            return _sharpness(args)
        return _evaluate(args)
    except (DataError, OSError, ValueError, ModelMissingError) as error:  # OSError: e.g. an --out it cannot make
        print(f"error: {error}", file=sys.stderr)
        return 2


def _train(args, argv) -> int:
    from training.train import train

    command = "python -m training " + shlex.join(argv if argv is not None else sys.argv[1:])
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item}: expected FIELD=VALUE")
        overrides[key.strip()] = value.strip()
    train(args.data, args.arch, args.epochs, args.out, seed=args.seed, limit=args.limit,
          overrides=overrides, teacher_scores=args.teacher_scores, command=command)
    return 0


def _teach(args, argv) -> int:
    from training import data as fer
    from training import teach

    command = "python -m training " + shlex.join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)  # before the minutes of scoring, not after
    dataset = fer.load(args.data, {"Training", "PublicTest"})
    faces, labels = dataset.split("Training")
    check = _optional_split(dataset, "PublicTest")
    scores = teach.teach(args.teacher, faces, labels, command, check=check)
    teach.save(out, scores)
    print(f"teacher scores for {len(labels)} Training faces: {args.out}")
    return 0


def _optional_split(dataset, name: str):
    """The split's (faces, labels), matched in any case like --split; None if absent."""
    try:
        return dataset.split(name)
    except DataError:
        return None


def _sharpness(args) -> int:
    from training import data as fer
    from training.sharpness import blur_profile, estimate_blur_sigma, laplacian_variance

    dataset = fer.load(args.data)
    report = {
        usage: {"faces": len(faces), "median_laplacian_variance": round(float(np.median(laplacian_variance(faces))), 1)}
        for usage, (faces, _) in sorted(dataset.splits.items())
    }
    train, test = _optional_split(dataset, "Training"), _optional_split(dataset, "PublicTest")
    if train is not None and test is not None:
        train, test = train[0], test[0]
        report["blur_sigma_matching_publictest_to_training"] = estimate_blur_sigma(train, test)
        report["training_power_over_publictest_by_frequency"] = [
            {**row, "power_ratio": float(f"{row['power_ratio']:.3g}")} for row in blur_profile(train, test)
        ]
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


def _default_reports(model: Path) -> Path:
    """Beside the model, except for a model inside the booth's package (device/models/):
    reports there would ship with it, so they go to runs/reports/ instead."""
    import device

    package = Path(device.__file__).resolve().parent
    if model.resolve().is_relative_to(package):
        return Path("runs") / "reports"
    return model.parent


def _evaluate(args) -> int:
    from training import data as fer
    from training.evaluate import evaluate
    from training.reports import plot_confusion

    model = Path(args.model)
    if not model.exists():
        raise FileNotFoundError(f"{model}: no such model file")
    faces, labels = fer.load(args.data, {args.split}).split(args.split)
    result = evaluate(model, faces, labels, args.split)
    reports = Path(args.reports) if args.reports else _default_reports(model)
    reports.mkdir(parents=True, exist_ok=True)
    stem = f"{model.stem}-{model.suffix.lstrip('.')}-{args.split}"
    confusion_png = plot_confusion(
        result.confusion, reports / f"{stem}-confusion.png",
        title=f"{model.name} on {args.split}: {100 * result.accuracy:.1f}%",
    )
    atomic_write_text(reports / f"{stem}-metrics.json", json.dumps(result.to_dict(), indent=2) + "\n")
    if args.json:
        print(json.dumps({"model": str(model), **result.to_dict()}))
    else:
        print(result.summary())
        print(f"confusion matrix: {confusion_png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
