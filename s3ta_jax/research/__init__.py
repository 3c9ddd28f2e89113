"""Research code: not part of the product, kept apart as big_vision keeps `proj/`.

Probes of the investigation into why the small S3TA agent stayed at random play on Breakout
(docs/notes/2026-12-0*-s3ta-learns*.md). They run from the repository root:

  python -m s3ta_jax.research.probe_optimizer   can an optimizer train the attention (Catch frames,
                                                supervised, no RL)?
  python -m s3ta_jax.research.probe_readout     can a torso learn ball - paddle x from real
                                                Breakout frames?

Nothing in `s3ta_jax`, `ram_jax`, `common` or `launch` imports this package. The agent options
the investigation added and no config or run record uses were removed from the product on
2026-12-07; docs/notes/2026-12-07-research-options-removed.md names them and the last commit
that has them.
"""
