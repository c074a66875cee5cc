"""PPO (reinforcement learning) training of GLiClass models."""

from gliclass_keras.rl import rewards
from gliclass_keras.rl.ppo_loss import ppo_loss
from gliclass_keras.rl.rl_config import RLConfig
from gliclass_keras.rl.rl_trainer import RLTrainer
