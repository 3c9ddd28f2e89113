"""Section 4.1.1 of Mott et al. 2019 in `docs/results.md`: top-down S3TA against the bottom-up
ablations (`fixed_query`, `l2_keys`) and the LSTM baseline, per game, beside the paper's Table 5,
and one figure per game of every seed's curve, redrawn from the run records each time (so it
never shows a superseded run).
"""
from __future__ import annotations

import os

from common import run_records
from s3ta_jax.impala import curves, human_scores

# Table 5: final human-normalised scores (%) after 2e9 frames; the paper has no Breakout row.
TABLE5 = {"amidar": {"fixed_query": 225.7, "l2_keys": 547.5, "s3ta": 903.6},
          "asteroids": {"fixed_query": 88.0, "l2_keys": 126.4, "s3ta": 541.1},
          "berzerk": {"fixed_query": 285.3, "l2_keys": 334.1, "s3ta": 1153.9},
          "enduro": {"fixed_query": 274.8, "l2_keys": 274.5, "s3ta": 274.7},
          "ms_pacman": {"fixed_query": 198.4, "l2_keys": 199.6, "s3ta": 414.3},
          "seaquest": {"fixed_query": 1435.9, "l2_keys": 49.4, "s3ta": 28.2},
          "space_invaders": {"fixed_query": 1798.1, "l2_keys": 2395.2, "s3ta": 3512.8}}
KINDS = {"s3ta": "S3TA (top-down)", "fixed_query": "fixed query", "l2_keys": "L2-norm keys",
         "lstm": "ResNet-LSTM baseline"}


def lines(records_dir: str) -> list[str]:
  """The section, from the `atari_<game>_small_<kind>[_seedN].json` records of every game that
  has S3TA and a bottom-up ablation; figures go to `figures/impala/<game>_small_compare.png`
  beside `records_dir`."""
  docs_dir = os.path.dirname(os.path.abspath(records_dir))
  games = {game: kinds for game, kinds in run_records.small_runs(
      run_records.read_records(records_dir, "atari_run", prefix="atari_")).items()
           if "s3ta" in kinds and ({"fixed_query", "l2_keys"} & set(kinds))}
  if not games:
    return []
  out = ["", "# Top-down against bottom-up attention (section 4.1.1, Table 5)", "",
         "Per game, each agent's mean return of the last 100 games at the end of its runs, "
         "averaged over seeds, and that mean human-normalised ((score - random) / (human - "
         "random)). The paper's Table 5 is after 2e9 frames: the top-down agent clearly ahead on 6 "
         "of its 7 games (not Seaquest), median 541.1% against 274.7% (fixed query) and 274.5% "
         "(L2-norm keys). Ours are after the CPU budget, each run with the settings of its "
         "command (rows of the table above).", "",
         "| game | agent | ours: mean return (seeds: final returns) | ours: human-normalised | "
         "frames | paper, Table 5 |", "|---|---|---|---|---|---|"]
  figures = []
  for game, kinds in sorted(games.items()):
    env = kinds["s3ta"][0]["env"]
    paper = TABLE5.get(human_scores.game_key(env) or "", {})
    figure = os.path.join("figures", "impala", f"{game}_small_compare.png")
    runs, styles = [], []  # One colour per agent, one line style per seed.
    for colour, (kind, label) in enumerate(KINDS.items()):
      seeds = sorted(kinds.get(kind, []), key=lambda r: r.get("seed") or 0)
      if not seeds:
        continue
      mean = sum(r["value"] for r in seeds) / len(seeds)
      hns = human_scores.human_normalized(env, mean)
      finals = ", ".join(f"{r['value']:.1f}" for r in seeds)
      out.append(f"| {env} | {label} | {mean:.2f} ({len(seeds)}: {finals}) | "
                 f"{'—' if hns is None else f'{100 * hns:.1f}%'} | "
                 f"{min(r['frames'] for r in seeds) / 1e6:.2f}M | "
                 f"{f'{paper[kind]:g}%' if kind in paper else '—'} |")
      for i, r in enumerate(seeds):
        runs.append((f"{label}, seed {r.get('seed') or 0}", curve_points(r)))
        styles.append(dict(color=f"C{colour}", linestyle=("-", "--", ":", "-.")[i % 4]))
    curves.plot_compare(runs, f"{env}: top-down S3TA, bottom-up ablations, LSTM baseline",
                        os.path.join(docs_dir, figure), styles=styles)
    figures.append(f"[{os.path.basename(figure)}]({figure})")
  return out + ["", "Every seed's curve, one figure per game: " + ", ".join(figures) + "."]


def curve_points(record: dict) -> list[dict]:
  """A record's curve ([frames, mean return, seconds] every ~100k frames) as the progress lines
  `curves.plot_compare` draws."""
  return [dict(step=p[0], return_mean=p[1]) for p in record["curve"]]
