"""The population's history in one figure: fitness and each evolved hyper-parameter against
frames, one line per member, an exploit drawn as a jump from the donor's point."""
from __future__ import annotations

import collections
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position


def plot_population(lineage: list[dict], evolved: list[str], path: str) -> str:
  """Draws `lineage` (lineage.jsonl's entries, in the order written) to `path`; returns it. A
  member's line breaks where it exploited: its next stretch starts at the donor's report whose
  parameters it took (same digest)."""
  by_member = collections.defaultdict(list)
  for entry in lineage:
    by_member[entry["member"]].append(entry)
  by_params = {e["params"]: e for e in lineage}
  panels = ["fitness", *evolved]
  fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.0 * len(panels)), sharex=True)
  for index, (name, entries) in enumerate(sorted(by_member.items())):
    color = f"C{index % 10}"
    stretches = [[]]
    for e in entries:
      if "exploited" in e:
        stretches.append([])
      stretches[-1].append(e)
    for ax, panel in zip(axes, panels):
      value = (lambda e: e["fitness"]) if panel == "fitness" else (lambda e: e["values"][panel])
      for number, stretch in enumerate(s for s in stretches if s):
        ax.plot([e["frames"] for e in stretch], [value(e) for e in stretch], color=color,
                marker=".", label=str(name) if panel == "fitness" and not number
                else None)
        donor = by_params.get(stretch[0].get("donor_params"))
        if donor is not None:
          ax.plot([donor["frames"], stretch[0]["frames"]], [value(donor), value(stretch[0])],
                  color=color, linestyle=":", linewidth=1)
  for ax, panel in zip(axes, panels):
    ax.set_ylabel(panel)
    if panel != "fitness":
      ax.set_yscale("log")
  axes[0].legend(title="member", fontsize=7, ncol=4)
  axes[0].set_title("population: fitness and evolved values (dotted: an exploit from its donor)")
  axes[-1].set_xlabel("frames")
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
