"""The two expression architectures: `seed` (the original design) and `default` (ours).

Both take the grey face as raw 0-255 values, shape (48, 48, 1), and rescale
inside the graph. That keeps the on-device contract trivial: the int8 model's
quantized input is the camera's grey pixels, with no outside normalisation.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from device.labels import NUM_CLASSES

INPUT_SHAPE = (48, 48, 1)


def build_seed() -> keras.Model:
    """The original design, exactly: 5 conv 3x3 (32, 64, 64, 128, 128), ReLU,
    2x2 max-pool after each, Dense 200, Dense 7 softmax."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    for filters in (32, 64, 64, 128, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(200, activation="relu")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="scores")(x)
    return keras.Model(inputs, outputs, name="seed")


@keras.saving.register_keras_serializable(package="memoji_booth")
class MatchTrainingBlur(layers.Layer):
    """Gaussian blur applied at inference only.

    The Training faces we learn from are blurred (see training.sharpness);
    sharp faces at inference are blurred by the same amount so the network
    sees what it was trained on. In training the layer passes faces through
    untouched, since they are blurred already. Separable, reflect-padded, and
    a fixed kernel, so it converts to two small int8 convolutions.
    """

    def __init__(self, sigma: float, **kwargs):
        super().__init__(**kwargs)
        self.sigma = float(sigma)
        radius = max(1, int(np.ceil(3 * self.sigma)))
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / self.sigma) ** 2)
        self._taps = (taps / taps.sum()).astype("float32")
        self.radius = radius

    def call(self, inputs, training=None):
        if training or self.sigma <= 0:
            return inputs
        r = self.radius
        x = ops.pad(inputs, [[0, 0], [r, r], [r, r], [0, 0]], mode="reflect")
        x = ops.conv(x, ops.convert_to_tensor(self._taps.reshape(-1, 1, 1, 1)), padding="valid")
        return ops.conv(x, ops.convert_to_tensor(self._taps.reshape(1, -1, 1, 1)), padding="valid")

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma}


def _conv_bn_relu(x, filters: int, weight_decay: float):
    x = layers.Conv2D(
        filters,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.l2(weight_decay),
    )(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def build_default(
    widths: tuple[int, ...] = (32, 64, 128, 256),
    convs: tuple[int, ...] = (1, 2, 2, 2),
    dense: int = 256,
    dropout: float = 0.4,
    weight_decay: float = 1e-4,
    blur_sigma: float = 0.0,
) -> keras.Model:
    """A VGG-style CNN sized for the edge: BatchNorm after every conv, one cheap
    conv at full resolution, the depth spent at 24, 12 and 6 pixels where
    expression features live, dropout before the classifier.

    Batch norm folds into the convolutions at conversion, and ReLU/max-pool
    are exact in int8, so quantization costs little accuracy. `blur_sigma`
    matches sharp faces to blurred training faces (MatchTrainingBlur).
    """
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    if blur_sigma > 0:
        x = MatchTrainingBlur(blur_sigma, name="match_training_blur")(x)
    for stage, (filters, n) in enumerate(zip(widths, convs, strict=True)):
        for _ in range(n):
            x = _conv_bn_relu(x, filters, weight_decay)
        x = layers.MaxPooling2D(2)(x)
        if stage >= 1:
            x = layers.Dropout(dropout * stage / 4)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(
        dense, use_bias=False, kernel_regularizer=keras.regularizers.l2(weight_decay)
    )(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="scores")(x)
    return keras.Model(inputs, outputs, name="default")


ARCHITECTURES = {"seed": build_seed, "default": build_default}


def build(arch: str, blur_sigma: float = 0.0, dropout: float = 0.4, l2: float = 1e-4,
          widths: tuple[int, ...] = (32, 64, 128, 256), dense: int = 256) -> keras.Model:
    """Build `arch`; only `default` takes the inference-time blur, the widths
    and the regularisation settings (the seed stays exactly the original design)."""
    if arch == "default":
        return build_default(widths=widths, dense=dense, blur_sigma=blur_sigma,
                             dropout=dropout, weight_decay=l2)
    if arch == "seed":
        return build_seed()
    raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
