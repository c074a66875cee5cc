"""Layout maps for model-parallel GLiClass models (`keras.distribution.ModelParallel`).

A `keras.distribution.LayoutMap` maps variable paths (regexes, matched whole)
to the mesh axes each dimension is split over. The rules below cover every
encoder family GLiClass runs on (BERT, DeBERTa-v3, ModernBERT, T5) and the
GLiClass head (projectors, scorers, pooling LSTM), in the style of keras-hub's
`get_layout_map` (Gemma, Llama):

* Tensor parallel along the model axis, Megatron-style: the first projection
  of a block (attention query/key/value, feed-forward input) is split along
  its output units or heads, the second (attention output, feed-forward
  output) along its input; token and position embeddings along the hidden
  axis (vocabulary sizes such as 128,100 or 30,522 rarely divide a device
  count, hidden sizes do).
* The other dimension of each kernel is split along the data axis (as
  keras-hub does), so weights are not held whole on every data-parallel
  replica; pass `data_parallel_dim_name=None` to replicate them there.
* Per-head query/key/value biases and T5's relative-position bias follow
  their heads; other biases, norms and scalars stay replicated.

Each sharded dimension must divide by its axis size: attention kernels split
heads, so the model axis should divide the head count (12 or 16 for the
published checkpoints). A path that matches no rule stays replicated;
`unsharded_weights(model, layout_map)` lists the large ones that did, so a
renamed layer cannot silently undo the sharding.
"""

# (path regex, axes) with "M" for the model axis and "D" for the data axis.
# Every regex is matched against a whole variable path, behind any prefix
# (the bi-encoder's label encoder lives under `label_backbone/`).
_ANY = r"(?:.*/)?"

BERT_RULES = (
    (r"transformer_layer_\d+/self_attention_layer/(?:query|key|value)/kernel", ("D", "M", None)),
    # Per-head biases (heads, head_dim) follow their kernels' heads.
    (r"(?:transformer|disentangled_attention_encoder)_layer_\d+/self_attention_layer/(?:query|key|value)/bias", ("M", None)),
    (r"transformer_layer_\d+/self_attention_layer/attention_output/kernel", ("M", None, "D")),
    (r"(?:transformer|disentangled_attention_encoder)_layer_\d+/feedforward_intermediate_dense/kernel", ("D", "M")),
    (r"(?:transformer|disentangled_attention_encoder)_layer_\d+/feedforward_output_dense/kernel", ("M", "D")),
    (r"(?:token|position)_embedding/embeddings", (None, "M")),
    # BERT's token types, and GLiClass' own segment embedding (`/embeddings/embeddings`).
    (r"segment_embedding/embeddings(?:/embeddings)?", (None, "M")),
    (r"pooled_dense/kernel", ("D", "M")),
)

DEBERTA_V3_RULES = (
    (r"disentangled_attention_encoder_layer_\d+/self_attention_layer/(?:query|key|value)/kernel", ("D", "M", None)),
    (r"disentangled_attention_encoder_layer_\d+/self_attention_layer/attention_output/kernel", ("M", "D")),
    # Feed-forward kernels and the token embedding are named as in BERT.
    (r"rel_embedding/rel_embedding", (None, "M")),
)

MODERNBERT_RULES = (
    (r"transformer_layer_\d+/qkv_dense/kernel", ("D", "M")),
    (r"transformer_layer_\d+/attention_output_dense/kernel", ("M", "D")),
    (r"transformer_layer_\d+/mlp_input_dense/kernel", ("D", "M")),
    (r"transformer_layer_\d+/mlp_output_dense/kernel", ("M", "D")),
)

T5_RULES = (
    (r"transformer_(?:en|de)coder_layer_\d+/(?:self|cross)_attention/(?:query|key|value)_projector/kernel", ("D", "M")),
    (r"transformer_(?:en|de)coder_layer_\d+/(?:self|cross)_attention/output_projector/kernel", ("M", "D")),
    (r"transformer_(?:en|de)coder_layer_\d+/(?:input|gate)_projector/kernel", ("D", "M")),
    (r"transformer_(?:en|de)coder_layer_\d+/output_projector/kernel", ("M", "D")),
    # Relative-position bias (buckets, heads): split by head, as the attention.
    (r"transformer_(?:en|de)coder_layer_\d+/self_attention/embeddings", (None, "M")),
)

HEAD_RULES = (
    (r"(?:classes|text|biencoder)_projector/linear_1/kernel", ("D", "M")),
    (r"(?:classes|text|biencoder)_projector/linear_2/kernel", ("M", "D")),
    (r"scorer/(?:q|k|v|q_proj|k_proj|v_proj|proj_text|proj_label)/kernel", ("D", "M")),
    (r"scorer/out/kernel", ("M", "D")),
    (r"scorer/(?:mlp|score_mlp|out_mlp)_0/kernel", ("D", "M")),
    (r"scorer/(?:mlp|score_mlp)_2/kernel", ("M", "D")),
    (r"text_lstm/(?:forward|backward)_lstm/lstm_cell/(?:kernel|recurrent_kernel)", ("D", "M")),
)

RULES = BERT_RULES + DEBERTA_V3_RULES + MODERNBERT_RULES + T5_RULES + HEAD_RULES


def gliclass_layout_map(device_mesh, model_parallel_dim_name="model", data_parallel_dim_name="batch"):
    """A `keras.distribution.LayoutMap` for any GLiClass model (see the module docstring).

    Args:
        device_mesh: a `keras.distribution.DeviceMesh`.
        model_parallel_dim_name: the mesh axis that weights are split along.
        data_parallel_dim_name: the mesh axis batches are split along; the
            other dimension of each kernel is split along it too. `None`
            replicates weights along the data axis.

    Returns:
        A `keras.distribution.LayoutMap`, for
        `keras.distribution.ModelParallel(layout_map=..., batch_dim_name=...)`.
    """
    import keras

    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise TypeError(
            "`device_mesh` must be a keras.distribution.DeviceMesh. "
            f"Received: {type(device_mesh).__name__}"
        )
    names = list(device_mesh.axis_names)
    for argument, name in (
        ("model_parallel_dim_name", model_parallel_dim_name),
        ("data_parallel_dim_name", data_parallel_dim_name),
    ):
        if name is None and argument == "data_parallel_dim_name":
            continue
        if name not in names:
            raise ValueError(
                f"`{argument}`={name!r} is not an axis of the device mesh (axes: {names})."
            )
    if model_parallel_dim_name == data_parallel_dim_name:
        raise ValueError(
            "`model_parallel_dim_name` and `data_parallel_dim_name` must name different mesh axes."
        )
    axis = {"M": model_parallel_dim_name, "D": data_parallel_dim_name, None: None}
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in RULES:
        layout_map[_ANY + pattern] = tuple(axis[a] for a in axes)
    return layout_map


def unsharded_weights(model, layout_map, min_size=1 << 20):
    """Paths of `model`'s kernels of at least `min_size` values that `layout_map` leaves whole.

    Kernels and embeddings (weights of two or more dimensions) count; biases
    and norm scales stay replicated by design. A kernel counts as unsharded
    when no rule matches its path or its rule splits no dimension. Use it after building a model under
    `ModelParallel` to check that no large kernel was missed (a renamed
    layer, a new backbone); an empty list means every large weight is split.
    """
    missed = []
    for variable in model.weights:
        if len(variable.shape) < 2:
            continue
        size = 1
        for dim in variable.shape:
            size *= int(dim)
        if size < min_size:
            continue
        layout = layout_map[variable.path]
        if layout is None or all(a is None for a in layout.axes):
            missed.append(variable.path)
    return missed

