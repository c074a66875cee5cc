"""Attention projections and dense layers as fused matrix products, for inference on torch and TensorFlow.

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

TensorFlow takes the same path with a plain `MatMul` and `BiasAdd`
(`linear`): its `EinsumDense` reshapes and transposes around a batched
product, and the `default` preset's pass over 1,500 tweets took 6.2-6.4 s
that way against 5.8-6.1 s fused (same scores). Its SavedModel and LiteRT
exports trace this path too; ONNX exports are traced on JAX, which keeps
the layers' own calls (XLA fuses the bias itself). Quantized layers, layers
without a bias or an activation other than linear, layers whose compute
dtype is not their variable dtype, and equations other than BERT's fall
back to the layers' calls. LoRA is kept: `EinsumDense.kernel` includes the
adapters.
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
    if keras.config.backend() not in ("torch", "tensorflow"):
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


def linear(x, kernel, bias):
    """`x @ kernel + bias` over the last axis of `x`, as one product with its bias fused.

    `kernel` is `(in, out)` and `bias` `(out,)`, both tensors. On torch,
    `torch.nn.functional.linear`; on TensorFlow, a two-dimensional `MatMul`
    then `BiasAdd` (the pair its graph optimizer fuses for oneDNN), the
    leading axes folded into the rows and unfolded after.
    """
    if keras.config.backend() == "torch":
        import torch

        return torch.nn.functional.linear(x, kernel.T, bias)
    import tensorflow as tf

    rows = tf.reshape(x, (-1, kernel.shape[0]))
    y = tf.nn.bias_add(tf.matmul(rows, kernel), bias)
    return tf.reshape(y, tf.concat([tf.shape(x)[:-1], [kernel.shape[1]]], axis=0))


def dense(x, layer):
    """`layer(x)` for a `keras.layers.Dense` (or a `"abc,cd->abd"` `EinsumDense`), with the bias fused."""
    kernel, bias = ops.convert_to_tensor(layer.kernel), ops.convert_to_tensor(layer.bias)
    return layer.activation(linear(x, kernel, bias))


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
    outputs = []
    for layer in layers:
        channels, num_heads, head_dim = layer.kernel.shape
        kernel = ops.reshape(layer.kernel, (channels, num_heads * head_dim))
        bias = ops.reshape(layer.bias, (num_heads * head_dim,))  # tensors, not Variables
        y = linear(x, kernel, bias)
        shape = ops.shape(y)
        outputs.append(ops.reshape(y, (*shape[:-1], num_heads, head_dim)))
    return outputs


def merged_heads_projection(context, layer):
    """`layer(context)` for the output projection `(B, L, H, D) -> (B, L, C)`, as one product."""
    num_heads, head_dim, channels = layer.kernel.shape
    kernel = ops.reshape(layer.kernel, (num_heads * head_dim, channels))
    shape = ops.shape(context)
    merged = ops.reshape(context, (*shape[:-2], num_heads * head_dim))
    return linear(merged, kernel, ops.convert_to_tensor(layer.bias))
