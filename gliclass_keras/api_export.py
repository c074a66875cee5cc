"""Registration of public classes for `.keras` serialization."""

import keras

PACKAGE = "gliclass_keras"


def register(cls):
    """Register `cls` so `keras.saving.load_model` can rebuild it.

    Every public layer and model of gliclass-keras is decorated with this, the
    lightweight equivalent of keras-hub's `keras_hub_export`.
    """
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
