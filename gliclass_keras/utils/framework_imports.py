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

Keras also imports, on every backend, two public modules that pull in large
optional packages gliclass-keras never uses: `keras.wrappers` imports
scikit-learn (0.9 s) and `keras.visualization` imports `matplotlib.pyplot`
(0.4 s). When gliclass-keras sees Keras being imported
(`keras_registration`), `deferred_keras_modules` leaves those modules
unexecuted until their first use: `keras.wrappers.SKLearnClassifier` or
`keras.visualization.plot_image_gallery` then import what they need and
work as usual.

Set `GLICLASS_KERAS_HIDE_UNUSED_FRAMEWORKS=0` to import everything as Keras
does.
"""

import contextlib
import importlib.machinery
import json
import os
import sys
import types

# Backend -> the modules Keras or keras-hub import at import time when installed.
FRAMEWORK_MODULES = {
    "jax": ("jax",),
    "tensorflow": ("tensorflow", "tensorflow_text"),
}


# Keras modules (relative to the `keras` package) whose code runs on first use.
DEFERRED_KERAS_MODULES = ("wrappers", "visualization", "src.visualization")


def _hiding_enabled():
    return os.environ.get("GLICLASS_KERAS_HIDE_UNUSED_FRAMEWORKS", "1") != "0"


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
    if not _hiding_enabled():
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


class _DeferredModule(types.ModuleType):
    """A module whose code runs when one of its attributes is first read.

    It carries the attributes the import system reads (`__spec__`,
    `__path__`, ...), so importing it, or one of its submodules, does not
    run it; any other attribute runs the module's code in place (the object
    in `sys.modules` stays the same) and is then looked up as usual.
    """

    def __getattr__(self, name):
        self.__class__ = types.ModuleType
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


@contextlib.contextmanager
def deferred_keras_modules(keras_module):
    """While `keras_module` executes, `DEFERRED_KERAS_MODULES` are put in place unexecuted.

    Call it around the execution of the `keras` package (see
    `keras_registration`); modules already imported are left alone.

    Example:

    ```python
    with deferred_keras_modules(module):
        loader.exec_module(module)  # `import keras` without scikit-learn and pyplot
    ```
    """
    if not _hiding_enabled():
        yield
        return
    root = list(getattr(keras_module, "__path__", None) or ())
    for relative in DEFERRED_KERAS_MODULES:
        name = f"{keras_module.__name__}.{relative}"
        if name in sys.modules:
            continue
        parent = relative.rpartition(".")[0]
        search = [os.path.join(entry, *parent.split(".")) if parent else entry for entry in root]
        spec = importlib.machinery.PathFinder.find_spec(name, search)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            continue
        module = _DeferredModule(name)
        module.__spec__ = spec
        module.__loader__ = spec.loader
        module.__file__ = spec.origin
        module.__package__ = name if spec.submodule_search_locations is not None else name.rpartition(".")[0]
        if spec.submodule_search_locations is not None:
            module.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = module
    yield
