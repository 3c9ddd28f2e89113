"""The benchmarks' FLOP count against closed forms (XLA's own count sees a loop body once)."""
import jax
import jax.numpy as jnp

from common import flops


def test_a_scan_of_matmuls_counts_every_iteration_and_the_backward_pass():
  x = jnp.ones((64, 64))
  unroll = lambda x: jax.lax.scan(lambda c, _: (c @ x, None), x, None, length=7)[0]
  assert flops.flops_per_call(jax.jit(unroll), x) == 7 * 2 * 64 ** 3
  # Backward of c @ x: one matmul for each operand's gradient.
  assert flops.flops_per_call(jax.grad(lambda x: unroll(x).sum()), x) == 3 * 7 * 2 * 64 ** 3


def test_a_grouped_convolution_counts_its_window_times_input_features_per_group():
  image, kernel = jnp.ones((2, 10, 12, 6)), jnp.ones((3, 5, 2, 9))  # 3 groups of 2 -> 3 each.
  conv = lambda im, k: jax.lax.conv_general_dilated(
      im, k, (2, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=3)
  outputs = 2 * 5 * 12 * 9  # Stride 2 on the rows.
  assert flops.flops_per_call(conv, image, kernel) == 2 * outputs * (3 * 5 * 2)


def test_the_atari_benchmark_cases_measure_the_agents_they_name():
  from configs.s3ta_atari import get_config
  from s3ta_jax.impala.benchmark import case_config
  agent = lambda name: case_config(get_config, name, "Pong").agent
  assert (agent("s3ta").kind, agent("s3ta").vision_lstm) == ("s3ta", True)
  assert (agent("s3ta_ff").kind, agent("s3ta_ff").vision_lstm) == ("s3ta", False)
  assert (agent("lstm").kind, agent("feedforward").kind) == ("lstm", "feedforward")
  assert agent("paper").to_dict() == get_config("literal").agent.to_dict()
  assert agent("paper").vision_lstm
