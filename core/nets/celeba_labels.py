"""CelebA's attribute labels as PaddleCV/gan's StarGAN, AttGAN and STGAN use them (numpy only).

The networks (``core.nets.stargan``, ``core.nets.attgan``) need paddle; these conventions do not, so the
gallery's pages, built in the web server's process, name the attributes without importing paddle.
Facts read from PaddlePaddle/models ``PaddleCV/gan`` (``infer.py``, ``trainer/*.py``, ``util/utility.py``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# The published model's attributes, in the order of its label vector (scripts/infer_stargan.sh).
STARGAN_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")

# The published models' attributes, in the order of their condition vectors (infer.py --selected_attrs).
CELEBA_ATTRIBUTES = (
    "Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Bushy_Eyebrows", "Eyeglasses", "Male",
    "Mouth_Slightly_Open", "Mustache", "No_Beard", "Pale_Skin", "Young",
)

THRES_INT = 0.5  # trainers' --thres_int: a 0/1 label becomes -0.5 / +0.5
TEST_INT = 1.0  # infer.py's AttGAN edit: the edited attribute doubled, +-1.0

# util/utility.check_attribute_conflict (after AttGAN-Tensorflow): switching one of these clears the others.
_HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
_HAIR_SHAPES = ("Straight_Hair", "Wavy_Hair")


def flip_attribute(labels, attribute: str, attributes: Sequence[str]) -> np.ndarray:
    """The target labels ``infer.py`` gives the generator to edit `attribute`: a copy of the 0/1
    `labels` ([N, len(attributes)] or [len(attributes)]) with that column flipped (``1 - x``), then the
    attributes it conflicts with set to 0 (``util/utility.check_attribute_conflict``: Bald or
    Receding_Hairline clears Bangs, Bangs clears both, a hair colour clears the other colours,
    Straight_Hair and Wavy_Hair clear each other). As in the library, the conflicts are cleared whether
    the attribute is switched on or off (its test compares the attribute's name with 0, which is always
    unequal)."""
    attributes = list(attributes)
    if attribute not in attributes:
        raise ValueError(f"unknown attribute {attribute!r}; the model knows {', '.join(attributes)}")
    target = np.array(labels, dtype=np.float32, copy=True)
    if target.shape[-1] != len(attributes):
        raise ValueError(f"labels have {target.shape[-1]} columns for {len(attributes)} attributes")
    column = attributes.index(attribute)
    target[..., column] = 1.0 - target[..., column]
    if attribute in ("Bald", "Receding_Hairline"):
        cleared = ("Bangs",)
    elif attribute == "Bangs":
        cleared = ("Bald", "Receding_Hairline")
    elif attribute in _HAIR_COLOURS:
        cleared = tuple(a for a in _HAIR_COLOURS if a != attribute)
    elif attribute in _HAIR_SHAPES:
        cleared = tuple(a for a in _HAIR_SHAPES if a != attribute)
    else:
        cleared = ()
    for other in cleared:
        if other in attributes:
            target[..., attributes.index(other)] = 0.0
    return target


def attribute_condition(labels, thres_int: float = THRES_INT, edited: Sequence[int] = (), test_int: float = TEST_INT) -> np.ndarray:
    """0/1 `labels` [..., c_dim] as the generators' condition: ``(2 * label - 1) * thres_int``, and
    ``(2 * label - 1) * test_int`` in the `edited` columns (the edit's intensity).

    AttGAN as ``infer.py`` runs it: ``attribute_condition(flip_attribute(labels, name, attrs),
    edited=[attrs.index(name)])`` (test_int 1.0 is its doubling of thres_int 0.5); a larger or smaller
    test_int strengthens or weakens the edit, a negative one reverses it.
    """
    labels = np.asarray(labels, dtype=np.float32)
    condition = (labels * 2.0 - 1.0) * np.float32(thres_int)
    for column in edited:
        condition[..., column] = (labels[..., column] * 2.0 - 1.0) * np.float32(test_int)
    return condition.astype(np.float32)


def stgan_difference(source, target, thres_int: float = THRES_INT, edited: Sequence[int] = (), test_int: float | None = None) -> np.ndarray:
    """STGAN's condition: ``attribute_condition(target) - attribute_condition(source)``.

    As ``infer.py`` runs it (edited empty, test_int None): +-1 where target and source differ, 0
    elsewhere. With `edited` and `test_int`, the target's edited columns use test_int instead of
    thres_int, as STGAN's authors' test intensity does (test_int 1.0: +-1.5 where ``infer.py`` gives +-1).
    """
    target_condition = attribute_condition(target, thres_int, edited if test_int is not None else (),
                                           test_int if test_int is not None else thres_int)
    return (target_condition - attribute_condition(source, thres_int)).astype(np.float32)
