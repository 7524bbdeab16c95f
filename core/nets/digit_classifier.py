"""A small CNN that recognises 28x28 digits: the judge of our digit GANs' samples."""
from __future__ import annotations

import paddle.nn as nn

from core.registry import architecture


class DigitClassifier(nn.Layer):
    def __init__(self, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2D(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2),
            nn.Conv2D(width, width * 2, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Sequential(nn.Linear(width * 2 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, images):
        """images: (N, 1, 28, 28) in [-1, 1] (the generators' range); returns logits (N, 10)."""
        features = self.features(images)
        return self.head(self.dropout(features.reshape([features.shape[0], -1])))


@architecture("digits_classifier", "28x28 digit classifier (judges generated digits)", default_weights="digits_classifier.mnist_5k")
def digits_classifier(width=32):
    return DigitClassifier(width)
