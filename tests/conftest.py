"""Test-wide setup. Two virtual CPU devices, so data-parallel code is exercised for real.

XLA reads this flag once, when JAX first starts, so it is set here before any test imports jax.
"""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
