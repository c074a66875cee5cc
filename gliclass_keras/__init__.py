"""GLiClass zero-shot text classification for Keras 3 (torch, JAX, TensorFlow).

```python
import gliclass_keras

model = gliclass_keras.GLiClassClassifier.from_pretrained("path/to/checkpoint")
model.classify(["Our team won the match."], ["sport", "travel", "science"])
```

Names are loaded on first use: `import gliclass_keras` imports no
deep-learning framework, so an exported model runs with onnxruntime alone
(`gliclass_keras.OnnxClassifier`). The Keras classes are still registered for
`keras.saving.load_model` as soon as Keras is imported
(`gliclass_keras.keras_registration`).
"""

import importlib

from gliclass_keras import keras_registration

__version__ = "0.1.0"

# Public name -> the module that defines it (a module itself for submodules).
_EXPORTS = {
    "GLiClassConfig": "gliclass_keras.config",
    "GLiClassClassifier": "gliclass_keras.models.gliclass_classifier",
    "GLiClassUniEncoderClassifier": "gliclass_keras.models.gliclass_uni_encoder",
    "GLiClassBiEncoderClassifier": "gliclass_keras.models.gliclass_bi_encoder",
    "GLiClassBiEncoderPreprocessor": "gliclass_keras.preprocessing.bi_encoder_preprocessor",
    "GLiClassBiEncoderFusedClassifier": "gliclass_keras.models.gliclass_bi_encoder_fused",
    "GLiClassBiEncoderFusedPreprocessor": (
        "gliclass_keras.preprocessing.bi_encoder_fused_preprocessor"
    ),
    "GLiClassEncoderDecoderClassifier": "gliclass_keras.models.gliclass_encoder_decoder",
    "GLiClassEncoderDecoderPreprocessor": (
        "gliclass_keras.preprocessing.encoder_decoder_preprocessor"
    ),
    "GLiClassPreprocessor": "gliclass_keras.preprocessing.uni_encoder_preprocessor",
    "GLiClassDataset": "gliclass_keras.data.gliclass_dataset",
    "GLiClassTokenizer": "gliclass_keras.preprocessing.tokenizer",
    "LabelEmbeddings": "gliclass_keras.models.label_embeddings",
    "OnnxClassifier": "gliclass_keras.export.onnx_classifier",
    "enable_compilation_cache": "gliclass_keras.utils.compilation_cache",
    "TrainingConfig": "gliclass_keras.training_config",
    "RLConfig": "gliclass_keras.rl.rl_config",
    "RLTrainer": "gliclass_keras.rl.rl_trainer",
    "rewards": "gliclass_keras.rl.rewards",
    "losses": "gliclass_keras.losses",
    "metrics": "gliclass_keras.metrics",
    "optimizers": "gliclass_keras.optimizers",
}
_SUBMODULES = ("rewards", "losses", "metrics", "optimizers")

__all__ = list(_EXPORTS)


def __getattr__(name):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'gliclass_keras' has no attribute {name!r}")
    from gliclass_keras.utils.framework_imports import without_unused_frameworks

    with without_unused_frameworks():
        module = importlib.import_module(module_name)
    value = module if name in _SUBMODULES else getattr(module, name)
    globals()[name] = value
    keras_registration.finish_pending()
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


keras_registration.install()
