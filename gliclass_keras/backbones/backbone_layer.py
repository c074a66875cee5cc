"""Base class of the layers that run (part of) a keras-hub backbone from its sublayers."""

import keras


class BackboneLayer(keras.layers.Layer):
    """A layer that runs a keras-hub backbone's own sublayers.

    What `BackboneEncoder` and `T5Decoder` share. Such a layer has no
    variables of its own: it holds `backbone` (a functional model, built at
    construction) and uses its weights, takes the backbone's dtype policy
    unless given one, and saves the backbone in its config. A subclass
    validates `backbone` and defines `call` and `compute_output_spec`
    (`hidden_state_spec` gives the spec of one hidden state).

    Args:
        backbone: a keras-hub backbone.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`,
            ...). `dtype` defaults to the backbone's dtype policy.

    Example:
    ```python
    class LastHiddenState(BackboneLayer):
        def call(self, token_ids, padding_mask):
            return self.backbone(
                {"token_ids": token_ids, "padding_mask": padding_mask}
            )

        def compute_output_spec(self, token_ids, *args, **kwargs):
            return self.hidden_state_spec(token_ids)
    ```
    """

    def __init__(self, backbone, **kwargs):
        kwargs.setdefault("dtype", backbone.dtype_policy)
        super().__init__(**kwargs)
        self.backbone = backbone

    def build(self, *args, **kwargs):
        # The backbone is a functional model, built at construction.
        self.built = True

    def hidden_state_spec(self, token_ids):
        """The spec of a `(batch, length, hidden_dim)` hidden state for `token_ids`."""
        shape = tuple(token_ids.shape[:2]) + (self.backbone.hidden_dim,)
        return keras.KerasTensor(shape, dtype=self.backbone.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"backbone": keras.saving.serialize_keras_object(self.backbone)}
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["backbone"], dict):
            config["backbone"] = keras.saving.deserialize_keras_object(
                config["backbone"]
            )
        return cls(**config)
