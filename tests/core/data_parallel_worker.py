"""Run by tests/core/test_train_gan.py under ``paddle.distributed.launch``: train a few steps
data-parallel and save this rank's trainable weights and noise, so the test can compare ranks."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.runtime import configure_process  # noqa: E402

configure_process()

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from core.train.gan import TrainConfig, Trainer  # noqa: E402

objective, out = sys.argv[1], Path(sys.argv[2])
paddle.distributed.init_parallel_env()
rank, size = paddle.distributed.get_rank(), paddle.distributed.get_world_size()
trainer = Trainer(TrainConfig(objective=objective, steps=3, batch_size=16, ngf=8, ndf=8, latent_dim=16, seed=5), world=(rank, size))

def trainable(net, prefix):  # batch norm's running statistics are per rank, by design
    return {f"{prefix}.{k}": v.numpy().copy() for k, v in net.named_parameters() if not v.stop_gradient}


start = trainable(trainer.g, "G")
history = list(trainer.run())
z, _ = trainer._noise(salt=1000)
weights = {**trainable(trainer.g, "G"), **trainable(trainer.d, "D")}
np.savez(out / f"rank{rank}.npz", size=size, z=z.numpy(), losses=[[e.loss_d, e.loss_g] for e in history],
         moved=max(float(np.abs(weights[k] - start[k]).max()) for k in start), **weights)
