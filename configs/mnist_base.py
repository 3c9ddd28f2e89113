"""Shared defaults of the MNIST-family configs (ram_mnist, ram_translated60, ram_cluttered60/100).

Not run directly: each task config calls `base_config(arg)` and overrides its task fields. `arg`
(the text after `:` in `--config=configs/ram_cluttered60.py:conv`) picks the model:
`ram` (default), `fc` / `fc64` / `fc256` (FC, 2 layers), `conv` / `conv8` / `conv16` (Tables 1–2).
The cluttered configs give RAM the public recipe (`with_public_recipe`); there `first_reading` is
RAM with the settings it had before (the Table 2 rows recorded before 2026-12-06 used them).
"""
from ml_collections import ConfigDict

MODEL_ARGS = {
    "ram": dict(model="ram"),
    "fc": dict(model="fc", fc_hidden=256),
    "fc256": dict(model="fc", fc_hidden=256),
    "fc64": dict(model="fc", fc_hidden=64),
    "conv": dict(model="conv"),  # The task's paper filter count (16 translated, 8 cluttered).
    "conv16": dict(model="conv", conv_filters=16),
    "conv8": dict(model="conv", conv_filters=8),
}


FIRST_READING = "first_reading"


def with_public_recipe(c: ConfigDict, arg: str | None) -> ConfigDict:
  """RAM's settings on the cluttered tasks, unless `arg` is `first_reading`: amasky's Chainer RAM
  recipe (issue 29, docs/notes/2026-12-02-ram-cluttered-public-recipe.md). Each setting is one the
  paper leaves open or names loosely; the FC and conv baselines keep theirs."""
  if c.model != "ram" or arg == FIRST_READING:
    return c
  # Sec. 3.2: the REINFORCE term's gradient "is just the gradient of the RNN that defines our
  # agent ... computed by standard backpropagation", so it also trains the core and glimpse nets.
  c.reinforce_to_core = True
  # Sec. 3.2's hybrid loss adds REINFORCE to the cross-entropy without a weight. This one is on the
  # sum over the sampled locations: with 8 glimpses (7 sampled), about 1 on their mean, as in the
  # Chainer code; with 4 or 6 glimpses, 0.375 or 0.625 on the mean.
  c.reinforce_weight = 0.125
  # Sec. 4 gives the core, h_t = Rect(Linear(h_t-1) + Linear(g_t)), but not its initialisation;
  # the identity (IRNN) keeps the state across glimpses from the start.
  c.core_identity_init = True
  # Sec. 4.1: "Hyperparameters such as the learning rate and the variance of the location policy
  # were selected using random search."
  c.learning_rate = 0.01
  c.location_std = 0.3
  # Sec. 4.1: "stochastic gradient descent with momentum of 0.9"; Nesterov's is one form of it.
  c.nesterov = True
  c.num_train_steps = 200_000  # The paper gives no training length.
  return c


def base_config(arg: str | None, has_recipe: bool = False, **task_defaults) -> ConfigDict:
  """Defaults, then the task's `task_defaults`, then the model chosen by `arg` (so `:conv16` wins).
  `has_recipe`: the task config applies `with_public_recipe`, so `first_reading` is an option."""
  arg = arg or "ram"
  choices = {**MODEL_ARGS, **({FIRST_READING: MODEL_ARGS["ram"]} if has_recipe else {})}
  if arg not in choices:
    raise ValueError(f"unknown config argument {arg!r}; use one of {', '.join(choices)}.")
  c = ConfigDict()
  c.model = "ram"  # ram | fc | conv
  # Task (ram_jax.data.Task).
  c.task = "centered"  # centered | translated | cluttered
  c.canvas = 28
  c.num_clutter = 0
  c.num_validation = 10_000  # Last 10k of the 60k training digits: 50k train as in the paper.
  # RAM (sec. 4).
  c.glimpse_size = 8
  c.num_scales = 1
  c.num_glimpses = 6
  c.location_std = 0.1  # In units of half the image width.
  c.core = "rnn"  # rnn (rectifier, sec. 4) | lstm
  c.hidden = 256
  c.glimpse_features = 128
  c.location_features = 128
  c.glimpse_output = 256
  # REINFORCE's gradient scales with 1/location_std and the baseline's with |h|^2, both much larger
  # than the cross-entropy's; at weight 1 the policy runs to the image corners and the baseline
  # diverges under plain SGD (tuned on 28x28 MNIST with 2,500-step runs: 1.0 -> 84% error,
  # 0.01 -> 6.6%). Equivalent to a smaller learning rate for the location and baseline heads.
  c.reinforce_weight = 0.01
  c.baseline_weight = 0.01
  # REINFORCE's gradient also trains the core and glimpse networks (sec. 3.2, see ram_jax.model).
  c.reinforce_to_core = False
  # The rectifier core's recurrent block starts as the identity, bias 0 (IRNN, Le et al. 2015), so
  # the state persists across glimpses from the start; the paper does not give the core's init.
  c.core_identity_init = False
  # tanh on the location policy's mean; False is the paper's f_l(h) = Linear(h) (sec. 4), whose
  # means leave the image and stay there (60×60 clutter, 30k updates: 16.5% against 13.5%).
  c.squash_location = True
  # REINFORCE's reward: "correct" (1 if classified right, else 0: sec. 4.1) or "probability"
  # (p(correct class), lower variance; not the paper's).
  c.reward = "correct"
  # Weight of an extra loss (not the paper's) that trains a linear head on every h_t to predict the
  # digit's centre, so the core learns where the digit is and the location policy can use it
  # (100×100 clutter, 20k updates: 11.6% test error against 28.1% without; 7.3% with weight 10,
  # 9.4% with 30; README). 0 = off.
  c.position_weight = 0.0
  # Updates for which that loss applies (0 = all); after them the paper's loss alone trains the
  # model and `position_mse` is still logged, to see whether the core keeps what it learned (it
  # did not: switched off at 10k of 20k updates, the policy lost the digit again; README).
  c.position_loss_steps = 0
  # Episodes per image in a batch (eq. 2's M); > 1 uses the other episodes' mean reward as
  # REINFORCE's baseline. batch_size counts episodes, so a step's compute does not change.
  c.samples_per_image = 1
  c.unroll = 1  # lax.scan unroll (speed only)
  # Baselines (Tables 1–2).
  c.fc_hidden = 256
  c.conv_filters = 16
  c.conv_hidden = 256
  # Optimisation: SGD with momentum 0.9 (sec. 4.1).
  c.batch_size = 128
  c.learning_rate = 0.05
  c.lr_schedule = "cosine"  # cosine | constant
  c.warmup_steps = 500
  c.final_lr_fraction = 0.01
  c.momentum = 0.9
  c.nesterov = False  # Nesterov momentum (not the paper's; amasky's Chainer RAM uses it).
  c.max_grad_norm = 0.0  # 0 disables clipping (global-norm clipping).
  c.num_train_steps = 100_000
  c.seed = 0
  # Evaluation, logging, checkpoints.
  c.eval_every_steps = 5_000
  c.eval_batch_size = 1000
  c.eval_seed = 1234
  c.progress_every_s = 10.0
  c.checkpoint_every_s = 300.0
  c.data_dir = ""  # Directory with the MNIST idx .gz files; "" = tensorflow-datasets.
  c.workdir = ""
  c.allow_config_change = False
  c.update(task_defaults)
  c.update(choices[arg])
  return c
