"""Input components that answer malformed API arguments with a message naming the field and its limit.

Gradio's own components turn ``None`` or ``"abc"`` for a number into a generic
"upstream app raised an exception", and ``gr.Image`` decodes (and for
``data:`` URLs re-encodes) every upload before the app's limits apply. These
subclasses keep Gradio's look and API and change only ``preprocess``:

- ``Number`` and ``Slider``: a missing value, text, or a value out of range is
  refused with ``"<label> must be a number from A to B; got X."``;
- ``ImageFile``: hands the handler the uploaded file's path untouched (decoded
  later, in a worker, by ``core.media`` with the app's pixel limit); a
  ``data:`` URL is refused above ``MAX_DATA_URL_BYTES`` before decoding and
  otherwise written out byte for byte;
- ``Dropdown`` and ``Radio``: Gradio's refusal of an unknown choice, prefixed with the field.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import gradio as gr

from demos.common import user_error
from gradio_client import utils as client_utils

# A data: URL image (base64) larger than this is refused before it is decoded.
MAX_DATA_URL_BYTES = int(os.environ.get("GAN_GALLERY_MAX_DATA_URL_BYTES", str(2 << 20)))


def _bound(value) -> str:
    if value is None:
        return "any"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _checked_number(component, payload):
    label = component.label or "This value"
    low, high = component.minimum, component.maximum
    wanted = f"a number from {_bound(low)} to {_bound(high)}" if low is not None or high is not None else "a number"
    if payload is None or isinstance(payload, bool):
        raise user_error(f"{label} must be {wanted}; none was given.")
    try:
        value = float(payload)
    except (TypeError, ValueError):
        raise user_error(f"{label} must be {wanted}; got {str(payload)[:40]!r}.") from None
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        raise user_error(f"{label} must be {wanted}; got {str(payload)[:40]}.")
    return value


class Number(gr.Number):
    def preprocess(self, payload):
        value = _checked_number(self, payload)
        if self.precision == 0 and not value.is_integer():
            raise user_error(f"{self.label or 'This value'} must be a whole number; got {payload!r}.")
        return super().preprocess(value)


class Slider(gr.Slider):
    def preprocess(self, payload):
        value = _checked_number(self, payload)
        if self.step and float(self.step).is_integer() and not value.is_integer():
            raise user_error(f"{self.label or 'This value'} must be a whole number; got {payload!r}.")
        return super().preprocess(value)


class _NamedChoice:
    """Gradio's own refusal of a value outside the choices, prefixed with the field's label."""

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except gr.Error as error:
            raise user_error(f"{self.label or 'This choice'}: {error.message}") from None


class Dropdown(_NamedChoice, gr.Dropdown):
    pass


class Radio(_NamedChoice, gr.Radio):
    pass


class ImageFile(gr.Image):
    """``gr.Image`` whose handler receives the uploaded file's path, undecoded (``type`` is always filepath)."""

    def __init__(self, *args, **kwargs):
        kwargs["type"] = "filepath"
        super().__init__(*args, **kwargs)

    # The browser draws it as Gradio's own image input: Gradio names a component's front end after
    # its class and reads its properties from its class's __init__ signature, which here is (*args,
    # **kwargs) — asked for as "imagefile", the page got a 404 and the upload box stayed "Loading...".
    def get_block_name(self) -> str:
        return "image"

    def get_config(self, cls=None):
        return super().get_config(cls or gr.Image)

    def preprocess(self, payload):
        if payload is None:
            return None
        label = self.label or "The image"
        if payload.url and payload.url.startswith("data:"):
            return self._save_data_url(payload.url, label)
        if payload.path is None:
            raise user_error(f"{label}: no file was received.")
        return str(payload.path)

    def _save_data_url(self, url: str, label: str) -> str:
        # Base64 carries 3 bytes in 4 characters: refuse by the text's length, before decoding.
        size = len(url) * 3 // 4
        if size > MAX_DATA_URL_BYTES:
            raise user_error(
                f"{label}: the data: URL holds about {size / 1e6:.1f} MB; the limit is "
                f"{MAX_DATA_URL_BYTES / 1e6:.1f} MB. Upload the file instead."
            )
        try:
            data, _ = client_utils.decode_base64_to_binary(url)
        except Exception:  # noqa: BLE001 - any malformed data: URL
            raise user_error(f"{label}: the data: URL isn't valid base64 data.") from None
        extension = client_utils.get_extension(url) or "bin"
        folder = Path(self.GRADIO_CACHE) / hashlib.sha256(data).hexdigest()[:32]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"image.{extension[:8]}"
        path.write_bytes(data)
        return str(path)


def precision_radio(elem_id: str) -> Radio:
    """The fast path's precision for a tab's requests: exact fp32 (the default) or bf16, faster and
    slightly less exact where the CPU has bf16 instructions (elsewhere a bf16 request is refused by name)."""
    from core import runtime

    supported = runtime.bf16_supported()
    info = (f"bf16 runs the network in bfloat16 through oneDNN; its output stays within "
            f"{runtime.BF16_MIN_PSNR_DB:.0f} dB PSNR of fp32's, or fp32 runs instead." if supported else
            "bf16 needs a CPU with AVX512-BF16 or AMX-BF16 instructions; this machine runs fp32 only.")
    return Radio([(label, name) for name, label in runtime.PRECISIONS.items()], value=runtime.default_precision(),
                 label="Precision", info=info, elem_id=elem_id)
