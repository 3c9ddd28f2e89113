"""IMPALA actor–learner (Espeholt et al. 2018) in the Sebulba style, as used by S3TA (Mott et al. 2019, §4.1, App. A.1.1).

Modules, one job each:
  envs        — batched async environments behind one interface: envpool Atari and a rendered Catch.
  actor       — actor threads: policy inference per env batch, fixed-length unrolls into a bounded queue.
  learner     — V-trace / policy-gradient / baseline / entropy loss and the data-parallel update step.
  agents      — builds the agent (s3ta_jax.agent or the tiny stand-in) behind one small interface.
  tiny_agent  — a minimal conv+LSTM agent with the agent.py interface, for fast tests and CPU checks.
  system      — wiring: parameter broadcast, actor supervision, the training loop, checkpoints.
  human_scores— human and random Atari-57 scores for human-normalised scores.
"""
