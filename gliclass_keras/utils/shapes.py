"""The one shape policy: which backends compile per input shape, and the buckets they get.

JAX and TensorFlow (XLA) compile `predict`, `evaluate` and train functions
once per input shape, so batches are padded to a few bucketed shapes (full
batch, bucketed sequence length, label count rounded up); torch runs eagerly
and gets exact shapes, which cost nothing extra. Every place that pads a
batch (inference, label caches, the training dataset) asks here.
"""


def _keras_backend():
    """The Keras backend's name (Keras is imported here only: the rest is framework-free)."""
    import keras

    return keras.backend.backend()


# Sequence lengths a padded batch is rounded up to (then multiples of 256).
LENGTH_BUCKETS = (16, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024)
# Label slots are rounded up to a multiple of this.
LABEL_MULTIPLE = 8


def uses_static_shapes(backend=None):
    """True where compiled functions are traced per input shape (jax, tensorflow)."""
    return (backend or _keras_backend()) != "torch"


def bucket_length(length):
    """The bucketed sequence length for a batch whose longest row has `length` tokens."""
    for bucket in LENGTH_BUCKETS:
        if length <= bucket:
            return bucket
    return -(-length // 256) * 256


def bucket_labels(num_labels):
    """`num_labels` rounded up to a multiple of `LABEL_MULTIPLE`."""
    return -(-num_labels // LABEL_MULTIPLE) * LABEL_MULTIPLE


def padded_length(length, static_shapes=None):
    """`bucket_length(length)` under a static-shape policy, else `length`."""
    if static_shapes is None:
        static_shapes = uses_static_shapes()
    return bucket_length(length) if static_shapes else length


def padded_labels(num_labels, static_shapes=None):
    """`bucket_labels(num_labels)` under a static-shape policy, else `num_labels`."""
    if static_shapes is None:
        static_shapes = uses_static_shapes()
    return bucket_labels(num_labels) if static_shapes else num_labels


def inference_jit_compile(backend=None):
    """Whether GLiClass models turn XLA on for predict/evaluate by default.

    TensorFlow only: Keras leaves XLA off on CPU-only machines, but for these
    models it is faster there too (measured in benchmarks/inference.py).
    JAX always compiles; torch runs eagerly.
    """
    return (backend or _keras_backend()) == "tensorflow"
