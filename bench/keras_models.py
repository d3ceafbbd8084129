"""The lab's two face gender CNNs rebuilt in Keras 3, from their description, for the speed comparison.

Each block is Conv3x3 'same' + ReLU, BatchNorm, Conv3x3 'same' + ReLU, BatchNorm, MaxPool2; then Flatten,
Dropout(0.5), Dense(2, softmax), on 100x100x3 input, trained with Adam 1e-3 (BatchNorm epsilon 1e-3).
`gender-cnn` has 5 blocks (16..256 filters), `gender-tiny` 3 (16..64); the PyTorch versions are
src/trivision/models/gender.py. Import this after the TensorFlow threads are set (train_speed.py does).
"""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from keras import layers  # noqa: E402

WIDTHS = {"gender-cnn": (16, 32, 64, 128, 256), "gender-tiny": (16, 32, 64)}
INPUT_SHAPE = (100, 100, 3)
TINY_PARAMS, TINY_TRAINABLE = 91_410, 90_962  # the lab's summary of gender-tiny


def gender_model(name: str) -> keras.Model:
    """The compiled Keras model `name` (gender-cnn or gender-tiny)."""
    model = keras.Sequential([keras.Input(INPUT_SHAPE)], name=name)
    for width in WIDTHS[name]:
        model.add(layers.Conv2D(width, 3, padding="same", activation="relu"))
        model.add(layers.BatchNormalization(epsilon=1e-3))
        model.add(layers.Conv2D(width, 3, padding="same", activation="relu"))
        model.add(layers.BatchNormalization(epsilon=1e-3))
        model.add(layers.MaxPooling2D(2))
    model.add(layers.Flatten())
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(2, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    if name == "gender-tiny":
        counts = param_counts(model)
        assert (counts["total"], counts["trainable"]) == (TINY_PARAMS, TINY_TRAINABLE), counts
    return model


def param_counts(model: keras.Model) -> dict:
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    total = model.count_params()
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}
