"""Fields shared by the S3TA classifier configs (`launch.classify`)."""
import ml_collections

from configs.distributed import distributed_config
from s3ta_jax import classifier


def base_config(model: str, kind: str) -> ml_collections.ConfigDict:
  """`model`: classifier.classifier_config's size ("imagenet" or "small"); `kind`: s3ta, resnet
  or recurrent_resnet."""
  c = ml_collections.ConfigDict()
  c.model = classifier.classifier_config(model)
  c.model.kind = kind
  if kind == "resnet":
    c.model.sequence_length = 1
  c.dataset = "imagenet2012"
  c.data_dir = ""
  c.flip_clips = True  # Kinetics-layout clips: one random horizontal flip per training clip.
  c.mock = False  # tfds.testing.mock_data in place of the prepared dataset (smoke runs, tests).
  c.mock_examples = 64
  c.workdir = ""
  c.seed = 0
  # Optimisation (A.3.1): momentum 0.9, x0.1 at each boundary, weight decay 1e-4, batch 1024.
  c.batch_size = 1024
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.weight_decay = 1e-4
  c.lr_boundaries = (100_000, 150_000, 175_000)  # Counted from the end of the warm-up.
  c.warmup_steps = 0
  c.max_grad_norm = 0.0  # 0: no clipping (A.3.1 names none).
  c.num_train_steps = 200_000
  # T = initial_sequence_length until sequence_length_switch_step (0: always model.sequence_length).
  c.initial_sequence_length = 0
  c.sequence_length_switch_step = 0
  c.eval_batch_size = 1000
  c.num_eval_examples = 0  # 0: the whole evaluation split.
  c.eval_every_steps = 10_000
  c.worker_count = 8  # grain worker processes decoding and augmenting.
  c.progress_every_s = 30.0
  c.checkpoint_every_s = 600.0
  c.allow_config_change = False
  c.distributed = distributed_config()
  return c


def parse_arg(arg: str, allowed: tuple[str, ...]) -> set[str]:
  """Comma-separated config options, e.g. "resnet,mock"; an unknown one is an error."""
  options = {a.strip() for a in (arg or "").split(",") if a.strip()}
  unknown = options - set(allowed)
  if unknown:
    raise ValueError(f"unknown config option(s) {sorted(unknown)}; use any of {allowed}.")
  return options
