"""S3TA on Kinetics-600 (Mott et al. 2019, section 4.2.2, A.3.2, Table 7): a ResNet-34 v2 vision
core and a 3x3, 256-channel ConvLSTM, one read per frame over 32 equally spaced frames.

  python -m launch.classify --config=configs/s3ta_kinetics.py --config.data_dir=DATASET_DIR \
      --config.workdir=workdirs/s3ta_kinetics
    (paper: 58% top-1, 82% top-5). Needs accelerators: batch 240, 32 frames of 224x224.
  `:mock`: a small model on random in-memory clips for a few steps, no data on disk; exits 0.

DATASET_DIR is what `python -m launch.prepare_kinetics --manual_dir=... --data_dir=...` printed
(`pip install -e ".[kinetics]"` for PyAV). Expected: not run here (no accelerator).
"""
from configs.classify_base import base_config, parse_arg
from s3ta_jax import video_classifier

OPTIONS = ("mock",)


def get_config(arg: str = ""):
  options = parse_arg(arg, OPTIONS)
  c = base_config("imagenet", "s3ta")
  c.model = video_classifier.video_config("kinetics")
  c.dataset = "kinetics"
  # A.3.2: momentum 0.9, lr 1e-2 annealed at 150k and 200k, batch 240. The length of training is
  # not given; 250k steps leaves 50k after the last drop, as ImageNet's schedule does.
  c.learning_rate = 0.01
  c.lr_boundaries = (150_000, 200_000)
  c.batch_size = 240
  c.num_train_steps = 250_000
  c.eval_batch_size = 240
  c.mock_classes = 600
  if "mock" in options:
    c.mock = True
    c.model = video_classifier.video_config("small")
    c.model.image_size, c.model.num_frames = 32, 4
    c.mock_examples, c.mock_classes = 16, 5
    c.batch_size = c.eval_batch_size = 4
    c.num_train_steps = 4
    c.eval_every_steps = 2
    c.worker_count = 0
    c.progress_every_s = 0.0
  return c
