"""PublicTest accuracy of a trained `default` model at other inference blurs.

`train` estimates the blur of the Training faces without labels and builds it
into the model (training.models.MatchTrainingBlur). This rebuilds the model
with other sigmas, copies every other layer's weights, and scores the Keras
model on PublicTest, to check that estimate against the labels:

    .venv/bin/python scripts/blur_sweep.py --model training/reports/default/best.keras \
        --data ../shared/datasets/fer2013/fer2013.csv.gz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # for `python scripts/blur_sweep.py`
    sys.path.insert(0, str(REPO))

DEFAULT_SIGMAS = (0.0, 2.6, 2.8, 3.0, 3.2, 3.4, 3.6)


def sweep(model_path: Path, data: Path, sigmas=DEFAULT_SIGMAS) -> dict[float, float]:
    """{sigma: PublicTest accuracy} for the model rebuilt at each sigma."""
    import keras
    import numpy as np

    from training import data as fer
    from training.models import MatchTrainingBlur, build_default

    trained = keras.models.load_model(model_path, compile=False)
    faces, labels = fer.load(data, {"PublicTest"}).split("PublicTest")
    faces = faces.astype(np.float32)[..., None]
    def weighted(model):
        return [layer for layer in model.layers
                if layer.weights and not isinstance(layer, MatchTrainingBlur)]

    results = {}
    for sigma in sigmas:
        model = build_default(blur_sigma=sigma)
        # strict zip and set_weights refuse a model of other layers or widths
        for source, target in zip(weighted(trained), weighted(model), strict=True):
            target.set_weights(source.get_weights())
        predicted = model.predict(faces, batch_size=512, verbose=0).argmax(axis=1)
        results[sigma] = float(np.mean(predicted == labels))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a `default` .keras model")
    parser.add_argument("--data", type=Path, required=True, help="FER-2013 CSV or folder tree")
    parser.add_argument("--sigmas", default=",".join(map(str, DEFAULT_SIGMAS)))
    args = parser.parse_args(argv)
    sigmas = tuple(float(s) for s in args.sigmas.split(","))
    for sigma, accuracy in sweep(args.model, args.data, sigmas).items():
        print(f"sigma {sigma:.1f}: PublicTest accuracy {100 * accuracy:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
