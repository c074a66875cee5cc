"""Registering gliclass-keras' Keras classes as soon as Keras is imported.

`import gliclass_keras` imports no deep-learning framework (its names are
loaded on first use), so `gliclass_keras.OnnxClassifier` runs with
onnxruntime alone. But `keras.saving.load_model("model.keras")` only finds
classes that are registered (`gliclass_keras.api_export.register`), and
Keras does not import a saved config's module itself. So the classes are
registered whenever Keras is there:

* if `keras` is already imported when `gliclass_keras` is, right away;
* otherwise a `sys.meta_path` finder (`KerasImportWatcher`) wraps the
  loader of `keras` and imports `REGISTERING_MODULES` right after Keras
  finishes importing. When Keras is first imported from inside a
  gliclass-keras module (that module is then half-initialized, and
  importing the others from there could hit it), registration waits until
  the outermost gliclass-keras module being imported has finished: the
  finder also wraps the loaders of `gliclass_keras.*` modules to count them.

Once registered, the finder removes itself.
"""

import importlib
import importlib.abc
import sys

from gliclass_keras.utils.framework_imports import deferred_keras_modules
from gliclass_keras.utils.framework_imports import without_unused_frameworks

# Importing these registers every serializable class of gliclass-keras.
REGISTERING_MODULES = (
    "gliclass_keras.losses",
    "gliclass_keras.metrics",
    "gliclass_keras.optimizers",
    "gliclass_keras.training_config",
    "gliclass_keras.data.gliclass_dataset",
    "gliclass_keras.models.gliclass_classifier",
    "gliclass_keras.models.gliclass_uni_encoder",
    "gliclass_keras.models.gliclass_bi_encoder",
    "gliclass_keras.models.gliclass_bi_encoder_fused",
    "gliclass_keras.models.gliclass_encoder_decoder",
    "gliclass_keras.preprocessing.uni_encoder_preprocessor",
    "gliclass_keras.preprocessing.bi_encoder_preprocessor",
    "gliclass_keras.preprocessing.bi_encoder_fused_preprocessor",
    "gliclass_keras.preprocessing.encoder_decoder_preprocessor",
    "gliclass_keras.preprocessing.tokenizer",
    "gliclass_keras.rl.rewards",
    "gliclass_keras.rl.rl_config",
    "gliclass_keras.rl.rl_trainer",
)

_PACKAGE = "gliclass_keras"


class _State:
    registered = False
    pending = False  # Keras was imported from inside a gliclass-keras module
    importing = 0  # gliclass-keras modules being executed right now


def register_keras_classes():
    """Import `REGISTERING_MODULES` (once), so `keras.saving.load_model` finds every class."""
    if _State.registered:
        return
    _State.registered = True
    _State.pending = False
    _remove_watcher()
    # keras-hub would import TensorFlow on every backend (1.9 s, see framework_imports)
    with without_unused_frameworks():
        for name in REGISTERING_MODULES:
            importlib.import_module(name)


def finish_pending():
    """Register now if Keras was imported while a gliclass-keras module was initializing."""
    if _State.pending and not _State.importing:
        register_keras_classes()


def _keras_imported():
    if _State.importing:
        _State.pending = True
    else:
        register_keras_classes()


class _WatchedLoader:
    """A module loader that reports when its module has finished executing."""

    def __init__(self, loader, is_keras):
        self._loader = loader
        self._is_keras = is_keras

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        if self._is_keras:
            # Keras imports JAX whenever it is installed, scikit-learn and
            # matplotlib for modules gliclass-keras never uses, and pandas and
            # torch._dynamo for code paths it does not take (see framework_imports)
            with without_unused_frameworks(), deferred_keras_modules(module):
                self._loader.exec_module(module)
            if not _State.registered:
                _keras_imported()
            return
        _State.importing += 1
        try:
            self._loader.exec_module(module)
        finally:
            _State.importing -= 1
        finish_pending()


class KerasImportWatcher(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loaders of `keras` and `gliclass_keras.*` modules."""

    def find_spec(self, name, path=None, target=None):
        if _State.registered or not (name == "keras" or name.startswith(_PACKAGE + ".")):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _WatchedLoader(spec.loader, name == "keras")
                return spec
        return None


def _remove_watcher():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, KerasImportWatcher)]


def install():
    """Register now if Keras is imported, else as soon as it is (see the module docstring)."""
    if "keras" in sys.modules:
        register_keras_classes()
    elif not any(isinstance(f, KerasImportWatcher) for f in sys.meta_path):
        sys.meta_path.insert(0, KerasImportWatcher())
