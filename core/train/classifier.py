"""Train the digit classifier that scores generated digits.

    python -m core.train.classifier [--epochs 12] [--out assets/weights/digits_classifier.pdparams]

The last 50 digits of each class are held out; the accuracy on them is printed
and written next to the weights.
"""
from core.runtime import configure_process

configure_process()

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from core.train.data import load_digits  # noqa: E402

HELD_OUT_PER_CLASS = 50


def split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held out): the last HELD_OUT_PER_CLASS digits of every class are held out."""
    held = np.concatenate([np.flatnonzero(labels == c)[-HELD_OUT_PER_CLASS:] for c in range(10)])
    train = np.setdiff1d(np.arange(len(labels)), held)
    return train, held


def to_input(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 127.5 - 1.0)[:, None]


def train(epochs: int = 12, seed: int = 0, data=None):
    images, labels = load_digits(data)
    train_idx, held_idx = split(labels)
    x, y = to_input(images), labels.astype(np.int64)
    model = fit(x, y, train_idx, epochs, seed)
    accuracy = float((predict(model, x[held_idx]).argmax(1) == y[held_idx]).mean())
    return model, accuracy


def fit(x: np.ndarray, y: np.ndarray, indices: np.ndarray, epochs: int, seed: int = 0):
    """The classifier trained on ``x[indices]`` ((N, 1, 28, 28) in [-1, 1]) and their int64 classes, in eval mode."""
    import paddle
    import paddle.nn.functional as F

    from core import nets

    paddle.seed(seed)
    model = nets.build("digits_classifier")
    model.train()
    optimizer = paddle.optimizer.Adam(learning_rate=1e-3, parameters=model.parameters())
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(indices)
        for start in range(0, len(order), 64):
            idx = order[start : start + 64]
            batch = x[idx]
            # Small random shifts make the judge robust to off-centre strokes.
            dy, dx = rng.integers(-2, 3, 2)
            batch = np.roll(batch, (int(dy), int(dx)), axis=(2, 3))
            loss = F.cross_entropy(model(paddle.to_tensor(batch)), paddle.to_tensor(y[idx]))
            optimizer.clear_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    return model


def predict(model, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N, 10) for images (N, 1, 28, 28) in [-1, 1]."""
    import paddle
    import paddle.nn.functional as F

    with paddle.no_grad():
        return np.concatenate(
            [F.softmax(model(paddle.to_tensor(images[i : i + 256])), axis=1).numpy() for i in range(0, len(images), 256)]
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.train.classifier")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="assets/weights/digits_classifier.pdparams")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model, accuracy = train(args.epochs, args.seed)
    from core.weights import save_checkpoint

    save_checkpoint({"classifier": model.state_dict()}, Path(args.out))
    print(f"held-out accuracy {accuracy:.4f} ({HELD_OUT_PER_CLASS * 10} digits); {time.perf_counter() - start:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
