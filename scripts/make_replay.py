"""Write a replay folder of camera-like frames (real FER-2013 faces) for `memoji-booth bench`.

Each frame is 640x480 with one PublicTest face enlarged to a plausible size
and position (tests/fer_frames.make_frame), cycling through the expressions,
so the benchmark pays for real detection and classification work.

    python scripts/make_replay.py --data ../shared/datasets/fer2013/fer2013.csv.gz \
        --out runs/bench-replay --count 14
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # for `python scripts/make_replay.py`
    sys.path.insert(0, str(REPO))

import cv2  # noqa: E402

from tests.fer_frames import load_fer_faces, make_frame  # noqa: E402

FACE_SIZES = (160, 200, 240)


def write_replay(data: Path, out: Path, count: int) -> list[Path]:
    """count PNG frames in out (created), faces taken round-robin over the expressions."""
    if not data.is_file():
        raise SystemExit(f"{data}: FER-2013 CSV not found (pass --data PATH to fer2013.csv[.gz])")
    per_class = -(-count // 7)
    faces = load_fer_faces(per_class, usage="PublicTest", path=data)
    ordered = [items[i] for i in range(per_class) for items in faces.values() if i < len(items)]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, face in enumerate(ordered[:count]):
        face_px = FACE_SIZES[i % len(FACE_SIZES)]
        center = (320 + (i % 5 - 2) * 40, 240 + (i % 3 - 1) * 30)
        rgb = make_frame(face, face_px=face_px, center=center, seed=i)
        path = out / f"frame{i:04d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise SystemExit(f"{path}: could not write the frame")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="fer2013.csv or fer2013.csv.gz")
    parser.add_argument("--out", type=Path, required=True, help="folder to write frameNNNN.png into")
    parser.add_argument("--count", type=int, default=14,
                        help="frames; up to 16 are decoded once and replayed from memory, like a camera")
    args = parser.parse_args(argv)
    written = write_replay(args.data, args.out, args.count)
    print(f"{len(written)} frames in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
