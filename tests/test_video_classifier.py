"""The S3TA video classifier (Table 7) against a numpy loop over frames: ConvLSTM, then the read
of `classifier.read_step`, with the logits accumulated over frames."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s3ta_jax import spatial_basis, video_classifier
from test_classifier import _dense, _numpy_mlp
from test_conv_lstm import _reference_step


def tiny_config():
  c = video_classifier.video_config("small")
  c.image_size, c.num_frames = 16, 3
  c.resnet_stages, c.resnet_width = (1,), 4  # 16 -> 8: an 8x8 map of 4 channels.
  c.conv_lstm_channels, c.key_channels = 6, 2
  c.basis_even, c.basis_odd = 2, 2
  c.num_heads = 2
  c.query_hidden, c.policy_hidden = (5,), (7,)
  return c


def run_perturbed(config, seed: int):
  """(output, ResNet features [2, 3, 8, 8, 4], numpy params) of a tiny model on random clips,
  its parameters moved off their initial values so every path carries signal."""
  model = video_classifier.make_video_classifier(config, num_classes=4)
  variables = video_classifier.init_variables(model, jax.random.PRNGKey(0), batch_size=2)
  rng = np.random.default_rng(seed)
  params = jax.tree.map(lambda p: p + 0.3 * jnp.asarray(rng.normal(size=p.shape), jnp.float32),
                        variables["params"])
  variables = {**variables, "params": params}
  clips = jnp.asarray(rng.integers(0, 256, (2, 3, 16, 16, 1)), jnp.uint8)
  features = np.asarray(model.apply(
      variables, clips.reshape(6, 16, 16, 1),
      method=lambda m, x: m.resnet(x.astype(jnp.float32) / 255.0, False))).reshape(2, 3, 8, 8, 4)
  return model.apply(variables, clips), features, jax.device_get(params)


def test_frames_are_read_in_order_through_the_conv_lstm():
  out, features, p = run_perturbed(tiny_config(), seed=1)
  cell = {"params": p["conv_lstm"]}
  carry = (np.zeros((2, 8, 8, 6)), np.zeros((2, 8, 8, 6)))
  basis = np.broadcast_to(spatial_basis.spatial_basis(8, 8, 2, 2), (2, 8, 8, 16))
  logits = np.zeros((2, 4))
  for t in range(3):
    carry = _reference_step(cell, carry, features[:, t])
    o_vis = carry[1]
    keys = np.concatenate([o_vis[..., :2], basis], -1)
    values = np.concatenate([o_vis[..., 2:], basis], -1)
    queries = _dense(p["query_out"], _numpy_mlp(p["query_net"], logits)).reshape(2, 2, -1)
    scores = np.einsum("bnc,bhwc->bnhw", queries, keys).reshape(2, 2, -1)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights = (weights / weights.sum(-1, keepdims=True)).reshape(2, 2, 8, 8)
    answers = np.einsum("bnhw,bhwc->bnc", weights, values)
    read = np.concatenate([queries.reshape(2, -1), answers.reshape(2, -1)], -1)
    logits = logits + _dense(p["classes"], _numpy_mlp(p["policy_net"], read))
    np.testing.assert_allclose(out.step_logits[t], logits, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(out.attention[t], weights, rtol=1e-3, atol=1e-5)
  np.testing.assert_allclose(out.logits, logits, rtol=1e-3, atol=1e-4)


def test_kinetics_config_follows_table_7_and_bad_clips_are_one_error():
  c = video_classifier.video_config()
  assert (c.num_frames, c.conv_lstm_channels, c.resnet_block) == (32, 256, "basic")
  assert c.query_hidden == (512, 256, 128) and c.policy_hidden == (1024,) * 3
  model = video_classifier.make_video_classifier(c, 600)
  shapes = jax.eval_shape(lambda: video_classifier.init_variables(model, jax.random.PRNGKey(0)))
  # ResNet-34's kernels: torchvision's 21,797,672 less its 513,000 classifier and v1's 17,024
  # BatchNorm parameters (2 per output channel of its 36 convolutions).
  kernels = sum(x.size for path, x in jax.tree_util.tree_flatten_with_path(
      shapes["params"]["resnet"])[0] if path[-1].key == "kernel")
  assert kernels == 21_797_672 - 513_000 - 17_024
  tiny = video_classifier.make_video_classifier(tiny_config(), 4)
  variables = video_classifier.init_variables(tiny, jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match="num_frames"):
    tiny.apply(variables, jnp.zeros((1, 5, 16, 16, 1), jnp.uint8))


def test_pooled_baseline_reads_the_spatial_mean_of_each_frame():
  c = tiny_config()
  c.kind = "video_pool"
  out, features, p = run_perturbed(c, seed=2)
  assert "query_net" not in p  # No attention, no queries.
  carry = (np.zeros((2, 8, 8, 6)), np.zeros((2, 8, 8, 6)))
  logits = np.zeros((2, 4))
  for t in range(3):
    carry = _reference_step({"params": p["conv_lstm"]}, carry, features[:, t])
    logits = logits + _dense(p["classes"], _numpy_mlp(p["policy_net"], carry[1].mean(axis=(1, 2))))
    np.testing.assert_allclose(out.step_logits[t], logits, rtol=1e-3, atol=1e-4)
  assert out.attention.shape == (3, 2, 0, 8, 8)
