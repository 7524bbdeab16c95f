"""One tab per application. No model code here: each tab calls core.apps and maps core's errors to gr.Error.

Importing this package first makes ``import gradio`` about 1.5-2 s quicker (see ``_WithoutStubRewriting``).
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

GRADIO_STUB_WRITER = "gradio.component_meta"


def _no_stub_rewriting(*args, **kwargs) -> None:
    """Stands in for gradio's ``create_or_modify_pyi``: leaves the installed ``.pyi`` files as they are."""


class _WithoutStubRewriting(importlib.abc.MetaPathFinder):
    """Gradio 6 rewrites the ``.pyi`` type stub of every component each time its class is defined, that is on
    every ``import gradio``: it reads and parses each component's source twice, 1.5-2 s of the 3-4 s the import
    takes on this machine, before a server can listen. The stubs are for type checkers reading gradio's own
    files (the wheel ships them); pages and the API never read them. So when ``gradio.component_meta`` is
    loaded, before any component class exists, its stub writer is replaced by a function that does nothing."""

    def find_spec(self, name, path, target=None):
        if name != GRADIO_STUB_WRITER:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            module.create_or_modify_pyi = _no_stub_rewriting

        spec.loader.exec_module = exec_module
        return spec


if GRADIO_STUB_WRITER not in sys.modules:
    sys.meta_path.insert(0, _WithoutStubRewriting())
