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

Keras also imports two packages for code paths it only takes when a user
hands it their objects: pandas (with pyarrow; 93 MB resident, so that
`fit` accepts a `DataFrame`) in its array data adapter, and, on torch,
`torch._dynamo` (72 MB, for `@torch._dynamo.disable()` on two functions)
in its image and random ops. While gliclass-keras imports Keras (and its
own Keras-backed modules), `optional_package_stand_ins` puts small
stand-ins in their place: the adapter's `isinstance(x, pandas.DataFrame)`
is true exactly when `x` is a real `DataFrame` (which means the user
imported pandas), and the `torch._dynamo.disable` decorator calls its
function directly until `torch._dynamo` is really imported (only then can
anything be compiling), and goes through the real decorator from then on.
Any other use of a stand-in imports the real package and forwards to it;
`import pandas` and `import torch._dynamo` in user code import the real
ones as usual.

Set `GLICLASS_KERAS_HIDE_UNUSED_FRAMEWORKS=0` to import everything as Keras
does.
"""

import contextlib
import functools
import importlib
import importlib.machinery
import importlib.util
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

    The `optional_package_stand_ins` are in place as well.

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
    with optional_package_stand_ins():
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


class _StandIn(types.ModuleType):
    """Stands in for the module of the same name until something needs it.

    `placeholders` answer for the real attributes of the same names while the
    real module is not imported; any other attribute imports the real module
    and is read from it.
    """

    def __init__(self, name, placeholders):
        super().__init__(name)
        self.__dict__["_placeholders"] = placeholders

    # Read from every module in `sys.modules` by introspection
    # (`inspect.getmodule`): a stand-in has none of them.
    _PROBED = frozenset(("__file__", "__cached__", "__wrapped__"))

    def __getattr__(self, name):
        if name in self._PROBED:
            raise AttributeError(name)
        # Anything else, `__path__` included (a submodule is being imported),
        # needs the real module.
        real = _imported_module(self.__name__)
        if real is None and name in self._placeholders:
            return self._placeholders[name]
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
        return getattr(real, name)


def _imported_module(name):
    """The module `name` if it is really imported (not a stand-in), else None."""
    module = sys.modules.get(name)
    return None if module is None or isinstance(module, _StandIn) else module


class _ClassOfModule(type):
    """A placeholder for a class of a module that may not be imported.

    `isinstance(x, placeholder)` is `isinstance(x, module.Class)` once the
    module is imported, and false before (no object of the class can exist
    then).
    """

    def __instancecheck__(cls, instance):
        module = _imported_module(cls._module)
        return module is not None and isinstance(instance, getattr(module, cls.__name__))

    def __subclasscheck__(cls, subclass):
        module = _imported_module(cls._module)
        return module is not None and issubclass(subclass, getattr(module, cls.__name__))


def _class_placeholder(module, name):
    return _ClassOfModule(name, (), {"_module": module, "__module__": module})


def _dynamo_disable(fn=None, recursive=True, **kwargs):
    """`torch._dynamo.disable`, deferred: the real decorator once torch._dynamo is imported."""

    def decorate(fn):
        disabled = []

        @functools.wraps(fn)
        def call(*args, **kw):
            if not disabled:
                dynamo = _imported_module("torch._dynamo")
                if dynamo is None:  # nothing can be compiling without it
                    return fn(*args, **kw)
                disabled.append(dynamo.disable(fn, recursive, **kwargs))
            return disabled[0](*args, **kw)

        return call

    return decorate if fn is None else decorate(fn)


def _is_installed(name):
    """Whether module `name` (top-level or one level down) can be imported, importing nothing."""
    parent, _, _ = name.rpartition(".")
    try:
        if not parent:
            return importlib.util.find_spec(name) is not None
        parent_spec = importlib.util.find_spec(parent)  # a top-level name: not imported
        locations = parent_spec and parent_spec.submodule_search_locations
        return bool(locations) and importlib.machinery.PathFinder.find_spec(name, list(locations)) is not None
    except (ImportError, ValueError):
        return False


def _stand_ins(backend):
    stand_ins = {
        "pandas": {"DataFrame": _class_placeholder("pandas", "DataFrame"),
                   "Series": _class_placeholder("pandas", "Series")},
    }
    if backend == "torch":
        stand_ins["torch._dynamo"] = {"disable": _dynamo_disable}
    return stand_ins


@contextlib.contextmanager
def optional_package_stand_ins():
    """Inside this context, pandas and (on torch) `torch._dynamo` are stand-ins.

    Only packages not imported yet are stood in for, and the stand-ins leave
    `sys.modules` when the context ends, so later imports get the real
    packages (see the module docstring).

    Example:

    ```python
    with optional_package_stand_ins():
        loader.exec_module(module)  # `import keras` without pandas
    ```
    """
    if not _hiding_enabled():
        yield
        return
    placed = []
    for name, placeholders in _stand_ins(configured_backend()).items():
        if name in sys.modules:
            continue
        if not _is_installed(name):
            continue  # Keras' own fallback applies
        stand_in = _StandIn(name, placeholders)
        sys.modules[name] = stand_in
        placed.append((name, stand_in))
    try:
        yield
    finally:
        for name, stand_in in placed:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
