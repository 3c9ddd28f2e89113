"""Classifier training (s3ta_jax.classify_loop) across two processes for real (127.0.0.1, gloo,
two CPU devices each).

Each process reads its own shard of the training records and half of the evaluation set. After
the run both processes must hold the same parameters, the evaluation must count every test
example once, the checkpoint must keep both processes' iterator states, and a run stopped after
its step-2 checkpoint and re-run must end with the parameters of the uninterrupted run.
"""
import json
import os
import subprocess
import sys

import numpy as np

from test_impala_multihost import free_port, load_leaves, wait_for_workers

NUM_TEST = 12


def worker(data_dir: str, workdir: str, port: int, process_id: int, stop_at: int, out: str):
  sys.path.insert(0, os.path.dirname(__file__))
  from test_classify_launch import restore, tiny_config
  from s3ta_jax import classify_loop
  import jax
  config = tiny_config(data_dir, workdir, num_validation=8, num_train_steps=4, eval_every_steps=0,
                       batch_size=8, eval_batch_size=8)
  config.distributed.update(enabled=True, coordinator_address=f"127.0.0.1:{port}",
                            num_processes=2, process_id=process_id)
  results = classify_loop.train(config, stop_at=stop_at or None)
  assert jax.device_count() == 4 and jax.process_count() == 2
  step, state, data_state = restore(workdir, config)
  np.savez(out, *jax.tree.leaves(state))
  with open(out + ".json", "w") as f:
    json.dump({"results": results, "step": step, "iterators": data_state["iterators"]}, f)
  jax.distributed.shutdown()


def _run_pair(tmp_path, data_dir, workdir, stop_at=0):
  port = free_port()
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
  outs = [str(tmp_path / f"{os.path.basename(workdir)}_{stop_at}_{i}.npz") for i in range(2)]
  procs = [subprocess.Popen([sys.executable, __file__, str(data_dir), str(workdir), str(port),
                             str(i), str(stop_at), outs[i]], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True) for i in range(2)]
  wait_for_workers(procs, timeout=300)
  arrays = [load_leaves(out) for out in outs]
  infos = []
  for out in outs:
    with open(out + ".json") as f:
      infos.append(json.load(f))
  return arrays, infos


def test_two_processes_train_evaluate_and_resume(tmp_path):
  sys.path.insert(0, os.path.dirname(__file__))
  from test_ram_data import write_mnist
  write_mnist(tmp_path / "mnist", num_train=40, num_test=NUM_TEST)
  straight, infos = _run_pair(tmp_path, tmp_path / "mnist", tmp_path / "straight")
  for x, y in zip(*straight):
    np.testing.assert_array_equal(x, y)  # One SPMD program: replicated state is identical.
  assert infos[0]["results"] == infos[1]["results"]
  assert infos[0]["results"]["num_examples"] == NUM_TEST  # Each test example counted once.
  states = infos[0]["iterators"]
  assert len(states) == 2 and states[0] != states[1]  # Each process's own shard position.

  _run_pair(tmp_path, tmp_path / "mnist", tmp_path / "resumed", stop_at=2)
  resumed, infos = _run_pair(tmp_path, tmp_path / "mnist", tmp_path / "resumed")
  assert infos[0]["step"] == 4
  for x, y in zip(straight[0], resumed[0]):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


if __name__ == "__main__":
  worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
         sys.argv[6])
