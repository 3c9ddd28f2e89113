"""Population based training settings (`python -m launch.pbt --pbt=configs/pbt.py[:VARIANT]`).

Default: the paper's (App. A.1.2): a population of 16 evolving the learning rate, entropy cost,
RMSProp epsilon and gradient-clipping threshold, evolving only after 2e7 frames. Variants:
  cpu   a population of 4 on this CPU's budget (the 3-level result in docs/results.md).
  test  two members reporting every 160 frames (tests/test_pbt.py).
"""
import ml_collections

from s3ta_jax.impala.pbt import EVOLVED


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.population = 16
  c.evolved = EVOLVED
  c.burn_in_frames = int(2e7)   # "let the agent train for 2e7 frames before beginning evolution".
  # Frames between a member's fitness reports (and possible exploits); the paper does not say,
  # IMPALA's PBT (Espeholt et al. 2018) does not either: 1e7 is a twentieth of a 2e8-frame run.
  c.ready_frames = int(1e7)
  c.perturbation_factors = (1.2, 0.8)  # Jaderberg et al. 2017's explore.
  c.quantile_fraction = 0.25    # The bottom quarter copies the top quarter.
  c.resample_probability = 0.0  # Explore only by the factors: values stay near the experts'.
  c.cpus_per_member = 1.0
  c.max_failures = 3            # Restarts of a member whose process dies.
  c.ray_address = ""            # "" starts a local Ray; "auto" or HOST:PORT joins a cluster.
  if arg == "cpu":
    # 4e5 frames a member (--config.total_frames=400000) is ~25 min of this CPU per population,
    # long before any member plays well. Ray's asynchronous PBT lets a member copy only a donor
    # that was in the top quantile at its own last report; reporting every 1e5 frames with the
    # bottom quarter copying the top, no member of the first such population ever did. So: a
    # report every 5e4 frames after 2e5, the bottom half copying the top half.
    c.population = 4
    c.burn_in_frames = int(2e5)
    c.ready_frames = int(5e4)
    c.quantile_fraction = 0.5
  elif arg == "test":
    c.population = 2
    c.burn_in_frames = 0
    c.ready_frames = 160
    c.quantile_fraction = 0.5
  elif arg:
    raise ValueError(f"unknown variant {arg!r}: use '', 'cpu' or 'test'")
  return c
