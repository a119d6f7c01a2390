"""Shuffled, augmented Training batches that any Keras backend can consume."""

from __future__ import annotations

import math

import keras
import numpy as np

from training.augment import augment_batch


class FaceBatches(keras.utils.PyDataset):
    """One epoch of shuffled, augmented Training batches.

    Batch `index` of epoch `e` is a function of (seed, e, index) alone: the
    order comes from a generator seeded with (seed, e) and each batch's
    augmentation from (seed, e, index), so a resumed run sees the batches an
    uninterrupted one would have. Keras calls on_epoch_end after every epoch,
    which moves on to the next epoch's order.
    """

    def __init__(self, faces: np.ndarray, labels: np.ndarray, num_classes: int,
                 batch_size: int, augment: float, seed: int, epoch: int = 0):
        super().__init__(workers=1, use_multiprocessing=False)
        self.faces, self.labels, self.num_classes = faces, labels, num_classes
        self.batch_size, self.augment, self.seed = batch_size, augment, seed
        self.epoch = epoch
        self._order = self._shuffle()

    def _shuffle(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.labels))

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        ids = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        faces = self.faces[ids]
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            faces = augment_batch(faces, rng, self.augment)
        else:
            faces = faces.astype(np.float32)[..., None]
        targets = np.eye(self.num_classes, dtype=np.float32)[self.labels[ids]]
        return faces, targets

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._shuffle()
