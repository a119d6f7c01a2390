"""Stateless, batched data augmentation for 48x48 grey faces.

Every random draw is a function of (seed, epoch, batch index), so a run is
reproducible with `--seed` and a resumed run sees exactly the batches an
uninterrupted one would have.
"""

from __future__ import annotations

import math

import tensorflow as tf

MAX_ROTATION_DEG = 12.0
MAX_SHIFT = 0.1  # fraction of the side
SCALE_RANGE = (0.9, 1.12)
BRIGHTNESS = 0.12 * 255.0
CONTRAST_RANGE = (0.75, 1.3)
ERASE_PROBABILITY = 0.4
ERASE_MAX_SIDE = 0.35


def augment_batch(images: tf.Tensor, seed: tf.Tensor, strength: float = 1.0) -> tf.Tensor:
    """Flip, rotate/scale/shift, brightness/contrast and a random erase.

    `images` is float32 (B, 48, 48, 1) in 0..255; `seed` a shape-(2,) int
    tensor; `strength` scales every range (and the erase probability), 1.0
    being the constants above.
    """
    batch = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1], tf.float32)
    seeds = tf.random.experimental.stateless_split(seed, num=8)

    def uniform(i, low, high, shape=None):
        shape = (batch,) if shape is None else shape
        return tf.random.stateless_uniform(shape, seeds[i], low, high)

    flip = uniform(0, 0.0, 1.0) < 0.5
    images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)

    def around_one(i, low, high):
        return 1.0 + strength * (uniform(i, low, high) - 1.0)

    angle = uniform(1, -1.0, 1.0) * (strength * MAX_ROTATION_DEG * math.pi / 180.0)
    scale = around_one(2, *SCALE_RANGE)
    shift = uniform(3, -MAX_SHIFT, MAX_SHIFT, (batch, 2)) * (strength * size)
    images = _affine(images, angle, scale, shift, size)

    brightness = uniform(4, -BRIGHTNESS, BRIGHTNESS) * strength
    contrast = around_one(5, *CONTRAST_RANGE)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = (images - mean) * contrast[:, None, None, None] + mean + brightness[:, None, None, None]
    images = tf.clip_by_value(images, 0.0, 255.0)
    return _random_erase(images, seeds[6], seeds[7], size, ERASE_PROBABILITY * strength)


def _affine(images, angle, scale, shift, size):
    """Rotate by `angle` and zoom by `scale` about the centre, then shift.

    ImageProjectiveTransformV3 maps output pixels to input pixels, so the
    matrix is the inverse of the wanted transform.
    """
    cos = tf.cos(angle) / scale
    sin = tf.sin(angle) / scale
    centre = (size - 1.0) / 2.0
    tx = centre - cos * (centre + shift[:, 0]) + sin * (centre + shift[:, 1])
    ty = centre - sin * (centre + shift[:, 0]) - cos * (centre + shift[:, 1])
    zeros = tf.zeros_like(cos)
    transforms = tf.stack([cos, -sin, tx, sin, cos, ty, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


def _random_erase(images, seed_box, seed_apply, size, probability):
    """Blank a random rectangle (to the image mean) in some faces: a cheap
    stand-in for hands, glasses and hair covering part of a real face."""
    batch = tf.shape(images)[0]
    box = tf.random.stateless_uniform((batch, 4), seed_box, 0.0, 1.0)
    side_h = (0.1 + box[:, 0] * (ERASE_MAX_SIDE - 0.1)) * size
    side_w = (0.1 + box[:, 1] * (ERASE_MAX_SIDE - 0.1)) * size
    top = box[:, 2] * (size - side_h)
    left = box[:, 3] * (size - side_w)
    apply = tf.random.stateless_uniform((batch,), seed_apply, 0.0, 1.0) < probability
    coords = tf.range(size)
    rows = (coords[None, :] >= top[:, None]) & (coords[None, :] < (top + side_h)[:, None])
    cols = (coords[None, :] >= left[:, None]) & (coords[None, :] < (left + side_w)[:, None])
    mask = rows[:, :, None] & cols[:, None, :] & apply[:, None, None]
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return tf.where(mask[..., None], mean, images)
