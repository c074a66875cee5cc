"""`OnnxClassifier`: an exported GLiClass model, run by onnxruntime alone.

Imports only `onnxruntime`, `tokenizers`, `numpy` and the framework-free
parts of gliclass-keras: the input builders
(`gliclass_keras.preprocessing.input_builder`) and the zero-shot API
(`gliclass_keras.models.zero_shot_api`) that the Keras models use too, so
inputs, label chunks, long-text windows, calibration, scores and argument
errors are those of `GLiClassClassifier`.

An export directory holds:

* `gliclass_export.json`: `format_version` (1), `architecture_type`,
  `preprocessor` (`class_name`, the Keras preprocessor's class, and
  `config`, its `config_args`), `tokenizers` (`{argument: file}`),
  `calibration` (None or `{"temperature", "bias"[, "label_count_weight"]}`), `graphs`
  (`{"model": "model.onnx"}`, and for bi-encoders `text_encoder`,
  `label_encoder` and `scorer`), `inputs` (the model's input names) and
  `quantization` (None or `"int8"`);
* `model.onnx`: the model's inputs (int32, the arrays
  `preprocessor.collate(rows)` makes) to its logits `(batch, num_labels)`;
* bi-encoders: `text_encoder.onnx` (`token_ids`, `padding_mask` -> text
  vectors), `label_encoder.onnx` (`label_token_ids`, `label_padding_mask`,
  `label_mask` -> class vectors) and `scorer.onnx` (`text`, `classes`,
  `label_mask` -> logits), for `encode_labels` (see
  `gliclass_keras.models.label_cache_api`);
* the tokenizer files.
"""

import os

import numpy as np

from gliclass_keras.config import ARCHITECTURE_TYPES
from gliclass_keras.models import calibration as calibration_lib
from gliclass_keras.models.label_cache_api import LabelCacheAPI
from gliclass_keras.models.zero_shot_api import ZeroShotAPI
from gliclass_keras.preprocessing.bi_encoder_fused_input_builder import BiEncoderFusedInputBuilder
from gliclass_keras.preprocessing.bi_encoder_input_builder import BiEncoderInputBuilder
from gliclass_keras.preprocessing.encoder_decoder_input_builder import EncoderDecoderInputBuilder
from gliclass_keras.preprocessing.fast_tokenizer import FastTokenizer
from gliclass_keras.preprocessing.uni_encoder_input_builder import UniEncoderInputBuilder
from gliclass_keras.utils.files import load_json
from gliclass_keras.utils.files import read_file

EXPORT_CONFIG = "gliclass_export.json"
FORMAT_VERSION = 1
# The Keras preprocessor class named in an export -> its framework-free builder.
INPUT_BUILDERS = {
    "GLiClassPreprocessor": UniEncoderInputBuilder,
    "GLiClassBiEncoderPreprocessor": BiEncoderInputBuilder,
    "GLiClassBiEncoderFusedPreprocessor": BiEncoderFusedInputBuilder,
    "GLiClassEncoderDecoderPreprocessor": EncoderDecoderInputBuilder,
}
# `LabelCacheAPI` sub-graph -> the graph that runs it (bi-encoders).
VECTOR_GRAPHS = {"text": "text_encoder", "label": "label_encoder", "score": "scorer"}


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            "OnnxClassifier needs onnxruntime: `pip install gliclass-keras[export]` "
            "(or `pip install onnxruntime`)."
        ) from error
    return onnxruntime


def read_export_config(directory):
    """The checked `gliclass_export.json` of an export directory, as a dict."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"No export directory at {directory!r}: OnnxClassifier reads the directory "
            f"an ONNX export writes ({EXPORT_CONFIG}, model.onnx, tokenizer.json)."
        )
    path = os.path.join(directory, EXPORT_CONFIG)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No {EXPORT_CONFIG} in {directory!r}: it is not an ONNX export.")
    config = read_file(path, load_json, f"a GLiClass export config ({EXPORT_CONFIG})")
    problems = []
    if not isinstance(config, dict):
        problems.append("it is not a JSON object")
        config = {}
    elif config.get("format_version") != FORMAT_VERSION:
        problems.append(
            f"format_version is {config.get('format_version')!r}; this gliclass-keras "
            f"reads format_version {FORMAT_VERSION}"
        )
    elif config.get("architecture_type") not in ARCHITECTURE_TYPES:
        problems.append(f"architecture_type {config.get('architecture_type')!r} is unknown")
    else:
        preprocessor = config.get("preprocessor")
        class_name = preprocessor.get("class_name") if isinstance(preprocessor, dict) else None
        if class_name not in INPUT_BUILDERS:
            problems.append(f"preprocessor.class_name must be one of {sorted(INPUT_BUILDERS)}")
        graphs = config.get("graphs")
        needed = ["model"] + (list(VECTOR_GRAPHS.values()) if _is_bi_encoder(config) else [])
        if not isinstance(graphs, dict) or any(name not in graphs for name in needed):
            problems.append(f"graphs must name the files of {needed}")
        if config.get("quantization") not in (None, "int8"):
            problems.append(f"quantization {config.get('quantization')!r} is unknown")
        for key in ("tokenizers", "inputs"):
            if not isinstance(config.get(key), (dict if key == "tokenizers" else list)):
                problems.append(f"{key!r} is missing")
    if problems:
        raise ValueError(f"Invalid {path!r}: " + "; ".join(problems) + ".")
    return config


def _is_bi_encoder(config):
    return config.get("architecture_type") == "bi-encoder"


class OnnxClassifier(ZeroShotAPI):
    """A GLiClass zero-shot classifier exported to ONNX, run by onnxruntime.

    No deep-learning framework is imported: only `onnxruntime`, `tokenizers`
    and `numpy`. `classify`, `predict_scores` and `predict_logits` take the
    arguments of `GLiClassClassifier`'s, check them the same way (same
    errors), build the same inputs (text cutting, label chunks, long-text
    windows) and apply the export's calibration, so scores match the Keras
    model's. A bi-encoder export gives an `OnnxBiEncoderClassifier`, which
    also has `encode_labels` and `encode_texts`.

    Args:
        directory: the export directory (see the module docstring).
        providers: onnxruntime execution providers, e.g.
            `["CUDAExecutionProvider", "CPUExecutionProvider"]`; default
            onnxruntime's.
        session_options: an `onnxruntime.SessionOptions`, or None.

    Example:

    ```python
    model = gliclass_keras.OnnxClassifier("exported/")
    model.classify(["Our team won the match."], ["sport", "travel", "science"])
    # [[{"label": "sport", "score": 0.97}]]
    ```
    """

    def __new__(cls, directory, providers=None, session_options=None):
        if cls is OnnxClassifier and _is_bi_encoder(read_export_config(directory)):
            cls = OnnxBiEncoderClassifier
        return super().__new__(cls)

    def __init__(self, directory, providers=None, session_options=None):
        self.directory = os.fspath(directory)
        config = read_export_config(self.directory)
        self.export_config = config
        self.architecture_type = config["architecture_type"]
        self.quantization = config.get("quantization")
        self.calibration = config.get("calibration")
        self.preprocessor = self._input_builder(config["preprocessor"], config["tokenizers"])
        self._providers = providers
        self._session_options = session_options
        self.session = self._session(config["graphs"]["model"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        if sorted(self.input_names) != sorted(config["inputs"]):
            raise ValueError(
                f"{self._path(config['graphs']['model'])!r} takes the inputs "
                f"{self.input_names}, but {EXPORT_CONFIG} lists {config['inputs']}."
            )

    def __repr__(self):
        return (
            f"{type(self).__name__}({self.directory!r}, "
            f"architecture_type={self.architecture_type!r})"
        )

    # ------------------------------------------------------------- loading
    def _path(self, name):
        return os.path.join(self.directory, name)

    def _input_builder(self, preprocessor, tokenizer_files):
        builder_cls = INPUT_BUILDERS[preprocessor["class_name"]]
        if sorted(tokenizer_files) != sorted(builder_cls.tokenizer_args):
            raise ValueError(
                f"Invalid {self._path(EXPORT_CONFIG)!r}: a {preprocessor['class_name']} needs "
                f"the tokenizers {list(builder_cls.tokenizer_args)}; "
                f"it lists {sorted(tokenizer_files)}."
            )
        tokenizers = {}
        for arg, name in tokenizer_files.items():
            path = self._path(name)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"No {name} in {self.directory!r} (the export's `{arg}`).")
            tokenizers[arg] = read_file(path, FastTokenizer.from_file, "a tokenizer.json file")
        return builder_cls(**tokenizers, **preprocessor.get("config", {}))

    def _session(self, name):
        """An `onnxruntime.InferenceSession` of the graph file `name`."""
        onnxruntime = _onnxruntime()
        path = self._path(name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No {name} in {self.directory!r} (a graph of the export).")
        options = self._session_options
        if options is None:
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3  # errors only, not graph-cleanup notes
        return read_file(
            path,
            lambda p: onnxruntime.InferenceSession(
                p, sess_options=options, providers=self._providers
            ),
            "an ONNX graph",
        )

    @property
    def providers(self):
        """The onnxruntime execution providers the model's session runs on."""
        return self.session.get_providers()

    # ------------------------------------------------------------ running
    @property
    def calibration(self):
        """`{"temperature", "bias"}` applied to the logits of every score, or None.

        Read from the export; can be set by hand (or to None) too.
        """
        return self._calibration

    @calibration.setter
    def calibration(self, value):
        self._calibration = calibration_lib.check_calibration(value)

    def _uses_static_shapes(self):
        return False  # onnxruntime runs any shape without recompiling

    @staticmethod
    def _run(session, arrays):
        feeds = {i.name: np.asarray(arrays[i.name]) for i in session.get_inputs()}
        return session.run(None, feeds)[0]

    def _run_batch(self, arrays):
        return self._run(self.session, arrays)


class OnnxBiEncoderClassifier(LabelCacheAPI, OnnxClassifier):
    """An exported GLiClass bi-encoder, run by onnxruntime (see `OnnxClassifier`).

    Also runs the export's three tower graphs, for a label cache:
    `encode_labels(labels)` gives a `LabelEmbeddings` that `classify`,
    `predict_scores` and `predict_logits` take in place of `labels`, and
    `encode_texts(texts)` gives the text vectors.

    Example:

    ```python
    model = gliclass_keras.OnnxClassifier("exported-bi-encoder/")
    cache = model.encode_labels(["sport", "travel", "science"])
    model.classify(["Our team won the match."], cache)
    ```
    """

    def __init__(self, directory, providers=None, session_options=None):
        super().__init__(directory, providers=providers, session_options=session_options)
        graphs = self.export_config["graphs"]
        self.vector_sessions = {
            which: self._session(graphs[graph]) for which, graph in VECTOR_GRAPHS.items()
        }

    def _run_vectors(self, which, arrays):
        return self._run(self.vector_sessions[which], arrays)

    def _class_vector_width(self):
        classes = next(i for i in self.vector_sessions["score"].get_inputs() if i.name == "classes")
        return classes.shape[-1]
