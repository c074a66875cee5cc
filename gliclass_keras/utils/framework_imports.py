"""Importing Keras without the deep-learning frameworks its backend does not use.

Keras imports JAX whenever it is installed (for its Orbax checkpoint
callback), and keras-hub imports TensorFlow (for its `tf.data`
preprocessing), whatever the backend. With all three frameworks installed, a
torch-backed `GLiClassClassifier` process then holds about 1 GB more resident
memory and starts several seconds later than it needs to (measured:
`import keras, keras_hub` on torch 1,271 MB and 6 s with them, 549 MB and 4 s
without). gliclass-keras uses neither (its keras-hub parts are backbones and
layers), so while gliclass-keras imports its Keras-backed modules (and
while Keras itself is imported after `gliclass_keras`, which watches for it
to register its classes, see `keras_registration`), the other backends'
frameworks are hidden: an `import jax` / `import tensorflow` inside
Keras or keras-hub then fails as if they were not installed, and both fall
back as they do on such machines. Afterwards nothing stays hidden, so user
code can import any framework as usual.

Frameworks already imported are never hidden, nor is the backend's own.
Set `GLICLASS_KERAS_HIDE_UNUSED_FRAMEWORKS=0` to import everything as Keras
does.
"""

import contextlib
import json
import os
import sys

# Backend -> the modules Keras or keras-hub import at import time when installed.
FRAMEWORK_MODULES = {
    "jax": ("jax",),
    "tensorflow": ("tensorflow", "tensorflow_text"),
}


def configured_backend():
    """The Keras backend this process will use, read as Keras reads it."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "config"):
        return keras.config.backend()
    backend = os.environ.get("KERAS_BACKEND")
    if backend:
        return backend
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


@contextlib.contextmanager
def without_unused_frameworks():
    """Inside this context, the frameworks of the other Keras backends cannot be imported.

    Example:

    ```python
    with without_unused_frameworks():
        import keras_hub  # on torch: imports neither TensorFlow nor JAX
    ```
    """
    if os.environ.get("GLICLASS_KERAS_HIDE_UNUSED_FRAMEWORKS", "1") == "0":
        yield
        return
    backend = configured_backend()
    hidden = []
    for framework, modules in FRAMEWORK_MODULES.items():
        if framework == backend or framework in sys.modules:
            continue
        for name in modules:
            if name not in sys.modules:
                sys.modules[name] = None  # `import name` raises ImportError
                hidden.append(name)
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
