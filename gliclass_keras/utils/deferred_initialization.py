"""Skipping the random initialization of weights that a checkpoint overwrites.

Building a Keras backbone runs every weight's initializer, and loading a
checkpoint then overwrites them all. On the `default` preset (two MiniLM
towers) the random draws alone took 1.5 s of a 2.5 s load on torch, and on
JAX every initializer shape is also compiled on its own. Inside
`deferred_random_initialization()`, a variable created with a random
initializer (`keras.initializers.RandomInitializer`: normal, truncated
normal, uniform, Glorot, He, ...) starts as zeros instead. When the context
ends, every such variable that was not assigned inside it runs its real
initializer, so the result is exactly what Keras would have built: weights
the checkpoint sets come from the checkpoint, and the others (for example a
BERT pooler a checkpoint does not have) get the same random values as
without the context (a Keras random initializer draws from its own seed).

Nothing is deferred when a `keras.distribution` is set (the variables'
layouts decide how they are initialized), for dtypes other than float16/32/64,
or on threads other than the one that entered the context. A context
entered inside another one does nothing itself: the outer one defers and
finishes.
"""

import contextlib
import threading

import numpy as np

_FLOAT_DTYPES = ("float16", "float32", "float64")
_LOCK = threading.Lock()
_ACTIVE = threading.local()


def _zeros(shape, dtype=None):
    """The placeholder: a backend array where that is cheapest (JAX would compile `zeros`)."""
    import keras

    if keras.config.backend() in ("torch", "tensorflow"):
        # No NumPy copy on the way in: two MiniLM backbones build 0.06-0.13 s
        # sooner on TensorFlow (0.69-0.75 s against 0.75-0.89 s).
        return keras.ops.zeros(shape, dtype=dtype)
    return np.zeros(shape, dtype=dtype)


@contextlib.contextmanager
def deferred_random_initialization():
    """Build and load inside it: random initializers only run for weights left unassigned.

    Example:

    ```python
    with deferred_random_initialization():
        backbone = backbone_from_hf_config(config)
        load_hf_backbone_weights(backbone, tensors)
    # every backbone weight now holds the checkpoint's value
    ```
    """
    import keras
    from keras.src.initializers.random_initializers import RandomInitializer

    if keras.distribution.distribution() is not None or getattr(_ACTIVE, "on", False):
        yield  # (nested: the outer context defers and finishes)
        return
    variable_cls = keras.Variable
    owner = threading.get_ident()
    deferred = {}  # id -> (variable, initializer), in creation order
    assigned = set()
    original_initialize = variable_cls._initialize_with_initializer
    original_assign = variable_cls.assign
    own = {name: variable_cls.__dict__[name] for name in ("_initialize_with_initializer", "assign") if name in variable_cls.__dict__}

    def initialize(self, initializer):
        if (
            threading.get_ident() == owner
            and isinstance(initializer, RandomInitializer)
            and self._dtype in _FLOAT_DTYPES
        ):
            deferred[id(self)] = (self, initializer)
            return original_initialize(self, _zeros)
        return original_initialize(self, initializer)

    def assign(self, value):
        if threading.get_ident() == owner:
            assigned.add(id(self))
        return original_assign(self, value)

    with _LOCK:
        variable_cls._initialize_with_initializer = initialize
        variable_cls.assign = assign
        _ACTIVE.on = True
        try:
            yield
        finally:
            _ACTIVE.on = False
            for name in ("_initialize_with_initializer", "assign"):
                if name in own:
                    setattr(variable_cls, name, own[name])
                else:
                    delattr(variable_cls, name)
            for key, (variable, initializer) in deferred.items():
                if key not in assigned:
                    variable.assign(initializer(variable.shape, dtype=variable.dtype))
