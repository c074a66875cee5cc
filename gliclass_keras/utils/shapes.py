"""The one shape policy: which models compile per input shape, and the buckets they get.

JAX, and TensorFlow with XLA (`jit_compile=True`), compile `predict`,
`evaluate` and train functions once per input shape, so batches are padded
to a few bucketed shapes (full batch, bucketed sequence length, label count
rounded up). Torch runs eagerly, and TensorFlow without XLA (its default on
CPU) runs one graph traced for every shape (`predict_on_batch`): both get
exact shapes, which cost nothing extra. Every place that pads a batch
(inference, label caches, the training dataset) asks here. Where a
bi-encoder meets more texts than one batch on a compiled backend, it packs
them into rows of one length instead
(`gliclass_keras.preprocessing.sequence_packing`).
"""

import sys


def _keras_backend():
    """The Keras backend's name (Keras is imported here only: the rest is framework-free)."""
    import keras

    return keras.backend.backend()


# Sequence lengths a padded batch is rounded up to (then multiples of 256).
# Steps of 16 up to 128 (most texts with their labels), so a batch carries at
# most a quarter of padding there; then at most about an eighth (steps of 32
# up to 384: a uni-encoder reading 100 labels takes 230-270 tokens, which
# the 320 bucket padded by up to 40%). Each bucket is one more compiled shape.
LENGTH_BUCKETS = (16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 288, 320, 352, 384, 448, 512, 576, 640, 768, 1024)
# Label slots are rounded up to a multiple of this.
LABEL_MULTIPLE = 8


def uses_static_shapes(backend=None, jit_compile=False):
    """True where compiled functions are traced per input shape.

    Always on jax; on tensorflow only with XLA (`jit_compile`, a model's
    `jit_compile`): without it `predict_on_batch` below traces one graph for
    every shape, and Keras' train and test functions generalise their shapes
    after the second one they meet. Never on torch.
    """
    backend = backend or _keras_backend()
    if backend == "jax":
        return True
    return backend == "tensorflow" and bool(jit_compile)


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


def predict_on_batch(model, arrays, eager_calls=0):
    """`model.predict_on_batch(arrays)` on whole shards, traced once for all shapes on TensorFlow.

    The batch is filled to whole shards of the current `keras.distribution`
    (`run_on_whole_shards`). Keras' TensorFlow predict function is a
    `tf.function` that traces again for the second shape it meets before it
    generalises; a zero-shot call meets a new sequence length with nearly
    every batch. On TensorFlow, unless the model runs eagerly or with XLA
    (which compiles per shape and gets bucketed batches instead), the
    predict function is traced once, before its first graph call, for
    inputs with every axis of unknown size: one graph then serves every
    batch (on the `default` preset the first pass over 500 texts became as
    fast as the second). Other backends skip all of this.

    Args:
        model: a built `keras.Model` whose inputs are `arrays`' structure.
        arrays: a dict of numpy arrays sharing their first (batch) axis.
        eager_calls: on TensorFlow without XLA, the first `eager_calls` calls
            of `model` (in its lifetime) run eagerly instead of tracing
            the graph. For models called about once per job, such as a
            bi-encoder's label tower (once per `classify` call): tracing
            and optimising a MiniLM graph takes 0.6-0.9 s, an eager call
            on a few labels about 0.2 s, and a one-off job never needs the
            graph; a model called more often is traced after that.
    """
    if (
        _keras_backend() == "tensorflow"
        and not model.run_eagerly
        and not model.jit_compile
    ):
        done = model.__dict__.get("_gliclass_eager_calls", 0)
        if done < eager_calls and not _traced_for_every_shape(model):
            object.__setattr__(model, "_gliclass_eager_calls", done + 1)
            return run_on_whole_shards(lambda x: _eager_predict(model, x), arrays)
        _trace_for_every_shape(model, arrays)
    return run_on_whole_shards(model.predict_on_batch, arrays)


def _eager_predict(model, arrays):
    """`model(arrays, training=False)` run eagerly, as numpy (what `predict_on_batch` returns)."""
    import numpy as np
    from keras import tree

    return tree.map_structure(np.asarray, model(arrays, training=False))


def _traced_for_every_shape(model):
    """Whether `_trace_for_every_shape` already traced `model`'s current predict function."""
    return bool(getattr(model.predict_function, "_gliclass_traced_for_every_shape", False))


def _trace_for_every_shape(model, arrays):
    import numpy as np
    import tensorflow as tf
    from keras import tree

    model.make_predict_function()
    if _traced_for_every_shape(model):
        return
    function = model.predict_function
    specs = tree.map_structure(
        lambda array: tf.TensorSpec(
            (None,) * np.ndim(array), tf.as_dtype(np.asarray(array).dtype)
        ),
        arrays,
    )
    # Keras calls its predict function with `[(x,)]`; a later call whose
    # arrays have these dtypes dispatches to this trace, whatever its shapes.
    function.get_concrete_function([(specs,)])
    function._gliclass_traced_for_every_shape = True


def batch_shards():
    """How many ways the current `keras.distribution` splits the batch axis (1 without one).

    Under `DataParallel` or `ModelParallel` (JAX), every batch a model is fed
    must have a row count this divides. Keras is only consulted when it is
    already imported, so framework-free callers (`OnnxClassifier`) get 1.
    """
    keras = sys.modules.get("keras")
    if keras is None:
        return 1
    distribution = keras.distribution.distribution()
    if distribution is None or getattr(distribution, "batch_dim_name", None) is None:
        return 1
    mesh = distribution.device_mesh
    return int(mesh.shape[list(mesh.axis_names).index(distribution.batch_dim_name)])


def padded_batch_rows(rows, batch_size=None, static_shapes=None):
    """The row count a batch of `rows` rows is padded to.

    Under a static-shape policy, a whole multiple of `batch_size`; then, under
    a `keras.distribution`, a multiple of `batch_shards()` so the batch splits
    evenly over the devices. Filler rows add nothing to losses, metrics or
    outputs (every label slot is masked, or their outputs are dropped).
    """
    if static_shapes is None:
        static_shapes = uses_static_shapes()
    if static_shapes and batch_size:
        rows = -(-rows // batch_size) * batch_size
    shards = batch_shards()
    return -(-rows // shards) * shards


def fill_with_first_row(array, rows):
    """`array` (numpy, batch axis first) filled up to `rows` rows with copies of its first row."""
    import numpy as np

    extra = rows - len(array)
    if extra <= 0:
        return array
    return np.concatenate([array, np.repeat(array[:1], extra, axis=0)])


def run_on_whole_shards(function, arrays):
    """`function(arrays)` with the batch axis filled to a multiple of `batch_shards()`.

    `arrays` is a dict of numpy arrays sharing their first (batch) axis. Filler
    rows repeat the first row; they are cut from the outputs (an array, or a
    dict, list or tuple of arrays). Without a distribution this is just
    `function(arrays)`.
    """
    import numpy as np

    rows = len(next(iter(arrays.values())))
    target = padded_batch_rows(rows, static_shapes=False)
    if target == rows:
        return function(arrays)
    filled = {key: fill_with_first_row(value, target) for key, value in arrays.items()}

    def cut(output):
        if isinstance(output, dict):
            return {key: cut(value) for key, value in output.items()}
        if isinstance(output, (list, tuple)):
            return type(output)(cut(value) for value in output)
        return np.asarray(output)[:rows]

    return cut(function(filled))
