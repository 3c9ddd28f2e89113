"""S3TA's video classifier on moving digits in clutter (s3ta_jax/moving_mnist.py): a CPU-sized
task of the Kinetics shape, built by the Kinetics builder and read by the same pipeline.

  python -m launch.prepare_moving_mnist --mnist_dir=../shared/data/mnist --out_dir=data/moving_mnist
  python -m launch.classify --config=configs/s3ta_moving_mnist.py \
      --config.data_dir=data/moving_mnist/tfds/moving_mnist/1.0.0 --config.workdir=runs/s3ta_moving_mnist
  `:pool`: the no-attention baseline (the same ResNet + ConvLSTM, spatial mean in place of the read,
  a wider policy MLP for a similar parameter count).

Expected: docs/results.md, "S3TA classifiers".
"""
from configs.classify_base import base_config, parse_arg
from s3ta_jax import video_classifier

OPTIONS = ("pool",)


def get_config(arg: str = ""):
  options = parse_arg(arg, OPTIONS)
  c = base_config("small", "s3ta")
  m = c.model = video_classifier.video_config("small")
  m.kind = "video_pool" if "pool" in options else "s3ta_video"
  if "pool" in options:  # As wide as S3TA's policy input (4 queries + answers): 166k to its 182k.
    m.policy_hidden = (640, 128)
  m.image_size, m.num_frames, m.image_channels = 32, 6, 3  # MP4 frames are RGB (grey here).
  m.image_mean, m.image_std = (0.0,) * 3, (1.0,) * 3
  m.resnet_stages = (1, 1)  # 32 -> 16 (stem) -> 8: an 8x8 map.
  c.dataset = "kinetics"
  # A mirrored clip moves the other way, so a flip would make the label's direction a coin toss.
  c.flip_clips = False
  c.mock_classes = 20
  # A.3.2's lr 1e-2 (lr 0.05, as for cluttered MNIST images, spiked and fell back to chance by
  # step 1,300), with a warm-up and a clip as configs/s3ta_cluttered60.py.
  c.batch_size = 64
  c.learning_rate = 0.01
  c.max_grad_norm = 5.0
  c.weight_decay = 1e-4
  c.warmup_steps = 300
  c.num_train_steps = 2_000  # 128k clips, 11 epochs of the 12k: ~10 min on a 2-core CPU.
  c.lr_boundaries = (1_200, 1_600)  # After the warm-up: the drops come at steps 1,500 and 1,900.
  c.eval_batch_size = 500
  c.eval_every_steps = 500
  c.worker_count = 0
  c.progress_every_s = 20.0
  return c
