"""Run by tests/core/test_train_pggan.py under ``paddle.distributed.launch``: train PGGAN a few steps
data-parallel (through 8x8's fade) and save this rank's weights, so the test can compare them with one process."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.runtime import configure_process  # noqa: E402

configure_process()

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from core.train.pggan import PGGANConfig, PGGANTrainer  # noqa: E402

out = Path(sys.argv[1])
paddle.distributed.init_parallel_env()
rank, size = paddle.distributed.get_rank(), paddle.distributed.get_world_size()
config = PGGANConfig(steps=10, stage_images=32, batch_size=8, latent_dim=16, channels=(8, 8, 4, 4), minibatch_std=0, ema=0.0, seed=5)
trainer = PGGANTrainer(config, world=(rank, size))
history = list(trainer.run())
weights = {**{f"G.{k}": v.numpy() for k, v in trainer.g.state_dict().items()},
           **{f"D.{k}": v.numpy() for k, v in trainer.d.state_dict().items()}}
np.savez(out / f"rank{rank}.npz", size=size, losses=[[e.loss_d, e.loss_g] for e in history], **weights)
