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
