"""RAM playing Catch (Mnih et al. 2014, sec. 4.2): 6×6 retina, 3 scales, 256 LSTM units, REINFORCE.

  python -m launch.catch --config=configs/ram_catch.py --config.workdir=workdirs/ram_catch

Expected: the greedy policy catches >= 85% of 1000 fresh games after ~6M frames and ~100% after
~10M (measured: 87.7% at 5.9M, 98.8% at 7.4M, 100.0% from 10.3M to 20M frames; 23 min for 20M
frames at a median 12.9k frames/s on a shared 2-core CPU; see README, Catch). Paper: "roughly
85%" after 20M frames.
Settings beyond the paper (retina sum-pooling and gain, entropy bonus, cosine learning rate,
location std 0.3) were picked by a short manual search; README lists the runs.
"""
from ml_collections import ConfigDict


def get_config():
  c = ConfigDict()
  # Agent (sec. 4.2 and sec. 4): retina 6×6 at 3 scales (6, 12, 24 pixels), LSTM core of 256.
  c.glimpse_size = 6
  c.num_scales = 3
  c.hidden = 256
  c.glimpse_features = 128
  c.location_features = 128
  c.glimpse_output = 256
  c.sum_pool = True  # Retina scales as block sums, so the ball reads 1 at every scale.
  c.retina_gain = 10.0  # Input scale: sparse binary glimpses otherwise give ~0.01 activations.
  c.location_std = 0.3  # Fixed std of the Gaussian location policy, in half-screen units (3.6 px).
  # REINFORCE (eq. 2).
  c.baseline_weight = 1.0
  c.entropy_weight = 0.03  # Not in the paper: a game-action entropy bonus against early collapse.
  # Optimisation. One step = one whole game (23 frames) in each of num_envs vmapped games.
  c.num_envs = 64
  c.optimizer = "adam"  # adam | sgd (with momentum)
  c.learning_rate = 1e-3
  c.lr_schedule = "cosine"  # constant | cosine (decays to final_lr_fraction over total_frames)
  c.final_lr_fraction = 0.01
  c.momentum = 0.9
  c.max_grad_norm = 10.0
  c.total_frames = 20_000_000  # Paper: 20M frames per agent.
  c.seed = 0
  # Evaluation (greedy policy on fresh games), logging, checkpoints.
  c.eval_every_steps = 1000
  c.num_eval_episodes = 1000
  c.eval_seed = 1234
  c.progress_every_s = 10.0
  c.checkpoint_every_s = 120.0
  c.workdir = "workdirs/ram_catch"
  c.allow_config_change = False
  return c
