"""Reading a Hugging Face `config.json` dict field by field, naming any unsupported field.

Shared by the converters' `convert_backbone_config`: every field a backbone
cannot reproduce raises a `ValueError` that names the model type, the field,
its value and what is supported.

Example:
```python
config = HFConfigReader({"model_type": "bert", "hidden_act": "silu"}, "bert")
config.read("hidden_act", "gelu", lambda v: v == "gelu", "'gelu'")
# ValueError: Unsupported 'bert' config: `hidden_act`='silu' (only 'gelu' is
# supported by the keras-hub backbone).
```
"""

import math


def is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def is_bool(value):
    return isinstance(value, bool)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_rate(value):
    """A dropout rate: a number in [0, 1)."""
    return is_number(value) and 0 <= value < 1


def is_close_to(expected):
    """A predicate: a number within a relative 1e-6 of `expected` (layer norm epsilons)."""
    return lambda value: isinstance(value, (int, float)) and math.isclose(
        value, expected, rel_tol=1e-6
    )


class HFConfigReader:
    """The fields of one Hugging Face backbone config, each read with its check.

    Args:
        transformers_config: dict. The Hugging Face config (`config.json`).
        model_type: str. The model type named in error messages.
    """

    def __init__(self, transformers_config, model_type):
        self.config = transformers_config
        self.model_type = model_type

    def unsupported(self, field, value, supported):
        """The `ValueError` for an unsupported `field` value."""
        return ValueError(
            f"Unsupported {self.model_type!r} config: `{field}`={value!r} "
            f"(only {supported} is supported by the keras-hub backbone)."
        )

    def read(self, field, default, ok, supported):
        """`config.get(field, default)`, which must satisfy `ok` (else `unsupported`)."""
        value = self.config.get(field, default)
        if not ok(value):
            raise self.unsupported(field, value, supported)
        return value

    def transformer_sizes(self):
        """The five sizes of a BERT-style config, as backbone arguments.

        `vocab_size`, `num_hidden_layers`, `num_attention_heads`,
        `hidden_size` and `intermediate_size` (all required) ->
        `vocabulary_size`, `num_layers`, `num_heads`, `hidden_dim`,
        `intermediate_dim`; `hidden_size` must be a multiple of
        `num_attention_heads`.
        """
        try:
            sizes = {
                "vocabulary_size": self.config["vocab_size"],
                "num_layers": self.config["num_hidden_layers"],
                "num_heads": self.config["num_attention_heads"],
                "hidden_dim": self.config["hidden_size"],
                "intermediate_dim": self.config["intermediate_size"],
            }
        except KeyError as e:
            raise ValueError(
                f"`hf_config` ({self.model_type!r}) has no field {e.args[0]!r}."
            ) from None
        if sizes["hidden_dim"] % sizes["num_heads"]:
            raise ValueError(
                f"Unsupported {self.model_type!r} config: `hidden_size`="
                f"{sizes['hidden_dim']} is not a multiple of "
                f"`num_attention_heads`={sizes['num_heads']}."
            )
        return sizes
