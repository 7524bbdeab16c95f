"""Exceptions whose messages are written for the person using the gallery.

`demos` turns every `GalleryError` into a `gr.Error` with the same text; anything
else is a bug and reaches the user only as a generic message.
"""


class GalleryError(Exception):
    """Base class: `str(error)` is a complete sentence a user can act on."""


class InputError(GalleryError):
    """The input cannot be used: wrong type, corrupt, out of range."""


class LimitExceeded(InputError):
    """The input is valid but larger or longer than this application accepts."""


class NoFaceFound(InputError):
    """A face application found no face in the input."""


class WeightsUnavailable(GalleryError):
    """A checkpoint file could not be found locally nor fetched from any source."""


class CheckpointMismatch(GalleryError):
    """A checkpoint file does not fit the network (missing, extra or mis-shaped parameters)."""


class UnsafeCheckpoint(CheckpointMismatch):
    """A pickled checkpoint names code beyond what a tensor state dict needs; it is refused unrun."""
