"""`GLiClassPreprocessorBase`: an `InputBuilder` as a Keras layer.

Every GLiClass preprocessor layer combines a framework-free input builder
(`gliclass_keras.preprocessing.input_builder`, which holds all of the
encoding, batching and argument checking) with `keras.layers.Layer`, which
gives it a place in a Keras model and in `.keras` files: `get_config` stores
the builder's `config_args` and serializes its `tokenizer_args` as Keras
objects (`GLiClassTokenizer`s, whose vocabularies are `.keras` assets).

A concrete preprocessor lists its builder first, then this class, and calls
both constructors explicitly (`_init_layer`, then the builder's
`__init__`):

```python
class GLiClassPreprocessor(UniEncoderInputBuilder, GLiClassPreprocessorBase):
    def __init__(self, tokenizer=None, max_length=1024, ..., **kwargs):
        self._init_layer(kwargs)
        UniEncoderInputBuilder.__init__(self, tokenizer, max_length, ...)
```
"""

import keras

from gliclass_keras.preprocessing.input_builder import InputBuilder
from gliclass_keras.preprocessing.tokenizer import GLiClassTokenizer


class GLiClassPreprocessorBase(InputBuilder, keras.layers.Layer):
    """Base class of the GLiClass preprocessor layers (see the module docstring).

    Args:
        max_length: int. Longest sequence in tokens (the reference
            pipeline's default is 1024).
        pad_token_id: int. Id used for padding.
        **kwargs: `keras.layers.Layer` arguments.
    """

    tokenizer_cls = GLiClassTokenizer

    def __init__(self, max_length=1024, pad_token_id=0, **kwargs):
        self._init_layer(kwargs)
        InputBuilder.__init__(self, max_length=max_length, pad_token_id=pad_token_id)

    def _init_layer(self, kwargs):
        """Initialize the `keras.layers.Layer` side with the layer arguments `kwargs`."""
        kwargs.setdefault("trainable", False)
        keras.layers.Layer.__init__(self, **kwargs)
        # No weights: mark it built, or Keras' jax predict would run an extra
        # uncompiled pass on every call to build the model's unbuilt layers.
        self.built = True

    # -------------------------------------------------------- serialization
    def get_config(self):
        config = keras.layers.Layer.get_config(self)
        for name in self.tokenizer_args:
            config[name] = keras.saving.serialize_keras_object(getattr(self, name))
        for name in self.config_args:
            config[name] = getattr(self, name)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.tokenizer_args:
            if isinstance(config.get(name), dict):
                config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)
