"""Shuffled, augmented Training batches that any Keras backend can consume."""

from __future__ import annotations

import math

import keras
import numpy as np

from training.augment import augment_batch

_ORDER, _AUGMENT = 1, 2  # seed tags of the two random streams


class FaceBatches(keras.utils.PyDataset):
    """One epoch of shuffled, augmented Training batches.

    Batch `index` of epoch `e` is a function of (seed, e, index) alone: the
    order comes from a generator seeded with (seed, e) and each batch's
    augmentation from (seed, e, index), so a resumed run sees the batches an
    uninterrupted one would have. The trainer says which epoch is starting
    (`start_epoch`, from a callback's on_epoch_begin): Keras's own epoch hooks
    on a PyDataset also fire once before the first epoch, so they are not
    counted on. Fit with shuffle=False: the order is ours.

    With `teacher_scores` (N, classes) each target is the one-hot label mixed
    with the teachers' scores for that face, `distill` being their weight.
    """

    def __init__(self, faces: np.ndarray, labels: np.ndarray, num_classes: int,
                 batch_size: int, augment: float, seed: int, epoch: int = 0,
                 teacher_scores: np.ndarray | None = None, distill: float = 0.0):
        super().__init__(workers=1, use_multiprocessing=False)
        if distill and (teacher_scores is None or teacher_scores.shape != (len(labels), num_classes)):
            raise ValueError(f"distillation needs teacher scores of shape ({len(labels)}, {num_classes})")
        self.faces, self.labels, self.num_classes = faces, labels, num_classes
        self.batch_size, self.augment, self.seed = batch_size, augment, seed
        self.teacher_scores, self.distill = teacher_scores, distill
        self.start_epoch(epoch)

    def start_epoch(self, epoch: int) -> None:
        """Serve epoch `epoch` (0-based) from now on."""
        self.epoch = epoch
        # Distinct middle tags keep the two streams apart (NumPy ignores trailing zeros).
        order_rng = np.random.default_rng([self.seed, _ORDER, epoch])
        self._order = order_rng.permutation(len(self.labels))

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        ids = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        faces = self.faces[ids]
        if self.augment:
            rng = np.random.default_rng([self.seed, _AUGMENT, self.epoch, index])
            faces = augment_batch(faces, rng, self.augment)
        else:
            faces = faces.astype(np.float32)[..., None]
        targets = np.eye(self.num_classes, dtype=np.float32)[self.labels[ids]]
        if self.distill:
            targets = (1 - self.distill) * targets + self.distill * self.teacher_scores[ids]
        return faces, targets
