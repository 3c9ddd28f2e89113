"""The shipped MNIST-family configs: the `:model` argument beats the task's baseline defaults."""
import pytest

from configs import ram_cluttered60, ram_cluttered100, ram_mnist, ram_translated60


@pytest.mark.parametrize("module,default_filters", [
    (ram_translated60, 16), (ram_cluttered60, 8), (ram_cluttered100, 8)])
def test_conv_argument_overrides_task_default(module, default_filters):
  assert module.get_config("conv").conv_filters == default_filters  # The paper's per task.
  assert module.get_config("conv16").conv_filters == 16
  assert module.get_config("conv8").conv_filters == 8
  assert module.get_config("conv").model == "conv"


def test_cluttered100_conv_has_86_hidden_units_as_in_table_2b():
  assert ram_cluttered100.get_config("conv").conv_hidden == 86
  assert ram_cluttered60.get_config("conv").conv_hidden == 256


def test_unknown_model_argument_names_the_choices():
  with pytest.raises(ValueError, match="conv16"):
    ram_mnist.get_config("cnn")


def _abstract_params(config, num_classes=1000):
  import jax
  from s3ta_jax import classifier
  model = classifier.make_classifier(config.model, num_classes)
  variables = jax.eval_shape(lambda: classifier.init_variables(model, jax.random.PRNGKey(0)))
  return sum(x.size for x in jax.tree.leaves(variables["params"]))


def test_imagenet_configs_follow_table_6_and_a31():
  from configs import s3ta_imagenet
  t4 = s3ta_imagenet.get_config()
  assert t4.model.kind == "s3ta" and t4.model.sequence_length == 4 and t4.learning_rate == 0.1
  assert t4.model.query_hidden == (1024, 512, 256, 128) and t4.model.policy_hidden == (2048,) * 3
  assert t4.batch_size == 1024 and tuple(t4.lr_boundaries) == (100_000, 150_000, 175_000)
  t8 = s3ta_imagenet.get_config("t8")
  assert (t8.model.sequence_length, t8.learning_rate, t8.initial_sequence_length,
          t8.sequence_length_switch_step) == (8, 0.01, 4, 100_000)
  resnet = s3ta_imagenet.get_config("resnet")
  # ResNet-50 v2 + a 1000-way layer: the convolution kernels (torchvision's 25,557,032 less its
  # 2,049,000 classifier and v1's 53,120 BatchNorm parameters), v2's BatchNorm (scale and bias for
  # each block's input and its two inner widths, and the final norm) and the classifier.
  v2_norms = 2 * 2048
  for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
    in_channels = [width * 2 if stage else 64] + [width * 4] * (blocks - 1)
    v2_norms += sum(2 * (c + 2 * width) for c in in_channels)
  kernels = 25_557_032 - 2_049_000 - 53_120
  assert _abstract_params(resnet) == kernels + v2_norms + 2048 * 1000 + 1000
  feedback = 1000 * 224 * 224 + 224 * 224  # The recurrent baseline's logits -> image layer.
  assert _abstract_params(s3ta_imagenet.get_config("recurrent")) == \
      kernels + v2_norms + 2048 * 1000 + 1000 + feedback


def test_classifier_config_options_are_checked():
  from configs import s3ta_cluttered60, s3ta_imagenet
  with pytest.raises(ValueError, match="resnet"):
    s3ta_imagenet.get_config("resnet50")
  assert s3ta_cluttered60.get_config("recurrent").model.kind == "recurrent_resnet"
  assert _abstract_params(s3ta_cluttered60.get_config(), 10) < 1_000_000  # CPU-sized.


@pytest.mark.parametrize("module", [ram_cluttered60, ram_cluttered100])
def test_cluttered_ram_defaults_to_the_public_recipe_and_baselines_keep_theirs(module):
  recipe = dict(reinforce_to_core=True, reinforce_weight=0.125, core_identity_init=True,
                learning_rate=0.01, location_std=0.3, nesterov=True, num_train_steps=200_000)
  first = dict(reinforce_to_core=False, reinforce_weight=0.01, core_identity_init=False,
               learning_rate=0.05, location_std=0.2, nesterov=False, num_train_steps=300_000)
  for arg, model, expected in ((None, "ram", recipe), ("first_reading", "ram", first),
                               ("conv8", "conv", first), ("fc64", "fc", first)):
    c = module.get_config(arg)
    assert c.model == model and {k: c[k] for k in expected} == expected, arg


def _flat(tree, prefix=""):
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[prefix + key] = value
  return out


def test_atari_cpu_config_is_the_default_recipe_at_cpu_size_and_batch():
  from configs import s3ta_atari
  from s3ta_jax import agent_config
  from s3ta_jax.impala import system
  configs = {arg: s3ta_atari.get_config(arg) for arg in
             ("", "cpu", "literal", "catch", "multilevel", "multilevel_cpu")}
  for arg, c in configs.items():
    if c.agent.kind != "tiny":
      agent_config.validate_config(c.agent)
    system.check_config(c, num_processes=1, num_learner_devices_global=1)
  default, cpu = _flat(configs[""].to_dict()), _flat(configs["cpu"].to_dict())
  small, paper = _flat(agent_config.agent_config("small").to_dict()), _flat(
      agent_config.agent_config("paper").to_dict())
  sizes = {f"agent.{k}" for k in paper if paper[k] != small[k]}
  throughput = {"batch_size", "unroll_length", "learning_rate", "total_frames"}
  assert {k for k in default if default[k] != cpu[k]} <= sizes | throughput
  # The recipe's options are on in both, off in :literal (Table 3 as written).
  literal = configs["literal"]
  for c in (configs[""], configs["cpu"]):
    assert (c.agent.vision_lstm, c.agent.center_answers, c.optimizer) == (False, "running",
                                                                          "rmsprop")
  assert (literal.agent.vision_lstm, literal.agent.center_answers, literal.episodic_life) == (
      True, "none", False)
  assert literal.agent.head_hidden == configs[""].agent.head_hidden == 128  # Table 3's MLP.
