"""Multi-host for real: two processes on 127.0.0.1 (gloo collectives), two CPU devices each.

The learner:
Each process feeds its half of the same global batches; after N updates the parameters must be
bit-identical across the processes (one SPMD program, replicated outputs) and equal to the
single-process, two-device update on the whole batches up to float summation order: the psum
over 4 devices adds the per-device gradients in a different order than over 2, so we allow
rtol 1e-5 / atol 1e-6.

The trainer: when one process's actors crash after a few updates, both processes stop with
`ActorCrashed` instead of the healthy one waiting in the next all-reduce; every process sees
every process's finished games.
"""
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

N_UPDATES, GLOBAL_BATCH, UNROLL = 3, 8, 4


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def worker(out_path: str, port: int, num_processes: int, process_id: int):
  import jax
  if num_processes > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=num_processes,
                               process_id=process_id)
  sys.path.insert(0, os.path.dirname(__file__))
  from test_impala_learner import _train_config, random_batch, tiny_agent
  from s3ta_jax.impala import learner as learner_lib

  agent = tiny_agent()
  lrn = learner_lib.Learner(agent, _train_config(), learner_lib.learner_devices([0, 1]),
                            learner_lib.LossConfig())
  assert lrn.num_devices == 2 * num_processes
  params, opt_state = lrn.init(agent.init_params(jax.random.PRNGKey(0)))
  share = GLOBAL_BATCH // num_processes
  mine = slice(process_id * share, (process_id + 1) * share)
  for step in range(N_UPDATES):
    traj, init = random_batch(agent, GLOBAL_BATCH, UNROLL, seed=step)
    traj = {k: v[:, mine] for k, v in traj.items()}
    init = jax.tree.map(lambda x: x[mine], init)
    params, opt_state, _ = lrn.update(params, opt_state, *lrn.shard_batch(traj, init))
  leaves = jax.tree.leaves(learner_lib.to_local(params))
  np.savez(out_path, *leaves)
  if num_processes > 1:
    jax.distributed.shutdown()


def _run(tmp_path, runs):
  """Starts all (num_processes, process_id) workers at once; returns their parameter lists."""
  port = free_port()
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
             JAX_PLATFORMS="cpu")
  procs, outs = [], []
  for num_processes, pid in runs:
    out = str(tmp_path / f"params_{num_processes}_{pid}.npz")
    outs.append(out)
    procs.append(subprocess.Popen(
        [sys.executable, __file__, out, str(port), str(num_processes), str(pid)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  wait_for_workers(procs, timeout=240)
  return [load_leaves(out) for out in outs]


def wait_for_workers(procs: list[subprocess.Popen], timeout: float) -> list[str]:
  """Each worker's output, once all exited with status 0 (all are killed if one hangs)."""
  logs = []
  for p in procs:
    try:
      log, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      raise
    assert p.returncode == 0, log[-3000:]
    logs.append(log)
  return logs


def load_leaves(path: str) -> list[np.ndarray]:
  """The arrays a worker saved with `np.savez(path, *leaves)`, in their order."""
  with np.load(path) as z:
    return [z[k] for k in sorted(z.files, key=lambda s: int(s.split("_")[1]))]


def test_two_processes_match_each_other_and_single_process(tmp_path):
  p0, p1, one = _run(tmp_path, [(2, 0), (2, 1), (1, 0)])
  assert len(one) == len(p0) == len(p1) > 0
  for a, b in zip(p0, p1):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(p0, one):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


CRASHED_EXIT = 3


def crash_worker(port: int, process_id: int):
  """Trains the tiny agent on Catch; process 1's envs die after a few updates."""
  import jax
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
  sys.path.insert(0, os.path.dirname(__file__))
  from test_impala_actor import ExplodingEnvs, _catch_config
  from s3ta_jax.impala import atari_loop, system

  config = _catch_config()
  config.batch_size = 4  # One unroll per learner device.
  trainer = system.Trainer(config)
  if process_id == 1:
    def exploding(i):
      def make():
        env = ExplodingEnvs(4, 2, 12, 10)
        env.calls = -60  # recv() raises on its 66th call: after several updates.
        return env
      return make
    trainer.start_actors(make_env=exploding)
  try:
    from common.loop import LoopControl
    atari_loop.run(trainer, LoopControl(10**12, 0, 1e9, stop_signal=None, max_seconds=200))
  except system.ActorCrashed as e:
    print(f"process {process_id}: ActorCrashed after {trainer.step} updates: {e}", flush=True)
    os._exit(CRASHED_EXIT)  # Skip jax.distributed's exit barrier: the peer may be gone.
  print(f"process {process_id}: finished without a crash", flush=True)


def test_an_actor_crash_in_one_process_stops_every_process(tmp_path):
  port = free_port()
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
             JAX_PLATFORMS="cpu")
  start = time.time()
  procs = [subprocess.Popen([sys.executable, __file__, "crash", str(port), str(pid)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for pid in (0, 1)]
  logs = []
  try:
    for p in procs:
      logs.append(p.communicate(timeout=150)[0])
  finally:
    for p in procs:
      p.kill()
  for p, log in zip(procs, logs):
    assert p.returncode == CRASHED_EXIT, log[-3000:]
  assert "boom: emulator died" in logs[1]
  assert "the actors of process [1] crashed" in logs[0]
  updates = int(logs[0].split("ActorCrashed after ")[1].split()[0])
  assert updates >= 1, logs[0][-2000:]  # It crashed mid-training, not before the first update.
  assert time.time() - start < 150


def gather_worker(out_path: str, port: int, process_id: int):
  """Process 0 finished two Breakout games, process 1 one Pong game, then neither any."""
  import jax
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
  from s3ta_jax.impala.atari_loop import gather_games
  names = ["Breakout", "Pong"]
  mine = ([1.5, 2.0], ["Breakout", "Breakout"]) if process_id == 0 else ([-21.0], ["Pong"])
  result = [gather_games(*mine, names), gather_games([], [], names)]
  with open(out_path, "w") as f:
    json.dump(result, f)
  jax.distributed.shutdown()


def test_every_process_sees_every_processs_finished_games(tmp_path):
  """A multi-level run spreads the levels over processes; its progress and PBT fitness are
  computed from every process's games (atari_loop.gather_games)."""
  port = free_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  outs = [str(tmp_path / f"games_{pid}.json") for pid in (0, 1)]
  procs = [subprocess.Popen([sys.executable, __file__, "gather", out, str(port), str(pid)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for pid, out in enumerate(outs)]
  wait_for_workers(procs, timeout=120)
  for out in outs:
    with open(out) as f:
      assert json.load(f) == [[[1.5, 2.0, -21.0], ["Breakout", "Breakout", "Pong"]], [[], []]]


if __name__ == "__main__":
  if sys.argv[1] == "gather":
    gather_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
  elif sys.argv[1] == "crash":
    crash_worker(int(sys.argv[2]), int(sys.argv[3]))
  else:
    worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
