"""`python -m conversion`: Keras model -> int8 TFLite model + model card, parity-checked."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from conversion.convert import QUANTIZATIONS, ParityError, convert
from device.infer import ModelMissingError  # a .tflite that is damaged or not an expression model
from training.data import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conversion", description=__doc__)
    parser.add_argument("--keras", required=True, help="trained model (.keras)")
    parser.add_argument("--data", required=True, help="FER-2013 (CSV or folder tree): calibration + parity")
    parser.add_argument("--out", default="device/models/emotion.tflite")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default="int8")
    parser.add_argument("--max-drop", type=float, default=1.0,
                        help="largest allowed PublicTest accuracy drop in points (default 1.0)")
    parser.add_argument("--calibration", type=int, default=500, help="representative Training faces")
    parser.add_argument("--flip-tta", action="store_true",
                        help="average the face and its mirror image inside the model")
    args = parser.parse_args(argv)
    if Path(args.out).suffix.lower() != ".tflite":  # the card goes beside it, as .json
        parser.error(f"--out {args.out}: name the model file with .tflite at its end; its model "
                     "card is written beside it with .json in its place")
    command = "python -m conversion " + shlex.join(argv if argv is not None else sys.argv[1:])
    try:
        result = convert(args.keras, args.data, args.out, quantize=args.quantize,
                         max_drop=args.max_drop, calibration_count=args.calibration, flip_tta=args.flip_tta,
                         command=command)
    except ParityError as error:
        print(f"PARITY CHECK FAILED: {error}", file=sys.stderr)
        return 1
    except (DataError, OSError, ValueError, ModelMissingError) as error:  # OSError: e.g. an --out it cannot make
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"keras  PublicTest accuracy {100 * result.keras.accuracy:.2f}%")
    print(f"{args.quantize:6} PublicTest accuracy {100 * result.tflite.accuracy:.2f}% "
          f"(macro-F1 {100 * result.tflite.macro_f1:.2f}%)")
    print(f"median latency {result.latency_ms:.3f} ms per face on one thread")
    print(f"wrote {result.path} ({result.path.stat().st_size:,} bytes) and {result.card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
