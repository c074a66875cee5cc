"""The one shape policy: which models compile per input shape, and the buckets they get.

JAX, and TensorFlow with XLA (`jit_compile=True`), compile `predict`,
`evaluate` and train functions once per input shape, so batches are padded
to a few bucketed shapes (full batch, bucketed sequence length, label count
rounded up). Torch runs eagerly, and TensorFlow without XLA (its default on
CPU) runs one graph traced for every shape (`predict_on_batch`): both get
exact shapes, which cost nothing extra. Every place that pads a batch
(inference, label caches, the training dataset) asks here. Training
batches may also be padded up to a larger shape a step was already
compiled for (`CompiledShapes`, rent-or-buy against a compilation). Where a
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


# A compiled step function is reused for a smaller batch (padded up to a
# shape it has met) until that batch shape has wasted this many steps' worth
# of work in padding; then its own shape is compiled. Compiling a training
# step takes as long as 5-10 steps of a DeBERTa-v3-small-sized model on a
# 2-core CPU (6-11 s against 1.2 s), and longer against a step on an
# accelerator, so this errs towards compiling.
COMPILE_COST_IN_STEPS = 8


class CompiledShapes:
    """The batch shapes a compiled step function has met, and which one a new batch pads up to.

    JAX (and TensorFlow with XLA) compile a train or test step once per
    input shape, and a compilation costs several steps' time. A batch whose
    bucketed shape was not met yet can instead be padded up to a larger
    shape that was: every array with the same rows and at least as large on
    every other axis, the padding masked, so losses, gradients and metrics are the same. Padding
    costs compute on every such step while a compilation is paid once, so
    this is rent-or-buy: a batch shape is padded up (to the cheapest larger
    shape met) until the work it wasted that way, counted in steps of its
    own size, would exceed `compile_cost_in_steps`; from then on it keeps
    its own shape, which is compiled once. If a compilation does cost
    `compile_cost_in_steps` steps, this wastes at most about twice the time
    of the best choice made knowing every batch in advance, whatever their
    order. A batch's work is counted as the number of token ids it holds
    (the arrays whose name ends in `token_ids`).

    `GLiClassClassifier.make_dataset` gives its datasets the model's own
    instance, so the shapes compiled by one `fit` are reused by the next.

    Args:
        compile_cost_in_steps: float >= 0, the cost of one compilation in
            steps of the batch that would need it (0: never pad up; every
            bucketed shape is compiled, as before this policy).

    Example:

    ```python
    memory = CompiledShapes()
    memory.choose({"token_ids": (8, 80), "label_mask": (8, 16)})  # compiled: itself
    memory.choose({"token_ids": (8, 64), "label_mask": (8, 16)})  # padded up to (8, 80)
    ```
    """

    def __init__(self, compile_cost_in_steps=COMPILE_COST_IN_STEPS):
        if (
            isinstance(compile_cost_in_steps, bool)
            or not isinstance(compile_cost_in_steps, (int, float))
            or not compile_cost_in_steps >= 0
        ):
            raise ValueError(
                "`compile_cost_in_steps` must be a number >= 0. "
                f"Received: {compile_cost_in_steps!r}"
            )
        import threading

        self.compile_cost_in_steps = float(compile_cost_in_steps)
        self._lock = threading.Lock()
        self.forget()

    def __getstate__(self):
        # picklable (a dataset sent to worker processes), without its lock
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state):
        import threading

        self.__dict__.update(state)
        self._lock = threading.Lock()

    def forget(self):
        """Drop every remembered shape (the step functions were made again)."""
        self.shapes = []  # each a dict: array name -> shape tuple
        self.wasted = {}  # a batch shape's key -> steps of work wasted padding it up

    @staticmethod
    def _key(shape):
        return tuple(sorted((name, tuple(dims)) for name, dims in shape.items()))

    @staticmethod
    def _work(shape):
        import math

        sizes = [math.prod(dims) for name, dims in shape.items() if name.endswith("token_ids")]
        return sum(sizes) or sum(math.prod(dims) for dims in shape.values())

    @staticmethod
    def _holds(big, small):
        # Same rows (a row of nothing but padding could be a fully masked
        # attention row), every other axis at least as large.
        return big.keys() == small.keys() and all(
            len(big[name]) == len(small[name])
            and big[name][:1] == small[name][:1]
            and all(b >= s for b, s in zip(big[name][1:], small[name][1:]))
            for name in small
        )

    def choose(self, shape):
        """The shape a batch of `shape` (a dict: array name -> shape tuple) is padded to.

        Either `shape` itself (then remembered as compiled) or a remembered
        shape that holds it.
        """
        shape = {name: tuple(int(d) for d in dims) for name, dims in shape.items()}
        key = self._key(shape)
        with self._lock:
            if any(self._key(known) == key for known in self.shapes):
                return shape
            work = self._work(shape)
            larger = [known for known in self.shapes if self._holds(known, shape)]
            if larger and work:
                best = min(larger, key=self._work)
                wasted = self.wasted.get(key, 0.0) + self._work(best) / work - 1.0
                if wasted <= self.compile_cost_in_steps:
                    self.wasted[key] = wasted
                    return best
            self.shapes.append(shape)
            return shape


def pad_arrays_to(arrays, shape, values=None):
    """`arrays` (a dict of numpy arrays) padded at the end of each axis to `shape[name]`.

    `values[name]` is the padding value of an array (0 when absent).
    """
    import numpy as np

    values = values or {}
    out = {}
    for name, array in arrays.items():
        widths = [(0, int(target) - size) for size, target in zip(array.shape, shape[name])]
        if any(after < 0 for _, after in widths) or len(widths) != array.ndim:
            raise ValueError(
                f"Cannot pad `{name}` of shape {array.shape} to {tuple(shape[name])}."
            )
        if any(after for _, after in widths):
            array = np.pad(array, widths, constant_values=values.get(name, 0))
        out[name] = array
    return out


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


def any_shape_specs(arrays):
    """`tf.TensorSpec`s of `arrays`' structure with every axis of unknown size (None stays None).

    A `tf.function` traced for these serves every later call whose arrays
    have the same structure and dtypes, whatever their shapes.
    """
    import numpy as np
    import tensorflow as tf
    from keras import tree

    def spec(array):
        if array is None:
            return None
        if not hasattr(array, "dtype"):
            array = np.asarray(array)
        return tf.TensorSpec((None,) * len(array.shape), tf.as_dtype(array.dtype))

    return tree.map_structure(spec, arrays)


def _trace_for_every_shape(model, arrays):
    model.make_predict_function()
    if _traced_for_every_shape(model):
        return
    function = model.predict_function
    specs = any_shape_specs(arrays)
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
