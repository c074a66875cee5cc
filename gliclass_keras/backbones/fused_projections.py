"""Attention projections and dense layers as fused matrix products, for inference on torch.

Used by the BERT and DeBERTa-v3 inference paths (`backbones/bert.py`,
`backbones/deberta_v3.py`).

Keras' `EinsumDense` runs a BERT attention projection as `torch.einsum`
(a batched product) followed by a separate bias addition, three times for
query, key and value. On long sequences (a uni-encoder reading 100 labels:
about 300 tokens) the bias additions alone were a tenth of a MiniLM forward
pass and the batched products ran about 20% slower than plain ones.
Here query, key and value come from one `torch.nn.functional.linear` (one
matrix product with the bias fused in) over the three kernels side by side,
the output projection from one more, and each feed-forward `Dense` from
one (its activation applied after). The values are those of the layers'
own calls up to float rounding.

Only torch takes this path (`fusable`): XLA and TensorFlow's graph optimizer
already fuse the bias into the product, and exports keep the layers' own
graph. Quantized layers, layers without a bias or an activation other than
linear, layers whose compute dtype is not their variable dtype, and
equations other than BERT's fall back to the layers' calls. LoRA
is kept: `EinsumDense.kernel` includes the adapters.
"""

import keras
from keras import ops

# keras-hub's MultiHeadAttention projections: (B, L, C) -> (B, L, H, D), and back;
# DeBERTa-v3's output projection is a plain (B, L, C) -> (B, L, C') one.
_SPLIT_HEADS = "abc,cde->abde"
_MERGE_HEADS = "abcd,cde->abe"
_DENSE = "abc,cd->abd"


def fusable(*layers):
    """Whether `layers` (attention `EinsumDense`s and `Dense`s) can all run as fused products here."""
    if keras.config.backend() != "torch":
        return False
    for layer in layers:
        if isinstance(layer, keras.layers.EinsumDense):
            if layer.equation not in (_SPLIT_HEADS, _MERGE_HEADS, _DENSE) or layer.activation is not keras.activations.linear:
                return False
        elif not isinstance(layer, keras.layers.Dense):
            return False
        if (
            getattr(layer, "quantization_mode", None) is not None
            or layer.compute_dtype != layer.variable_dtype
            or layer.bias is None
        ):
            return False
    return True


def dense(x, layer):
    """`layer(x)` for a `keras.layers.Dense` (or a `"abc,cd->abd"` `EinsumDense`), with the bias fused."""
    import torch

    kernel, bias = ops.convert_to_tensor(layer.kernel), ops.convert_to_tensor(layer.bias)
    return layer.activation(torch.nn.functional.linear(x, kernel.T, bias))


def dense_or_call(x, layer, fused):
    """`dense(x, layer)` when `fused` (the caller checked `fusable`), else the layer's own call."""
    return dense(x, layer) if fused else layer(x)


def fused_projections(x, layers):
    """`[layer(x) for layer in layers]` for split-heads projections, each one product with its bias.

    Example:
    ```python
    query, key, value = fused_projections(x, (query_dense, key_dense, value_dense))
    ```
    """
    import torch

    outputs = []
    for layer in layers:
        channels, num_heads, head_dim = layer.kernel.shape
        kernel = ops.reshape(layer.kernel, (channels, num_heads * head_dim))
        bias = ops.reshape(layer.bias, (num_heads * head_dim,))  # tensors, not Variables
        y = torch.nn.functional.linear(x, kernel.T, bias)
        outputs.append(y.reshape(*y.shape[:-1], num_heads, head_dim))
    return outputs


def merged_heads_projection(context, layer):
    """`layer(context)` for the output projection `(B, L, H, D) -> (B, L, C)`, as one product."""
    import torch

    num_heads, head_dim, channels = layer.kernel.shape
    kernel = ops.reshape(layer.kernel, (num_heads * head_dim, channels))
    merged = context.reshape(*context.shape[:-2], num_heads * head_dim)
    return torch.nn.functional.linear(merged, kernel.T, ops.convert_to_tensor(layer.bias))
