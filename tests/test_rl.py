"""PPO training (RLConfig, RLTrainer): the loss against the reference
`RLTrainer.compute_loss`, rewards, and fit() with value and reference models."""

import types

import keras
import numpy as np
import pytest
import torch
from keras import ops

from test_training import _model

import gliclass_keras
from gliclass_keras.rl import RLConfig, RLTrainer, ppo_loss, rewards

LABELS = ["sport", "travel", "science", "cooking"]
TEXTS = [
    "We won the football match",
    "A long trip to Paris by train",
    "Atoms bond into molecules",
    "Bake the bread for an hour",
    "The striker scored twice",
    "Our flight was delayed",
    "Cells divide by mitosis",
    "Stir the soup slowly",
]
# A toy multi-label task a tiny random model can learn from rewards alone:
# every text's true labels are sport and science.
TOY = [{"text": t, "all_labels": LABELS, "true_labels": ["sport", "science"]} for t in TEXTS]


@keras.saving.register_keras_serializable(package="gliclass_keras_tests")
def brevity_reward(probs, actions, targets, valid_mask):
    return -0.1 * ops.sum(actions * valid_mask, axis=-1, keepdims=True)


# ------------------------------------------------------------ the loss
def _reference_trainer(**args):
    from gliclass.training import RLTrainer as ReferenceRLTrainer
    from gliclass.utils import default_f1_reward

    trainer = ReferenceRLTrainer.__new__(ReferenceRLTrainer)
    defaults = dict(
        get_actions="bernoulli", threshold=0.5, label_smoothing_factor=0.0, cliprange=0.2,
        gamma=-1, alpha=-1, entropy_beta=0, kl_beta=0,
    )
    trainer.args = types.SimpleNamespace(**{**defaults, **args})
    trainer.reward_components = {"f1": default_f1_reward}  # the dict its code reads
    trainer._init_metrics()
    return trainer


def _batch(seed, padded):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, size=(6, 5)).astype("float32")
    targets = (rng.random((6, 5)) < 0.4).astype("float32")
    targets[0] = 0.0  # no true label
    targets[1, :2] = 1.0
    if padded:
        targets[2, 3:] = -100.0
        targets[4, 4:] = -100.0
    actions = (rng.random((6, 5)) < 0.5).astype("float32")
    actions[1] = 0.0  # nothing chosen
    return logits, targets, actions, rng


SETTINGS = {
    # (our RLConfig fields, reference args, value model, reference model, padded)
    "ppo_only": ({}, {}, False, False, True),
    "focal_value": ({"gamma": 2.0, "alpha": 0.25, "cliprange": 0.1}, {"gamma": 2.0, "alpha": 0.25, "cliprange": 0.1}, True, False, True),
    "smooth_entropy_kl": (
        {"labels_smoothing": 0.1, "entropy_beta": 0.05, "kl_beta": 0.2},
        {"label_smoothing_factor": 0.1, "entropy_beta": 0.05, "kl_beta": 0.2},
        False, True, False,
    ),
    "everything": (
        {"gamma": 1.5, "alpha": 0.7, "labels_smoothing": 0.2, "entropy_beta": 0.3, "kl_beta": 0.5, "cliprange": 0.3},
        {"gamma": 1.5, "alpha": 0.7, "label_smoothing_factor": 0.2, "entropy_beta": 0.3, "kl_beta": 0.5, "cliprange": 0.3},
        True, True, False,
    ),
}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_ppo_loss_equals_reference_compute_loss(setting, monkeypatch):
    ours, theirs, use_value, use_reference, padded = SETTINGS[setting]
    config = RLConfig(**ours)
    reference = _reference_trainer(**theirs)
    logits, targets, actions, rng = _batch(seed=len(setting), padded=padded)
    values = rng.normal(0.5, 0.3, size=(6, 3)).astype("float32") if use_value else None
    reference_probs = rng.uniform(0.05, 0.95, size=(6, 5)).astype("float32") if use_reference else None
    monkeypatch.setattr(torch, "bernoulli", lambda probs: torch.from_numpy(actions))

    previous_ours = previous_theirs = None
    for iteration, shift in enumerate((0.0, 0.6)):  # two PPO iterations: ratio 1, then clipped
        step_logits = logits + shift * np.sign(logits - 0.2)
        their_loss, their_log_probs = reference.compute_loss(
            torch.from_numpy(step_logits),
            torch.from_numpy(targets),
            log_prob_prev=previous_theirs,
            value_outputs=None if values is None else types.SimpleNamespace(logits=torch.from_numpy(values)),
            reference_probs=None if reference_probs is None else torch.from_numpy(reference_probs),
        )
        valid = (targets != -100).astype("float32")
        reward = rewards.f1_reward(ops.sigmoid(step_logits), actions, targets * valid, valid)
        results = ppo_loss(
            step_logits,
            targets,
            actions,
            reward,
            config,
            log_prob_prev=previous_ours,
            values=None if values is None else values[:, :1],
            reference_probs=reference_probs,
        )
        loss = float(ops.convert_to_numpy(results["loss"]))
        assert abs(loss - float(their_loss)) <= 1e-5, (setting, iteration, loss, float(their_loss))
        np.testing.assert_allclose(
            ops.convert_to_numpy(results["log_probs"]), their_log_probs.detach().numpy(), atol=1e-5
        )
        previous_theirs = their_log_probs.detach()
        previous_ours = results["log_probs"]
    # the second iteration moved the ratio past the clip range somewhere
    ratio = np.exp(ops.convert_to_numpy(previous_ours) - ops.convert_to_numpy(
        ppo_loss(logits, targets, actions, reward, config)["log_probs"]))
    assert np.abs(ratio - 1.0).max() > config.cliprange


def test_f1_reward_equals_reference_default_f1_reward():
    from gliclass.utils import default_f1_reward

    logits, targets, actions, _ = _batch(seed=3, padded=True)
    valid = targets != -100
    theirs = default_f1_reward(
        torch.sigmoid(torch.from_numpy(logits)), torch.from_numpy(actions), torch.from_numpy(targets),
        torch.from_numpy(valid),
    ).numpy()
    valid = valid.astype("float32")
    ours = ops.convert_to_numpy(rewards.f1_reward(None, actions, targets * valid, valid))
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert ours.shape == (6, 1) and ours[0, 0] == 0.0 and ours[1, 0] == 0.0 and ours.max() > 0


def test_filler_rows_count_for_nothing():
    """Rows without a real label slot (batch filler) change no term."""
    logits, targets, actions, _ = _batch(seed=5, padded=True)
    config = RLConfig(entropy_beta=0.1, gamma=2.0)
    reward = np.linspace(0.1, 0.9, 6, dtype="float32")[:, None]
    base = ppo_loss(logits, targets, actions, reward, config, values=reward * 0.5)
    filled = ppo_loss(
        np.concatenate([logits, logits[:2] + 3.0]),
        np.concatenate([targets, np.full((2, 5), -100.0, "float32")]),
        np.concatenate([actions, actions[:2]]),
        np.concatenate([reward, [[5.0], [7.0]]]).astype("float32"),
        config,
        values=np.concatenate([reward * 0.5, [[-9.0], [9.0]]]).astype("float32"),
    )
    for key in ("loss", "policy_loss", "value_loss", "entropy"):
        np.testing.assert_allclose(ops.convert_to_numpy(filled[key]), ops.convert_to_numpy(base[key]), rtol=1e-6)


def test_rl_config_defaults_and_validation():
    config = RLConfig()
    assert (config.cliprange, config.num_rl_iters, config.get_actions, config.threshold) == (0.2, 3, "bernoulli", 0.5)
    for name in ("gamma", "alpha", "labels_smoothing", "entropy_beta", "kl_beta"):
        assert getattr(config, name) == -1 and not config.enabled(name)
    assert RLConfig(alpha=0.0).enabled("alpha") and RLConfig(kl_beta=0.1).enabled("kl_beta")
    assert isinstance(config, gliclass_keras.TrainingConfig)
    assert RLConfig.from_dict(RLConfig(entropy_beta=0.5).to_dict()) == RLConfig(entropy_beta=0.5)
    for bad, match in [
        ({"entropy_beta": -0.5}, "entropy_beta"),
        ({"alpha": 1.5}, "alpha"),
        ({"labels_smoothing": 1.0}, "labels_smoothing"),
        ({"num_rl_iters": 0}, "num_rl_iters"),
        ({"cliprange": 0}, "cliprange"),
        ({"get_actions": "argmax"}, "get_actions"),
        ({"threshold": 2}, "threshold"),
    ]:
        with pytest.raises(ValueError, match=match):
            RLConfig(**bad)
    with pytest.raises(TypeError, match="kl_beta"):
        RLConfig(kl_beta="0.1")


def test_compile_rejects_inconsistent_rl_arguments():
    model = _model()
    with pytest.raises(ValueError, match="RLConfig"):
        model.compile(value_model=_model())
    with pytest.raises(ValueError, match="kl_beta"):
        model.compile(training_config=RLConfig(), reference_model=_model())
    with pytest.raises(ValueError, match="reference_model"):
        model.compile(training_config=RLConfig(kl_beta=0.1))
    with pytest.raises(ValueError, match="separate"):
        model.compile(training_config=RLConfig(), value_model=model)
    with pytest.raises(TypeError, match="reward_components"):
        model.compile(training_config=RLConfig(), reward_components="f1")
    with pytest.raises(TypeError, match="callable"):
        model.compile(training_config=RLConfig(), reward_components=[("f1", 1.0)])


# ---------------------------------------------------------------- fit
def test_rl_fit_raises_the_f1_reward():
    model = _model()
    model.compile(training_config=RLConfig(learning_rate=3e-4, num_rl_iters=2, seed=3))
    assert isinstance(model._ppo_trainer(), RLTrainer)
    history = model.fit(TOY, batch_size=4, epochs=5, verbose=0, validation_data=TOY).history
    assert set(history) == {"loss", "reward", "reward_f1", "val_loss", "val_reward", "val_reward_f1"}
    reward, greedy = history["reward_f1"], history["val_reward_f1"]
    # A policy that does not learn (learning rate 1e-12, seeds 0-5, on
    # tensorflow) samples an F1 reward of 0.13-0.28 per epoch, and rises
    # from its first epoch by up to 0.17 by chance; its greedy reward stays
    # at 0.125. Most of the learning happens within the first epoch.
    assert max(reward[-2:]) > reward[0] and max(reward[-2:]) >= 0.5, reward
    assert greedy[-1] >= greedy[0] and greedy[-1] >= 0.5, greedy
    np.testing.assert_allclose(history["reward"], history["reward_f1"], rtol=1e-6)


def test_rl_fit_with_value_and_reference_models_then_reload(tmp_path):
    model, value, reference = _model(), _model(), _model()
    policy_before = [np.array(v) for v in model.get_weights()]
    reference_before = [np.array(v) for v in reference.get_weights()]
    model.compile(
        training_config=RLConfig(learning_rate=3e-4, num_rl_iters=2, kl_beta=0.1, entropy_beta=0.01),
        reward_components=[("f1", rewards.f1_reward), ("brevity", brevity_reward)],
        value_model=value,
        reference_model=reference,
        # the compiled step is covered above; tracing three models is slow on TF
        run_eagerly=keras.backend.backend() == "tensorflow",
    )
    history = model.fit(TOY, batch_size=4, epochs=3, verbose=0).history
    assert set(history) == {"loss", "reward", "reward_f1", "reward_brevity", "value_loss", "kl", "entropy"}
    np.testing.assert_allclose(
        history["reward"], np.add(history["reward_f1"], history["reward_brevity"]), atol=1e-5
    )
    assert all(v <= 0 for v in history["reward_brevity"])
    assert history["value_loss"][-1] < 0.5 * history["value_loss"][0], history["value_loss"]
    assert all(v > 0 for v in history["kl"])
    for before, after in zip(reference_before, reference.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(np.abs(b - a).max() > 0 for b, a in zip(policy_before, model.get_weights()))

    path = str(tmp_path / "rl.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored.predict(TOY, verbose=0), model.predict(TOY, verbose=0), atol=1e-6)
    assert restored.training_config == model.training_config
    saved_rewards = restored._state.rl_settings["reward_components"]
    assert [name for name, _ in saved_rewards] == ["f1", "brevity"] and saved_rewards[1][1] is brevity_reward
    # the reference model is not saved with the policy: fit() says so
    with pytest.raises(ValueError, match="reference_model"):
        restored.fit(TOY, batch_size=4, epochs=1, verbose=0)
