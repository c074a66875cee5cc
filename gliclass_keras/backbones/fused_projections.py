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
one. In inference on a CPU (float32, no gradient needed) that product is
oneDNN's (`torch.ops.mkldnn._linear_pointwise`) with the bias and the
feed-forward's GELU or ReLU fused into it: 10-15% faster than
`torch.nn.functional.linear` on these shapes, and no separate pass for the
activation (a DeBERTa-v3-small-sized `classify` 11% faster, the MiniLM
`default` preset's 15%). The values are those of the layers' own calls up to
float rounding (within 2e-6 on scores). `GLICLASS_KERAS_ONEDNN_LINEAR=0` keeps
`torch.nn.functional.linear`.

TensorFlow takes the same path with a plain `MatMul` and `BiasAdd`
(`linear`): its `EinsumDense` reshapes and transposes around a batched
product, and the `default` preset's pass over 1,500 tweets took 6.2-6.4 s
that way against 5.8-6.1 s fused (same scores). Its SavedModel and LiteRT
exports trace this path too; ONNX exports are traced on JAX, which keeps
the layers' own calls (XLA fuses the bias itself). ModernBERT's dense layers
(no biases) take `dense` too. Quantized layers, attention projections
without a bias, `EinsumDense`s with an activation, layers whose compute
dtype is not their variable dtype, and equations other than BERT's fall
back to the layers' calls. LoRA is kept: `EinsumDense.kernel` includes the
adapters.
"""

import functools
import os

import keras
from keras import ops

from gliclass_keras.utils.activations import gelu_tanh

# keras-hub's MultiHeadAttention projections: (B, L, C) -> (B, L, H, D), and back;
# DeBERTa-v3's output projection is a plain (B, L, C) -> (B, L, C') one.
_SPLIT_HEADS = "abc,cde->abde"
_MERGE_HEADS = "abcd,cde->abe"
_DENSE = "abc,cd->abd"

# `GLICLASS_KERAS_ONEDNN_LINEAR=0` keeps `torch.nn.functional.linear` (MKL's product, the
# float rounding of earlier releases); also a switch for tests and A/B timing, as is
# `_ONEDNN_TRAINING` for the training products alone.
ENVIRONMENT_VARIABLE = "GLICLASS_KERAS_ONEDNN_LINEAR"
_ONEDNN_LINEAR = [os.environ.get(ENVIRONMENT_VARIABLE, "1").strip() != "0"]
_ONEDNN_TRAINING = [True]


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
            or (layer.bias is None and not isinstance(layer, keras.layers.Dense))
        ):
            return False
    return True


def fusable_for(training, *layers):
    """`fusable(*layers)`, in inference, or in training on torch (which has the oneDNN gradient)."""
    return (not training or keras.config.backend() == "torch") and fusable(*layers)


def linear(x, kernel, bias, activation=None):
    """`activation(x @ kernel + bias)` over the last axis of `x`, as one product with its bias fused.

    `kernel` is `(in, out)` and `bias` `(out,)` (or `None`), tensors; `activation` a
    Keras activation or `None` (linear). On torch, inference on a CPU
    (float32, no gradient needed) runs oneDNN's matrix product with the bias
    and an exact or tanh GELU fused into it (`torch.ops.mkldnn._linear_pointwise`,
    the kernel Inductor uses): 10-15% faster than `torch.nn.functional.linear`
    on BERT- and DeBERTa-sized products on a 2-core AVX-512 CPU, and the GELU
    no separate pass. Otherwise `torch.nn.functional.linear`. On TensorFlow, a
    two-dimensional `MatMul` then `BiasAdd` (the pair its graph optimizer
    fuses for oneDNN), the leading axes folded into the rows and unfolded
    after.
    """
    if keras.config.backend() == "torch":
        import torch

        weight = kernel.T
        if not _onednn_cpu(x, weight, bias):
            y = torch.nn.functional.linear(x, weight, bias)
        elif not _needs_gradient(x, weight, bias):
            post_op = _onednn_post_op(activation)
            if post_op is not None:
                return torch.ops.mkldnn._linear_pointwise(x, weight, bias, post_op[0], [], post_op[1])
            y = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
        elif _ONEDNN_TRAINING[0]:
            y = _onednn_linear_function().apply(x, weight, bias)
        else:
            y = torch.nn.functional.linear(x, weight, bias)
        return y if activation is None else activation(y)
    import tensorflow as tf

    rows = tf.reshape(x, (-1, kernel.shape[0]))
    y = tf.matmul(rows, kernel)
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    y = tf.reshape(y, tf.concat([tf.shape(x)[:-1], [kernel.shape[1]]], axis=0))
    return y if activation is None else activation(y)


def _onednn_cpu(x, weight, bias):
    """Whether torch's oneDNN linear kernel can run this product: CPU, float32."""
    import torch

    if not _ONEDNN_LINEAR[0] or not torch.backends.mkldnn.enabled or not _onednn_works():
        return False
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in (x, weight, bias) if t is not None)


@functools.cache
def _onednn_works():
    """Whether this torch build has oneDNN's linear kernel and it computes a small product right.

    Checked once per process; a build without it (or one where it fails) keeps
    `torch.nn.functional.linear`.
    """
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    try:
        x = torch.linspace(-1.0, 1.0, 12).reshape(1, 3, 4)
        weight = torch.linspace(-0.5, 0.5, 20).reshape(5, 4)
        bias = torch.linspace(0.0, 1.0, 5)
        got = torch.ops.mkldnn._linear_pointwise(x, weight.T.contiguous().T, bias, "gelu", [], "none")
        want = torch.nn.functional.gelu(torch.nn.functional.linear(x, weight, bias))
        return bool(torch.allclose(got, want, atol=1e-5))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


def _needs_gradient(*tensors):
    import torch

    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


@functools.cache
def _onednn_linear_function():
    """A `torch.autograd.Function`: oneDNN's product forward and for the input gradient."""
    import torch

    class OneDnnLinear(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, bias):
            ctx.save_for_backward(x, weight)
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")

        @staticmethod
        def backward(ctx, grad):
            x, weight = ctx.saved_tensors
            grad_x = grad_weight = grad_bias = None
            if ctx.needs_input_grad[0]:
                grad_x = torch.ops.mkldnn._linear_pointwise(grad, weight.T, None, "none", [], "")
            rows = grad.reshape(-1, grad.shape[-1])
            if ctx.needs_input_grad[1]:
                grad_weight = rows.T @ x.reshape(-1, x.shape[-1])
            if ctx.needs_input_grad[2]:
                grad_bias = rows.sum(0)
            return grad_x, grad_weight, grad_bias

    return OneDnnLinear


def _onednn_post_op(activation):
    """oneDNN's `(attr, algorithm)` for `activation`, or `None` when it is applied after the product."""
    if activation is None or activation is keras.activations.linear:
        return ("none", "")
    if activation is keras.activations.gelu:
        return ("gelu", "none")  # Keras' default, approximate=False: the exact (erf) GELU
    if activation is gelu_tanh:
        return ("gelu", "tanh")
    if activation is keras.activations.relu:
        return ("relu", "")
    return None


def dense(x, layer):
    """`layer(x)` for a `keras.layers.Dense` (or a `"abc,cd->abd"` `EinsumDense`), with the bias fused."""
    kernel = ops.convert_to_tensor(layer.kernel)
    bias = None if layer.bias is None else ops.convert_to_tensor(layer.bias)
    activation = None if layer.activation is keras.activations.linear else layer.activation
    return linear(x, kernel, bias, activation)


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
