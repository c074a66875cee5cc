"""The random GLiClass uni-encoder checkpoint with a DeBERTa-v3-small-sized backbone.

Built **offline with the reference package** -- a SentencePiece-style Unigram
tokenizer trained in-process on the tweets, `DebertaV2Config`,
`GLiClassModelConfig`, `GLiClassModel(config)` -- and written with
`save_pretrained`, so the reference and gliclass-keras load exactly what a user
would download. Only the vocabulary (about 8k pieces instead of 128k) differs
from the real DeBERTa-v3-small. The inference and training benchmarks share it;
it is cached per (format, backbone, vocabulary size, seed).

```python
from benchmarks import checkpoint

path = checkpoint.ensure_checkpoint("~/.cache/gliclass_keras_bench", vocab_size=8000, seed=1234)
```

Build one directly with `python -m benchmarks.checkpoint --out DIR`.
"""

import argparse
import hashlib
import json
import os
import time

if __package__:
    from . import corpus
    from . import harness
else:  # run as a file
    import corpus
    import harness

SPECIAL_TOKENS = ["<<LABEL>>", "<<SEP>>", "<<EXAMPLE>>"]

# DeBERTa-v3-small-sized backbone (the vocabulary is trained here, ~8k pieces).
BACKBONE = dict(
    num_hidden_layers=6,
    hidden_size=768,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    relative_attention=True,
    pos_att_type=["p2c", "c2p"],
    position_buckets=256,
    max_relative_positions=-1,
    norm_rel_ebd="layer_norm",
    share_att_key=True,
    position_biased_input=False,
    type_vocab_size=0,
    hidden_act="gelu",
    layer_norm_eps=1e-7,
)
CHECKPOINT_FORMAT = 2  # bump to invalidate cached checkpoints
INFO_FILE = "BENCHMARK_CHECKPOINT.json"


def checkpoint_dir(cache_dir, vocab_size, seed):
    """The cache folder of the checkpoint built with these settings."""
    key = json.dumps(
        dict(fmt=CHECKPOINT_FORMAT, backbone=BACKBONE, vocab=vocab_size, seed=seed),
        sort_keys=True,
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return os.path.join(cache_dir, f"gliclass-uni-debertav3small-random-{digest}")


def ensure_checkpoint(cache_dir, vocab_size, seed):
    """The checkpoint's folder, built first (in a subprocess) unless it is cached."""
    ckpt = checkpoint_dir(os.path.abspath(os.path.expanduser(cache_dir)), vocab_size, seed)
    if os.path.isfile(os.path.join(ckpt, "model.safetensors")):
        print(f"Using cached checkpoint {ckpt}")
        return ckpt
    print(f"Building the random DeBERTa-v3-small-sized GLiClass checkpoint in {ckpt} ...")
    os.makedirs(os.path.dirname(ckpt), exist_ok=True)
    harness.run_worker(
        "checkpoint",
        ["--out", ckpt, "--vocab-size", vocab_size, "--seed", seed],
        "Building the checkpoint",
        echo=lambda line: line.startswith("  "),
    )
    return ckpt


def checkpoint_info(ckpt):
    """What `build_checkpoint` recorded: parameter count, backbone, seed, vocabulary size."""
    with open(os.path.join(ckpt, INFO_FILE)) as f:
        return json.load(f)


def build_checkpoint(out_dir, vocab_size, seed):
    """Build and `save_pretrained` the random GLiClass checkpoint (imports torch)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import numpy as np
    import torch
    from gliclass import GLiClassModel
    from gliclass import GLiClassModelConfig
    from tokenizers import Tokenizer
    from tokenizers import models as tk_models
    from tokenizers import pre_tokenizers
    from tokenizers import trainers
    from transformers import DebertaV2Config
    from transformers import DebertaV2Tokenizer

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    # DeBERTa-v3-style SentencePiece Unigram vocabulary: [PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3.
    tweets = corpus.load_tweets()
    trainer_tok = Tokenizer(tk_models.Unigram())
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"],
        unk_token="[UNK]",
        show_progress=False,
    )
    trainer_tok.train_from_iterator(tweets + corpus.DEFAULT_LABELS, trainer)
    unigram = json.loads(trainer_tok.to_str())["model"]
    tokenizer = DebertaV2Tokenizer(vocab=[tuple(x) for x in unigram["vocab"]], unk_id=unigram["unk_id"])
    print(f"  tokenizer: {len(tokenizer)} pieces trained on {len(tweets)} tweets "
          f"({time.perf_counter() - t0:.1f}s)", flush=True)

    # GLiClass special tokens, exactly as the reference's train.py adds them.
    base_vocab = len(tokenizer)
    tokenizer.add_tokens(SPECIAL_TOKENS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS)
    assert ids == [base_vocab, base_vocab + 1, base_vocab + 2], ids

    encoder_config = DebertaV2Config(
        vocab_size=base_vocab, pad_token_id=tokenizer.pad_token_id, **BACKBONE
    )
    config = GLiClassModelConfig(
        encoder_config=encoder_config,
        encoder_model="offline-random-deberta-v3-small",
        class_token_index=ids[0],
        text_token_index=ids[1],
        example_token_index=ids[2],
        architecture_type="uni-encoder",
        problem_type="multi_label_classification",
        dropout=0.1,
    )  # default head: pooling "first", scorer "simple", prompt_first False
    torch.manual_seed(seed)
    model = GLiClassModel(config)
    model.resize_token_embeddings(len(tokenizer))

    # Seeded "spread" init so that scores are not all ~0.5 (the default init gives logits
    # ~0, which would make the score comparison meaningless): matrices N(0, 1/fan_in),
    # norm weights 1 + N(0, 0.1), other vectors N(0, 0.1). The projectors' output layers
    # are then scaled by 2 * hidden**-0.25 so the dot-product logits are O(1) rather than
    # O(sqrt(hidden)) (which would saturate every sigmoid at 0 or 1): scores then spread
    # over roughly [0.1, 0.9].
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("logit_scale"):
                continue
            if param.dim() >= 2:
                std = 1.0 / float(np.sqrt(param.shape[-1]))
                param.copy_(torch.randn(param.shape, generator=generator) * std)
            elif "norm" in name.lower() and name.endswith("weight"):
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=generator))
            else:
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
        scale = 2.0 * float(BACKBONE["hidden_size"]) ** -0.25
        for projector in (model.model.text_projector, model.model.classes_projector):
            projector.linear_2.weight.mul_(scale)
            projector.linear_2.bias.mul_(scale)
    model.eval()
    num_params = sum(p.numel() for p in model.parameters())

    tmp_dir = out_dir + ".partial"
    os.makedirs(tmp_dir, exist_ok=True)
    model.save_pretrained(tmp_dir)  # safetensors
    tokenizer.save_pretrained(tmp_dir)
    info = dict(num_params=num_params, backbone=BACKBONE, seed=seed, vocab_size=len(tokenizer))
    with open(os.path.join(tmp_dir, INFO_FILE), "w") as f:
        json.dump(info, f, indent=1)
    os.replace(tmp_dir, out_dir)
    print(f"  checkpoint: {num_params / 1e6:.1f}M parameters -> {out_dir} "
          f"({time.perf_counter() - t0:.1f}s)", flush=True)
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write the checkpoint to")
    parser.add_argument("--vocab-size", type=int, default=8000, help="Unigram vocabulary to train")
    parser.add_argument("--seed", type=int, default=1234, help="model init")
    args = parser.parse_args(argv)
    harness.print_result(build_checkpoint(os.path.abspath(args.out), args.vocab_size, args.seed))


if __name__ == "__main__":
    main()
