"""Augmentation and batching: deterministic from the seed, faces stay faces."""

import numpy as np
import pytest

from training.augment import augment_batch


@pytest.fixture
def faces():
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 48 * 48, dtype=np.float32).reshape(48, 48)
    return np.stack([np.roll(base, shift, axis=1) for shift in range(8)]).astype(np.uint8) + \
        rng.integers(0, 3, (8, 48, 48), dtype=np.uint8)


def test_same_generator_seed_same_batch(faces):
    a = augment_batch(faces, np.random.default_rng([1, 2, 3]), 0.5)
    b = augment_batch(faces, np.random.default_rng([1, 2, 3]), 0.5)
    c = augment_batch(faces, np.random.default_rng([1, 2, 4]), 0.5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_shape_dtype_and_range(faces):
    out = augment_batch(faces, np.random.default_rng(7), 1.0)
    assert out.shape == (8, 48, 48, 1) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 255.0
    floats = faces.astype(np.float32)
    before = floats.copy()
    augment_batch(floats, np.random.default_rng(7), 1.0)
    assert np.array_equal(floats, before)  # the caller's array is not touched


def test_strength_zero_only_mirrors(faces):
    """At strength 0 every range collapses: each face comes back as itself or its mirror."""
    out = augment_batch(faces, np.random.default_rng(3), 0.0)[..., 0]
    for original, augmented in zip(faces.astype(np.float32), out, strict=True):
        assert np.allclose(augmented, original, atol=1e-3) or \
            np.allclose(augmented, original[:, ::-1], atol=1e-3)


def test_stronger_augmentation_moves_faces_further(faces):
    def change(strength):
        out = augment_batch(faces, np.random.default_rng(11), strength)[..., 0]
        return np.abs(out - faces).mean()
    assert change(0.2) < change(1.0)


def test_face_batches_are_a_function_of_seed_epoch_and_index():
    keras = pytest.importorskip("keras")  # noqa: F841 - the training extra
    from training.batches import FaceBatches

    faces = np.random.default_rng(0).integers(0, 255, (100, 48, 48), dtype=np.uint8)
    labels = np.arange(100) % 7
    a = FaceBatches(faces, labels, 7, batch_size=32, augment=0.5, seed=5, epoch=0)
    assert len(a) == 4  # 32 + 32 + 32 + 4
    x0, y0 = a[0]
    assert x0.shape == (32, 48, 48, 1) and y0.shape == (32, 7)
    assert np.array_equal(y0.sum(axis=1), np.ones(32))
    a.start_epoch(1)
    resumed = FaceBatches(faces, labels, 7, batch_size=32, augment=0.5, seed=5, epoch=1)
    assert np.array_equal(a[2][0], resumed[2][0])  # a resumed run sees the same batches
    seen = np.concatenate([resumed[i][1].argmax(1) for i in range(len(resumed))])
    assert np.array_equal(np.bincount(seen, minlength=7), np.bincount(labels, minlength=7))
    assert not np.array_equal(x0, a[0][0])  # a new epoch, a new order and new draws
