"""The S3TA classifier and its baselines against numpy references (s3ta_jax/classifier.py,
resnet_v2.py, supervised.py)."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from s3ta_jax import classifier, interpret, resnet_v2, spatial_basis, supervised


def tiny_config(kind="s3ta", steps=3):
  c = classifier.classifier_config("small")
  c.kind = kind
  c.image_size = 16
  c.resnet_stages, c.resnet_width = (1, 1), 4  # 16 -> 8 -> 4: a 4x4 map of 8 channels.
  c.key_channels = 3
  c.basis_even, c.basis_odd = 2, 2  # Cs = 16.
  c.num_heads = 2
  c.query_hidden, c.policy_hidden = (5,), (6,)
  c.sequence_length = 1 if kind == "resnet" else steps
  return c


def test_resnet50_v2_has_the_standard_convolution_weights():
  # torchvision's ResNet-50 has 25,557,032 parameters: 2,049,000 in the classifier and 53,120 in
  # BatchNorm (2 per output channel of its 53 convolutions). v1 and v2 have the same kernels.
  model = resnet_v2.ResNetV2()
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 224, 224, 3)),
                                             train=False))
  kernels = [x.size for path, x in jax.tree_util.tree_flatten_with_path(shapes["params"])[0]
             if path[-1].key == "kernel"]
  assert len(kernels) == 53
  assert sum(kernels) == 25_557_032 - 2_049_000 - 53_120
  out = jax.eval_shape(lambda v: model.apply(v, jnp.zeros((2, 224, 224, 3)), train=False), shapes)
  assert out.shape == (2, 7, 7, 2048)
  assert resnet_v2.output_size(224, 4, "imagenet") == 7
  assert resnet_v2.output_channels(64, 4, "bottleneck") == 2048


def _numpy_mlp(params, x):
  for i in range(len(params)):
    layer = params[f"layers_{i}"] if "layers_0" in params else params[f"Dense_{i}"]
    x = np.maximum(x @ np.asarray(layer["kernel"]) + np.asarray(layer["bias"]), 0.0)
  return x


def _dense(params, x):
  return x @ np.asarray(params["kernel"]) + np.asarray(params["bias"])


def test_s3ta_steps_match_a_numpy_loop_over_the_read():
  config = tiny_config()
  model = classifier.make_classifier(config, num_classes=7)
  variables = classifier.init_variables(model, jax.random.PRNGKey(1))
  # Non-zero biases everywhere, so the first query is not trivially zero.
  params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(jax.random.PRNGKey(p.size), p.shape),
                        variables["params"])
  variables = {**variables, "params": params}
  images = jax.random.randint(jax.random.PRNGKey(2), (3, 16, 16, 1), 0, 256).astype(jnp.uint8)
  out = model.apply(variables, images)
  o_vis = np.asarray(model.apply(variables, images,
                                 method=lambda m, x: m.resnet(m.normalise(x), False)))
  b, h, w, _ = o_vis.shape
  basis = np.broadcast_to(spatial_basis.spatial_basis(h, w, 2, 2), (b, h, w, 16))
  keys = np.concatenate([o_vis[..., :3], basis], -1)
  values = np.concatenate([o_vis[..., 3:], basis], -1)
  p = jax.device_get(params)
  logits = np.zeros((b, 7))
  for t in range(3):
    queries = _dense(p["query_out"], _numpy_mlp(p["query_net"], logits)).reshape(b, 2, -1)
    scores = np.einsum("bnc,bhwc->bnhw", queries, keys).reshape(b, 2, -1)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights = (weights / weights.sum(-1, keepdims=True)).reshape(b, 2, h, w)
    answers = np.einsum("bnhw,bhwc->bnc", weights, values)
    read = np.concatenate([queries.reshape(b, -1), answers.reshape(b, -1)], -1)
    logits = logits + _dense(p["classes"], _numpy_mlp(p["policy_net"], read))
    np.testing.assert_allclose(out.step_logits[t], logits, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(out.attention[t], weights, rtol=2e-4, atol=1e-6)
  np.testing.assert_allclose(out.logits, logits, rtol=2e-4, atol=2e-4)


def test_first_read_is_uniform_at_initialisation():
  # Zero logits and zero biases give zero queries: step 1 is a global average of the values.
  config = tiny_config()
  model = classifier.make_classifier(config, num_classes=5)
  variables = classifier.init_variables(model, jax.random.PRNGKey(0))
  out = model.apply(variables, jnp.full((2, 16, 16, 1), 100, jnp.uint8))
  np.testing.assert_allclose(out.attention[0], 1.0 / 16, rtol=1e-6)
  assert out.attention.shape == (3, 2, 2, 4, 4)


def test_recurrent_resnet_without_feedback_repeats_the_same_logits():
  config = tiny_config("recurrent_resnet", steps=4)
  model = classifier.make_classifier(config, num_classes=5)
  variables = classifier.init_variables(model, jax.random.PRNGKey(0))
  images = jax.random.randint(jax.random.PRNGKey(3), (2, 16, 16, 1), 0, 256).astype(jnp.uint8)
  silent = jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.zeros_like(x) if path[0].key == "feedback" else x, variables["params"])
  out = model.apply({**variables, "params": silent}, images)
  for t in range(4):  # Each step sees the same image, so it adds the same logits.
    np.testing.assert_allclose(out.step_logits[t], (t + 1) * out.step_logits[0], rtol=1e-5,
                               atol=1e-5)
  kicked = jax.tree_util.tree_map_with_path(
      lambda path, x: x + 1.0 if path[0].key == "feedback" and path[-1].key == "kernel" else x,
      silent)
  loud = model.apply({**variables, "params": kicked}, images)
  np.testing.assert_allclose(loud.step_logits[0], out.step_logits[0], rtol=1e-5, atol=1e-5)
  assert np.abs(np.asarray(loud.step_logits[1] - out.step_logits[1])).max() > 1e-3


def test_plain_resnet_is_global_average_pool_then_dense():
  config = tiny_config("resnet")
  model = classifier.make_classifier(config, num_classes=5)
  variables = classifier.init_variables(model, jax.random.PRNGKey(0))
  images = jax.random.randint(jax.random.PRNGKey(4), (2, 16, 16, 1), 0, 256).astype(jnp.uint8)
  out = model.apply(variables, images)
  features = np.asarray(model.apply(variables, images,
                                    method=lambda m, x: m.resnet(m.normalise(x), False)))
  expected = _dense(jax.device_get(variables["params"]["classes"]), features.mean(axis=(1, 2)))
  np.testing.assert_allclose(out.logits, expected, rtol=1e-5, atol=1e-5)
  assert out.attention.shape == (1, 2, 0, 4, 4)


@pytest.mark.parametrize("field,value,words", [
    ("kind", "vit", "not one of"),
    ("sequence_length", 0, "sequence_length"),
    ("key_channels", 8, "key_channels"),
])
def test_bad_configs_name_the_field(field, value, words):
  config = tiny_config()
  config[field] = value
  with pytest.raises(ValueError, match=words):
    classifier.make_classifier(config, 5)
  resnet = tiny_config("resnet")
  resnet.sequence_length = 4
  with pytest.raises(ValueError, match="sequence_length=1"):
    classifier.make_classifier(resnet, 5)


def test_wrong_image_size_is_one_clear_error():
  model = classifier.make_classifier(tiny_config(), 5)
  variables = classifier.init_variables(model, jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match="image_size"):
    model.apply(variables, jnp.zeros((1, 20, 20, 1), jnp.uint8))


def test_attention_in_box_matches_a_pixel_count():
  rng = np.random.default_rng(0)
  for cells in (15, 8):  # 4-pixel cells, and 8-pixel cells whose last one holds 4 pixels.
    maps = rng.random((2, 3, 2, cells, cells)).astype(np.float32)
    maps /= maps.sum(axis=(-1, -2), keepdims=True)
    boxes = np.array([[0, 0], [17, 31], [32, 5]])
    got = np.asarray(supervised.attention_in_box(jnp.asarray(maps), jnp.asarray(boxes), 60))
    # Reference: each cell's mass spread evenly over its pixels (interpret's cell mapping).
    cell = interpret.cell_of_pixel(60, cells)
    per_pixel = interpret.upsample(maps, (60, 60)) / np.outer(np.bincount(cell), np.bincount(cell))[
        cell[:, None], cell[None, :]]
    np.testing.assert_allclose(per_pixel.sum(axis=(-1, -2)), 1.0, rtol=1e-5)
    for b, (top, left) in enumerate(boxes):
      want = per_pixel[:, b, :, top:top + 28, left:left + 28].sum(axis=(-1, -2))
      np.testing.assert_allclose(got[:, b], want, rtol=1e-5)


def test_top_k_correct_matches_argsort():
  logits = np.random.default_rng(1).normal(size=(50, 10))
  labels = np.random.default_rng(2).integers(0, 10, 50)
  for k in (1, 5):
    want = [labels[i] in np.argsort(-logits[i])[:k] for i in range(50)]
    np.testing.assert_array_equal(supervised.top_k_correct(jnp.asarray(logits),
                                                           jnp.asarray(labels), k), want)


def test_optimizer_steps_the_schedule_and_decays_only_kernels():
  c = ml_collections.ConfigDict({"learning_rate": 0.1, "momentum": 0.0, "weight_decay": 0.01,
                                 "lr_boundaries": (2, 4), "warmup_steps": 0, "max_grad_norm": 0.0})
  opt = supervised.make_optimizer(c)
  params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones((2,))}
  state = opt.init(params)
  zero = jax.tree.map(jnp.zeros_like, params)
  moves = []
  for _ in range(5):
    updates, state = opt.update(zero, state, params)
    moves.append(float(updates["kernel"][0, 0]))
    assert float(jnp.abs(updates["bias"]).max()) == 0.0
  # Update = -lr * wd * kernel, lr 0.1 -> 0.01 at step 2 -> 0.001 at step 4.
  np.testing.assert_allclose(moves, [-1e-3, -1e-3, -1e-4, -1e-4, -1e-5], rtol=1e-5)


def test_sequence_length_switch():
  c = ml_collections.ConfigDict({"initial_sequence_length": 4, "sequence_length_switch_step": 10,
                                 "model": {"kind": "s3ta", "sequence_length": 8}})
  assert [supervised.sequence_length_at(c, s) for s in (0, 9, 10, 50)] == [4, 4, 8, 8]
  c.initial_sequence_length = 0
  assert supervised.sequence_length_at(c, 0) == 8
  c.model = ml_collections.ConfigDict({"kind": "s3ta_video", "num_frames": 6})
  assert supervised.sequence_length_at(c, 0) == 6  # One read per frame.


def test_warmup_then_boundaries_counted_from_its_end():
  c = ml_collections.ConfigDict({"learning_rate": 1.0, "momentum": 0.0, "weight_decay": 0.0,
                                 "lr_boundaries": (3,), "warmup_steps": 2, "max_grad_norm": 0.0})
  opt = supervised.make_optimizer(c)
  params = {"kernel": jnp.zeros((1, 1))}
  state = opt.init(params)
  lrs = []
  for _ in range(7):
    updates, state = opt.update({"kernel": -jnp.ones((1, 1))}, state, params)
    lrs.append(float(updates["kernel"][0, 0]))
  np.testing.assert_allclose(lrs, [0.0, 0.5, 1.0, 1.0, 1.0, 0.1, 0.1], rtol=1e-6)


def test_batchnorm_trains_on_the_batch_and_evaluates_on_running_averages():
  model = resnet_v2.ResNetV2((1,), 4, "basic", "small")
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 8, 8, 1)) * 3.0 + 5.0
  variables = model.init(jax.random.PRNGKey(1), x, train=False)
  # Evaluation: each example's output does not depend on the rest of the batch.
  alone = model.apply(variables, x[:1], train=False)
  np.testing.assert_allclose(model.apply(variables, x, train=False)[:1], alone, rtol=1e-5,
                             atol=1e-6)
  # Training: statistics of the batch, so the same example comes out differently with others...
  together, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
  paired, _ = model.apply(variables, x[:2], train=True, mutable=["batch_stats"])
  assert np.abs(np.asarray(together[:1] - paired[:1])).max() > 1e-3
  # ...and the running mean of the first norm moves 10% of the way to the batch mean (momentum 0.9).
  first = updates["batch_stats"]["stage0_block0"]["BatchNorm_0"]["mean"]
  stem = model.apply(variables, x, method=lambda m, x: nn_stem(m, x))
  np.testing.assert_allclose(first, 0.1 * np.asarray(stem).mean(axis=(0, 1, 2)), rtol=1e-4,
                             atol=1e-6)


def nn_stem(module, x):
  """The stem convolution alone, with `module`'s parameters (input of the first norm)."""
  import flax.linen as nn
  return nn.Conv(module.width, (3, 3), (2, 2), padding="SAME", use_bias=False, name="stem",
                 parent=None).apply({"params": module.variables["params"]["stem"]}, x)
