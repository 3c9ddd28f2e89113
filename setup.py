"""ram-s3ta-jax: RAM (Mnih et al. 2014) and S3TA (Mott et al. 2019) in JAX."""
import setuptools

setuptools.setup(
    name="ram-s3ta-jax",
    version="0.1.0",
    description="Recurrent visual attention (RAM) and soft spatial top-down attention (S3TA) in JAX.",
    packages=setuptools.find_packages(include=["common*", "ram_jax*", "s3ta_jax*", "launch*", "configs*"]),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.4.30",
        "flax>=0.8",
        "optax",
        "rlax",  # V-trace and policy-gradient losses.
        "chex",
        "envpool",  # Batched C++ Atari actors; ships the ROMs, so nothing is downloaded.
        "tensorflow-datasets",  # ImageNet via tfds.data_source (no TF), MNIST fallback, mock data.
        "grain",  # Classifier input pipelines: sharded, checkpointable, multi-worker, no TF.
        "ml-collections",
        "orbax-checkpoint",
        "absl-py",
        "numpy",
        "matplotlib",  # Learning curves, glimpse-path and attention figures (PNG).
        "pillow",  # Animated GIFs of agents and attention maps.
        "tensorboardX",  # TensorBoard event files without TensorFlow (every training launch).
    ],
    extras_require={
        # MP4 attention videos (launch.visualize_s3ta); imageio-ffmpeg ships its own ffmpeg, so
        # nothing is needed from the system. Without it the video is written as a GIF.
        "video": ["imageio", "imageio-ffmpeg"],
        # Only to prepare ImageNet once (launch.prepare_imagenet): tfds's imagenet2012 builder reads
        # the ILSVRC2012 tars with TensorFlow. Training and the tests never import it.
        "prepare": ["tensorflow-cpu"],
        # Decoding Kinetics clips once (launch.prepare_kinetics); training reads JPEG frames.
        "kinetics": ["av"],
        # Population based training (launch.pbt): Ray Tune's PopulationBasedTraining runs the
        # members, restarts dead ones and resumes a killed population; a local Ray by default,
        # a Ray cluster for many hosts.
        "pbt": ["ray[tune]"],
        "dev": [
            "av",  # The Kinetics builder tests write and decode tiny MP4 files.
            "ray[tune]",  # tests/test_pbt.py runs a population of two on a local Ray.
            "pytest",
            "pytest-xdist",  # Two workers halve CI wall time on the 2-core machine.
        ],
    },
)
