"""MNIST training (ram_jax.mnist_loop, launch.mnist) end to end on tiny synthetic MNIST: outputs,
resumption, data parallelism, command-line errors."""
import json
import os
import re
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from common.checkpoint import Checkpointer
from common.errors import STOPPED_EXIT_CODE, Stopped, UsageError
from common.metrics import read_metrics
from configs import mnist_base
from ram_jax import mnist_loop
from ram_jax import train
from test_ram_data import write_mnist

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(data_dir, workdir, **overrides):
  c = mnist_base.base_config("ram")
  c.update(dict(task="translated", canvas=32, glimpse_size=4, num_scales=2, num_glimpses=3,
                hidden=16, glimpse_features=8, location_features=8, glimpse_output=16,
                batch_size=8, eval_batch_size=16, num_validation=20, num_train_steps=6,
                eval_every_steps=3, warmup_steps=2, progress_every_s=0.0, checkpoint_every_s=0.0,
                data_dir=str(data_dir), workdir=str(workdir)))
  c.update(overrides)
  return c


def restore(workdir, config):
  model, optimizer, task = train.make_model(config), train.make_optimizer(config), train.make_task(config)
  like = train.init_state(config, model, optimizer, task)
  ckpt = Checkpointer(str(workdir))
  step = ckpt.latest_step()
  state = ckpt.restore(like)
  ckpt.close()
  return step, state


def test_end_to_end_and_resume(tmp_path):
  write_mnist(tmp_path / "mnist", num_train=80, num_test=24)
  straight = tiny_config(tmp_path / "mnist", tmp_path / "straight")
  results = mnist_loop.train(straight)
  # Outputs: metrics (train + eval lines), results.json, a checkpoint at the last step.
  records = read_metrics(str(tmp_path / "straight"))
  assert [r["step"] for r in records if "validation_error" in r] == [3, 6]
  assert all(0 <= r["test_error"] <= 1 for r in records if "test_error" in r)
  assert any("cross_entropy" in r and "images_per_s" in r for r in records)
  with open(tmp_path / "straight" / "results.json") as f:
    assert json.load(f) == results
  assert results["step"] == 6 and results["images"] == 48

  # A run killed after step 4's checkpoint, then re-run, ends where the uninterrupted run ends:
  # same params, optimizer state, step and RNG.
  assert mnist_loop.train(tiny_config(tmp_path / "mnist", tmp_path / "resumed"), stop_at=4) is None
  assert restore(tmp_path / "resumed", straight)[0] == 4
  mnist_loop.train(tiny_config(tmp_path / "mnist", tmp_path / "resumed"))
  step_a, state_a = restore(tmp_path / "straight", straight)
  step_b, state_b = restore(tmp_path / "resumed", straight)
  assert step_a == step_b == 6
  jax.tree.map(np.testing.assert_array_equal, state_a, state_b)

  # A different model in the same workdir is refused.
  with pytest.raises(UsageError, match="different config.*num_glimpses"):
    mnist_loop.train(tiny_config(tmp_path / "mnist", tmp_path / "resumed", num_glimpses=4))

  # A workdir made before `reward` existed resumes with the paper's reward, and only with it.
  config_path = tmp_path / "resumed" / "config.json"
  stored = json.loads(config_path.read_text())
  del stored["reward"]
  config_path.write_text(json.dumps(stored))
  with pytest.raises(UsageError, match="reward: 'correct' -> 'probability'"):
    mnist_loop.train(tiny_config(tmp_path / "mnist", tmp_path / "resumed", reward="probability",
                          num_train_steps=7))
  resumed = mnist_loop.train(tiny_config(tmp_path / "mnist", tmp_path / "resumed", num_train_steps=7))
  assert resumed["step"] == 7


@pytest.mark.parametrize("samples_per_image,position_weight", [(1, 0.0), (4, 0.0), (2, 1.0)])
def test_two_devices_give_the_same_update_as_one(tmp_path, samples_per_image, position_weight):
  assert jax.local_device_count() >= 2, "tests/conftest.py provides 2 CPU devices"
  config = tiny_config(tmp_path, tmp_path, batch_size=8, samples_per_image=samples_per_image,
                       position_weight=position_weight)
  images = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
  labels = np.arange(40, dtype=np.int32) % 10
  model, optimizer, task = train.make_model(config), train.make_optimizer(config), train.make_task(config)
  finals = []
  for devices in (jax.local_devices()[:1], jax.local_devices()[:2]):
    mesh = train.make_mesh(devices)
    state = train.replicate(train.init_state(config, model, optimizer, task), mesh)
    step = train.make_train_step(model, optimizer, task, config, mesh)
    arrays = train.replicate((images, labels), mesh)
    for _ in range(3):
      state, metrics = step(state, *arrays)
    assert ("position_mse" in metrics) == (position_weight > 0)
    if len(devices) == 2:
      assert len(state["params"]["action_net"]["kernel"].sharding.device_set) == 2
    finals.append(jax.device_get(state))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6), *finals)
  assert not np.allclose(finals[0]["params"]["action_net"]["kernel"],
                         train.init_state(config, model, optimizer, task)["params"]["action_net"]["kernel"])


def test_position_loss_stops_after_position_loss_steps(tmp_path):
  """From update `position_loss_steps` on, an update is the paper's loss's update (the same model
  trained with position_weight=0); before it, it is not. `position_mse` is still logged."""
  # No warmup: the optimizer's own count starts at 0, where a warmup's learning rate is 0.
  config = tiny_config(tmp_path, tmp_path, position_weight=1.0, position_loss_steps=2, warmup_steps=0)
  paper = tiny_config(tmp_path, tmp_path, warmup_steps=0)
  images = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
  labels = np.arange(40, dtype=np.int32) % 10
  model, optimizer, task = train.make_model(config), train.make_optimizer(config), train.make_task(config)
  mesh = train.make_mesh(jax.local_devices()[:1])
  arrays = train.replicate((images, labels), mesh)
  state = jax.device_get(train.init_state(config, model, optimizer, task))
  with_loss, paper_loss = (train.make_train_step(model, optimizer, task, c, mesh) for c in (config, paper))
  for step, same in ((1, False), (2, True), (5, True)):
    at_step = {**state, "step": np.int32(step)}
    new_state, metrics = with_loss(train.replicate(at_step, mesh), *arrays)
    paper_state, _ = paper_loss(train.replicate(at_step, mesh), *arrays)
    assert "position_mse" in metrics
    close = jax.tree.leaves(jax.tree.map(lambda a, b: np.allclose(a, b, rtol=1e-5, atol=1e-7),
                                         *jax.device_get((new_state["params"], paper_state["params"]))))
    assert all(close) == same, step


def _launch(*args):
  proc = subprocess.run([sys.executable, "-m", "launch.mnist", "--config=configs/ram_mnist.py", *args],
                        cwd=REPO, capture_output=True, text=True, timeout=300,
                        env={**os.environ, "JAX_PLATFORMS": "cpu"})
  return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("args,message", [
    (["--config.data_dir=/nonexistent/mnist"], "data_dir /nonexistent/mnist does not exist"),
    (["--config.num_scales=0"], "num_scales must be >= 1"),
    (["--config.num_scales=3"], "largest glimpse .* is 32x32"),
    (["--config.reward=accuracy"], "config.reward='accuracy'; use one of correct, probability"),
    (["--config.samples_per_image=3"], r"samples_per_image=3 must be >= 1 and divide batch_size"),
    (["--config.position_weight=-1"], r"position_weight must be >= 0"),
    (["--config.model=fc", "--config.position_weight=1"], r"position_weight=1.0 needs model 'ram'"),
    (["--config.position_loss_steps=10"], r"position_loss_steps=10 must be >= 0 and needs position_weight"),
    (["--config.lerning_rate=0.1"], 'unknown config field lerning_rate Did you mean "learning_rate"'),
])
def test_bad_input_is_one_clear_line(tmp_path, args, message):
  write_mnist(tmp_path, num_train=30, num_test=10)
  _one_error_line(*_launch(f"--config.workdir={tmp_path / 'w'}", f"--config.data_dir={tmp_path}",
                           *args), message)


def _one_error_line(code, output, message):
  assert code == 2 and "Traceback" not in output, output[-2000:]
  error_lines = [l for l in output.splitlines() if l.startswith("error: ")]
  assert len(error_lines) == 1 and re.search(message, error_lines[0]), error_lines


@pytest.mark.parametrize("workdir,message", [
    ("a_file", r"a_file is a file, not a directory; pass a directory"),
    ("broken", r"config.json is not valid JSON .*use another --config.workdir"),
])
def test_a_bad_workdir_is_one_clear_line(tmp_path, workdir, message):
  write_mnist(tmp_path, num_train=30, num_test=10)
  (tmp_path / "a_file").write_text("notes")
  (tmp_path / "broken").mkdir()
  (tmp_path / "broken" / "config.json").write_text('{"model": "ram", "task"')
  _one_error_line(*_launch(f"--config.workdir={tmp_path / workdir}",
                           f"--config.data_dir={tmp_path}", "--config.num_validation=10"), message)


def test_a_damaged_latest_checkpoint_resumes_from_the_one_before(tmp_path, capsys):
  write_mnist(tmp_path / "mnist", num_train=80, num_test=24)
  config = lambda: tiny_config(tmp_path / "mnist", tmp_path / "run")
  assert mnist_loop.train(config(), stop_at=4) is None  # Checkpoints at every step: 3 and 4 kept.
  latest = tmp_path / "run" / "checkpoints" / "4"
  # Every data file emptied: cutting one in half could spare the bytes a restore reads.
  data = [p for p in latest.rglob("*") if p.is_file() and p.parent.name == "d"]
  assert data
  for path in data:
    with open(path, "r+b") as f:
      f.truncate(0)
  capsys.readouterr()
  assert mnist_loop.train(config())["step"] == 6
  out = capsys.readouterr().out
  assert [l for l in out.splitlines() if l.startswith("warning:")] == [
      l for l in out.splitlines() if "checkpoint at step 4" in l and "using step 3" in l]
  assert "resumed from step 3" in out
  assert (tmp_path / "run" / "damaged_checkpoints" / "4").is_dir()  # Kept for inspection.
  assert restore(tmp_path / "run", config())[0] == 6


def test_sigterm_to_the_process_group_saves_and_stops_with_status_130(tmp_path):
  """`timeout` and schedulers send SIGTERM to the process and to its group: two at once."""
  write_mnist(tmp_path, num_train=80, num_test=24)
  proc = subprocess.Popen(
      [sys.executable, "-m", "launch.mnist", "--config=configs/ram_mnist.py",
       f"--config.workdir={tmp_path / 'run'}", f"--config.data_dir={tmp_path}",
       "--config.num_train_steps=100000", "--config.progress_every_s=0",
       "--config.checkpoint_every_s=1000000", "--config.eval_every_steps=0",
       "--config.num_validation=20", "--config.batch_size=8", "--config.eval_batch_size=8"],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      env={**os.environ, "JAX_PLATFORMS": "cpu"}, start_new_session=True)
  lines = []
  for line in proc.stdout:  # Wait for training to be under way.
    lines.append(line)
    if line.startswith("step "):
      break
  os.killpg(proc.pid, signal.SIGTERM)
  os.kill(proc.pid, signal.SIGTERM)
  output = "".join(lines) + proc.communicate(timeout=300)[0]
  assert proc.returncode == STOPPED_EXIT_CODE, output[-2000:]
  assert "Traceback" not in output and "KeyboardInterrupt" not in output
  assert re.search(r"stopped at step \d+; re-run the same command to resume", output)
  config = mnist_base.base_config("ram")
  config.update(num_validation=20, batch_size=8, eval_batch_size=8)
  assert restore(tmp_path / "run", config)[0] >= 1  # The checkpoint it saved on stopping.


def test_ctrl_c_checkpoints_then_stops_and_the_rerun_resumes(tmp_path, monkeypatch):
  write_mnist(tmp_path / "mnist", num_train=80, num_test=24)
  config = tiny_config(tmp_path / "mnist", tmp_path / "run", checkpoint_every_s=1e9)
  make_step = train.make_train_step

  def make_step_that_presses_ctrl_c(*args, **kwargs):
    step_fn, calls = make_step(*args, **kwargs), []

    def step(*a):
      calls.append(1)
      if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGINT)
      return step_fn(*a)
    return step

  monkeypatch.setattr(train, "make_train_step", make_step_that_presses_ctrl_c)
  handler = signal.getsignal(signal.SIGINT)
  with pytest.raises(Stopped, match="stopped at step 2"):
    mnist_loop.train(config)
  assert signal.getsignal(signal.SIGINT) is handler  # The run's handler is gone again.
  assert restore(tmp_path / "run", config)[0] == 2  # Saved although no periodic save was due.
  monkeypatch.setattr(train, "make_train_step", make_step)
  assert mnist_loop.train(config)["step"] == 6
