"""The common `get_config` of layers that store their constructor arguments."""


def config_with_args(config, layer, names):
    """`config` updated with the stored constructor arguments `names` of `layer`.

    Layers keep each constructor argument as an attribute of the same name, so
    their `get_config` is the base config plus those attributes:

    ```python
    def get_config(self):
        return config_with_args(super().get_config(), self, ("hidden_dim", "dropout"))
    ```
    """
    config.update({name: getattr(layer, name) for name in names})
    return config
