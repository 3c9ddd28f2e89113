"""S3TA on ImageNet (Mott et al. 2019, section 4.2.1, A.3.1, Table 6): ResNet-50 v2 vision core.

  python -m launch.classify --config=configs/s3ta_imagenet.py --config.workdir=workdirs/s3ta_in_t4
    S3TA, T = 4 (paper: 73.4% top-1). `:t1` T = 1 (73.1%); `:t8` T = 8, lr 0.01, trained at T = 4
    for the first 100k steps (74.5%; its evaluations in that phase already run at T = 8). Needs
    accelerators: batch 1024, 200k steps.
  `:resnet` the plain ResNet-50 (paper: 74.0% in their setup); `:recurrent` the recurrent ResNet-50,
    T = 4 (70.2%).
  `:mock` (combinable, e.g. `:resnet,mock`): a small model on tfds mock ImageNet for a few steps,
    no data on disk and no TensorFlow; exits 0 (a CPU smoke run).

ImageNet is read through `tfds.data_source`; prepare it once with
`pip install -e ".[prepare]" && python -m launch.prepare_imagenet --manual_dir=DIR` (README).
Expected: not run here (no accelerator); docs/results.md has the CPU-sized result.
"""
from configs.classify_base import base_config, parse_arg

OPTIONS = ("t1", "t8", "resnet", "recurrent", "mock")


def get_config(arg: str = ""):
  options = parse_arg(arg, OPTIONS)
  kind = "resnet" if "resnet" in options else "recurrent_resnet" if "recurrent" in options else "s3ta"
  c = base_config("imagenet", kind)
  if "t1" in options:
    c.model.sequence_length = 1
  if "t8" in options:  # A.3.1: lr 1e-2, and length 4 for the first 1e5 iterations.
    c.model.sequence_length = 8
    c.learning_rate = 0.01
    c.initial_sequence_length, c.sequence_length_switch_step = 4, 100_000
  if "mock" in options:
    c.mock = True
    m = c.model
    m.image_size = 32
    m.resnet_stages, m.resnet_block, m.resnet_width, m.resnet_stem = (1, 1), "basic", 8, "small"
    m.key_channels = 4
    m.query_hidden, m.policy_hidden = (32,), (32,)
    c.batch_size = 8
    c.eval_batch_size = 8
    c.num_train_steps = 4
    c.eval_every_steps = 2
    c.worker_count = 0
    c.learning_rate = 0.01
    c.progress_every_s = 0.0
  return c
