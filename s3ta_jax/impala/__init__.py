"""IMPALA actor–learner (Espeholt et al. 2018) in the Sebulba style, as used by S3TA (Mott et al.
2019, §4.1, App. A.1.1).

Modules, one job each:
  envs, catch_env, env_types  batched async environments behind one interface (envpool Atari,
                              a rendered Catch).
  rollout       the one env-stepping loop and the agent's inputs, for every user of an agent.
  agents        the agent (s3ta_jax.agent or the tiny stand-in) behind one small interface.
  tiny_agent    a minimal conv+LSTM agent, for fast tests and the CPU Catch check.
  actor         actor threads: unrolls of the rollout into a bounded queue.
  learner       V-trace loss and the data-parallel update step.
  system        wiring: parameter broadcast, actor supervision, checkpoints.
  atari_loop    the training loop and `train(config)` of `python -m launch.atari`.
  migrate       the one place workdirs of earlier code are brought up to date.
  workdir       a run read back; evaluation, diagnostics, curves, benchmark: tools on top.
  human_scores  human and random Atari-57 scores for human-normalised scores.
  topdown_table section 4.1.1's table (Table 5 beside ours) and figures for docs/results.md.
  levels        multi-level runs (App. A.1.2): levels per actor, a pool per level, capped score.
"""
