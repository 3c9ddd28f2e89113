"""What every training run shares (common/): one writer per workdir, the config guard, TensorBoard
events, loop decisions, stop signals, checkpoints that restore past a damaged one."""
import json
import os
import re
import struct
import subprocess
import sys

import pytest
from tensorboardX.proto import event_pb2

from common.checkpoint import Checkpointer
from common.errors import UsageError
from common.loop import LoopControl, StopSignal
from common.metrics import Progress
from common.workdir import (LOCK_FILE, claim_workdir, guard_config, load_workdir, with_defaults,
                            write_json_atomic)
from s3ta_jax.impala import workdir as atari_workdir


def read_scalars(workdir):
  """{tag: [(step, value)]} from the TFRecord event files in `workdir`, parsed by hand."""
  scalars = {}
  for name in sorted(os.listdir(workdir)):
    if not name.startswith("events.out.tfevents"):
      continue
    data = open(os.path.join(workdir, name), "rb").read()
    pos = 0
    while pos < len(data):  # Record: u64 length, u32 crc, payload, u32 crc.
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for v in event.summary.value:
        scalars.setdefault(v.tag, []).append((event.step, v.simple_value))
  return scalars


def test_progress_writes_the_metrics_to_tensorboard_as_to_jsonl(tmp_path):
  progress = Progress(str(tmp_path), total_steps=10)
  progress.write(3, {"loss": 0.5, "return_mean": -1.25})
  progress.write(7, {"loss": 0.25, "nan_metric": float("nan")})
  progress.close()
  scalars = read_scalars(tmp_path)
  assert scalars["loss"] == [(3, 0.5), (7, 0.25)]
  assert scalars["return_mean"] == [(3, -1.25)]
  assert "nan_metric" not in scalars and "time" not in scalars
  lines = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert [r["step"] for r in lines] == [3, 7]


def test_a_live_writer_keeps_its_workdir(tmp_path):
  other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    (tmp_path / LOCK_FILE).write_text(
        json.dumps({"host": os.uname().nodename, "pid": other.pid}))
    with pytest.raises(UsageError, match=f"in use by pid {other.pid}"):
      claim_workdir(str(tmp_path))
  finally:
    other.kill()
    other.wait()


def test_a_dead_writers_lock_is_taken_over_and_a_second_claim_is_refused(tmp_path):
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  (tmp_path / LOCK_FILE).write_text(
      json.dumps({"host": os.uname().nodename, "pid": int(dead.stdout)}))
  claim_workdir(str(tmp_path))
  assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
  claim_workdir(str(tmp_path))  # The same process may claim again.
  # Another process on this host is refused while this one lives.
  second = subprocess.run(
      [sys.executable, "-c", f"from common.workdir import claim_workdir; claim_workdir({str(tmp_path)!r})"],
      capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
  assert second.returncode != 0 and f"in use by pid {os.getpid()}" in second.stderr


def test_a_lock_from_another_host_is_not_taken_over(tmp_path):
  (tmp_path / LOCK_FILE).write_text(json.dumps({"host": "elsewhere", "pid": 1}))
  with pytest.raises(UsageError, match="on elsewhere"):
    claim_workdir(str(tmp_path))


def test_config_guard_names_a_changed_model_field_and_lets_run_settings_change(tmp_path):
  from ml_collections import ConfigDict
  make = lambda **kw: ConfigDict({"model": {"width": 8}, "num_train_steps": 10,
                                  "distributed": {"process_id": 0, "coordinator_address": "a:1"},
                                  **kw})
  guard_config(str(tmp_path), make())
  # Run length and where the processes run may change on resumption.
  guard_config(str(tmp_path), make(num_train_steps=20, distributed={
      "process_id": 1, "coordinator_address": "b:2"}))
  with pytest.raises(UsageError, match="model.width: 8 -> 16"):
    guard_config(str(tmp_path), make(model={"width": 16}))
  # A field added since: the config family's migration gives a stored config without it the value
  # of the code before it.
  migrate = lambda stored: with_defaults(stored, {"model.norm": False})
  guard_config(str(tmp_path), make(model={"width": 8, "norm": False}), migrate)
  with pytest.raises(UsageError, match="model.norm: False -> True"):
    guard_config(str(tmp_path), make(model={"width": 8, "norm": True}), migrate)


def test_loop_control_evaluates_checkpoints_and_stops_on_schedule():
  class Signal:
    requested = False

  now = [0.0]
  signal = Signal()
  control = LoopControl(total_steps=10, eval_every_steps=4, checkpoint_every_s=5.0,
                                stop_signal=signal, stop_at=None, clock=lambda: now[0])
  log = []
  for step in range(1, 11):
    now[0] += 2.0  # Two seconds a step: a timed checkpoint every third step.
    log.append(control.after(step))
  assert [s for s, a in enumerate(log, 1) if a.evaluate] == [4, 8]  # Not 10: the final eval.
  assert [s for s, a in enumerate(log, 1) if a.checkpoint] == [3, 6, 9, 10]
  assert [s for s, a in enumerate(log, 1) if a.wait] == [10] and not any(a.stop for a in log)

  killed = LoopControl(10, 0, 1e9, signal, stop_at=3, clock=lambda: 0.0)
  actions = [killed.after(s) for s in (1, 2, 3)]
  assert actions[-1] == LoopControl.Actions(False, True, True, True)
  assert not any(a.stop or a.checkpoint for a in actions[:2])
  assert killed.stopped_message(3) is None  # stop_at is a test's kill, not a signal.
  signal.requested = True
  stopped = LoopControl(10, 0, 1e9, signal, clock=lambda: 0.0).after(1)
  assert stopped.stop and stopped.checkpoint and stopped.wait
  assert "re-run the same command" in killed.stopped_message(1)

  signal.requested = False
  now[0] = 0.0
  timed = LoopControl(10, 0, 1e9, signal, clock=lambda: now[0], max_seconds=7.0)
  ends = []
  for step in range(1, 5):
    now[0] += 2.0
    ends.append(timed.after(step))
  assert [a.done for a in ends] == [False, False, False, True]  # 8 s > 7 s, at step 4 of 10.
  assert ends[-1].checkpoint and ends[-1].wait and not ends[-1].finished
  goal = LoopControl(10, 0, 1e9, signal, clock=lambda: 0.0).after(2, finished=True)
  assert goal.done and goal.finished and not goal.stop


def test_load_workdir_restores_the_latest_save_and_names_what_is_missing(tmp_path):
  import numpy as np
  from ml_collections import ConfigDict
  with pytest.raises(UsageError, match="config.json not found"):
    load_workdir(str(tmp_path), lambda config, ckpt: None, lambda config: None)
  write_json_atomic(str(tmp_path / "config.json"), {"model": "ram"})
  like = {"w": np.zeros(3, np.float32)}
  restore = lambda config, ckpt: (config.model, ckpt.restore(like))
  accept = lambda config: None
  with pytest.raises(UsageError, match=f"{tmp_path} has no checkpoint yet"):
    load_workdir(str(tmp_path), restore, accept)
  checkpointer = Checkpointer(str(tmp_path))
  for step in (1, 2):
    checkpointer.save(step, {"w": np.full(3, step, np.float32)}, wait=True)
  checkpointer.close()
  model, state = load_workdir(str(tmp_path), restore, accept)
  assert model == "ram" and state["w"].tolist() == [2.0, 2.0, 2.0]

  wrong_kind = lambda config: "is not a launch.atari workdir."
  with pytest.raises(UsageError, match=f"^{tmp_path} is not a launch.atari workdir"):
    load_workdir(str(tmp_path), restore, wrong_kind)

  def buggy(config: ConfigDict, ckpt):  # A bug inside a restore is not a usage error.
    raise ValueError("shape mismatch")
  with pytest.raises(ValueError, match="shape mismatch"):
    load_workdir(str(tmp_path), buggy, accept)
  with pytest.raises(UsageError, match="is not a launch.atari workdir"):
    atari_workdir.load(str(tmp_path))  # The real loader, on a RAM config.


def test_a_workdir_that_is_a_file_or_a_config_that_is_not_json_is_one_usage_error(tmp_path):
  from ml_collections import ConfigDict
  a_file = tmp_path / "notes.txt"
  a_file.write_text("not a workdir")
  with pytest.raises(UsageError, match="notes.txt is a file, not a directory"):
    claim_workdir(str(a_file))
  with pytest.raises(UsageError, match="is a file"):
    guard_config(str(a_file), ConfigDict({"model": "ram"}))
  (tmp_path / "config.json").write_text('{"model": "ram", ')  # Cut off mid-write.
  with pytest.raises(UsageError, match="config.json is not valid JSON"):
    guard_config(str(tmp_path), ConfigDict({"model": "ram"}))
  with pytest.raises(UsageError, match="config.json is not valid JSON"):
    load_workdir(str(tmp_path), lambda config, ckpt: None, lambda config: None)


def _largest_data_file(step_dir):
  files = [os.path.join(d, f) for d, _, names in os.walk(step_dir) for f in names
           if os.path.basename(d) == "d"]
  return max(files, key=os.path.getsize)


def test_a_damaged_newest_checkpoint_is_skipped_with_one_warning_and_kept(tmp_path, capsys):
  import numpy as np
  saved = {step: {"w": np.random.default_rng(step).normal(size=4096).astype(np.float32)}
           for step in (1, 2, 3)}
  like = {"w": np.zeros(4096, np.float32)}
  checkpointer = Checkpointer(str(tmp_path))
  for step in (1, 2):
    checkpointer.save(step, saved[step], wait=True)
  damaged = _largest_data_file(os.path.join(checkpointer.directory, "2"))
  with open(damaged, "r+b") as f:  # A data file cut short (a full disk, a killed copy).
    f.truncate(os.path.getsize(damaged) // 2)
  # A reader skips it and leaves it where it is.
  np.testing.assert_array_equal(checkpointer.restore(like)["w"], saved[1]["w"])
  assert checkpointer.latest_step() == 2
  # A resuming run sets it aside, so it can save past it; the damaged files stay on disk.
  np.testing.assert_array_equal(checkpointer.restore(like, set_aside_damaged=True)["w"],
                                saved[1]["w"])
  warnings = [l for l in capsys.readouterr().out.splitlines() if l.startswith("warning:")]
  assert len(warnings) == 2 and all("checkpoint at step 2" in w and "using step 1" in w
                                    for w in warnings)
  assert "damaged_checkpoints" in warnings[1]
  assert checkpointer.latest_step() == 1
  assert os.path.getsize(damaged.replace("checkpoints", "damaged_checkpoints")) > 0
  checkpointer.save(2, saved[3], wait=True)
  np.testing.assert_array_equal(checkpointer.restore(like)["w"], saved[3]["w"])
  # With nothing intact, the newest one's error is the answer.
  for step in (1, 2):
    with open(_largest_data_file(os.path.join(checkpointer.directory, str(step))), "r+b") as f:
      f.truncate(10)
  with pytest.raises(ValueError, match="OUT_OF_RANGE|DATA_LOSS"):
    checkpointer.restore(like)
  checkpointer.close()


def test_a_repeated_sigterm_is_one_stop_request_and_only_a_second_ctrl_c_aborts():
  import signal
  with StopSignal() as stop:
    os.kill(os.getpid(), signal.SIGTERM)  # `timeout` signals the process and its group.
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.requested
    os.kill(os.getpid(), signal.SIGINT)  # The first Ctrl-C: the same request.
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)  # The second: abort now.


def test_the_progress_line_leads_with_what_a_person_reads(tmp_path, capsys):
  progress = Progress(str(tmp_path), total_steps=3_000_000, unit="frames", counter="frames",
                      headline={"return_mean": "return"})
  metrics = {"return_mean": 12.25, "loss": 0.5, "grad_norm": 3.0, "queue_fill": 1.0}
  progress.update(1_200_000, 1_200_000, metrics, force=True)
  progress.close()
  line = capsys.readouterr().out.strip()
  assert re.fullmatch(r"frames 1,200,000/3,000,000 \| [\d,]+ frames/s \| ETA \S+ \| return 12\.25",
                      line), line
  record = json.loads((tmp_path / "metrics.jsonl").read_text())
  assert {"return_mean", "loss", "grad_norm", "queue_fill", "frames_per_s"} <= set(record)
