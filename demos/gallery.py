"""Assemble tabs into one gr.Blocks and launch it (used by app.py, each Space and the tests)."""
from __future__ import annotations

import importlib
import os
from typing import Callable, Sequence

import gradio as gr

from core.apps import App, apps, get

MAX_QUEUE = 32  # waiting requests beyond this are refused at once rather than left hanging
MAX_UPLOAD = "50mb"
HEADER = """# 🖼️ GAN Gallery
Generative adversarial networks from the PaddleGAN course and model zoo, running on PaddlePaddle.
Every tab is also callable from Python with `gradio_client` (see “Use via API” at the bottom of the page)."""


def selected_apps(names: Sequence[str] | None = None) -> list[App]:
    return [get(n) for n in names] if names else apps()


def build_gallery(names: Sequence[str] | None = None) -> gr.Blocks:
    """Every selected application as a tab (one application: no tab bar). Loads no weights."""
    chosen = selected_apps(names)
    # Tabs are built outside the parent and rendered inside: building inside and
    # rendering would show each tab twice (Gradio 6).
    tabs = [(app, importlib.import_module(app.demo).build()) for app in chosen]
    title = "GAN Gallery" if len(chosen) > 1 else f"{chosen[0].title} · GAN Gallery"
    with gr.Blocks(title=title, delete_cache=(3600, 3600)) as gallery:
        gr.Markdown(HEADER if len(chosen) > 1 else f"# {chosen[0].emoji} {chosen[0].title} · GAN Gallery", elem_id="gallery-header")
        if len(tabs) == 1:
            tabs[0][1].render()
        else:
            with gr.Tabs():
                for app, blocks in tabs:
                    with gr.Tab(app.title, id=app.name, elem_id=f"tab-{app.name}"):
                        blocks.render()
    gallery.queue(max_size=MAX_QUEUE, default_concurrency_limit=max(2, (os.cpu_count() or 2)))
    return gallery


def launch(
    names: Sequence[str] | None = None,
    host: str | None = None,
    port: int | None = None,
    share: bool = False,
    build_blocks: Callable[[], gr.Blocks] | None = None,
    **kwargs,
):
    """Build and serve; returns what ``Blocks.launch`` returns.

    host/port None: Gradio reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (127.0.0.1:7860 by default).
    """
    from core.runtime import init_paddle

    init_paddle()  # on the main thread, before any request thread touches Paddle
    blocks = build_blocks() if build_blocks else build_gallery(names)
    if build_blocks:
        blocks.queue(max_size=MAX_QUEUE)
    return blocks.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=MAX_UPLOAD,
        theme=gr.themes.Soft(),
        footer_links=["api", "gradio"],
        **kwargs,
    )
