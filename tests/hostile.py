"""Hostile uploads for tests: manifests that point at other local files, and a watch that proves they stay unopened."""
import ctypes
import os
import struct
from pathlib import Path

import pytest

from tests.clips import ffmpeg, make_clip


class FileWatch:
    """Linux inotify on one file: `events()` lists the open/access events since the last call.

    ctypes on libc's inotify_init1/inotify_add_watch; the descriptor is
    non-blocking, so reading with nothing queued means nothing happened.
    """

    IN_ACCESS, IN_OPEN = 0x1, 0x20
    _EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)

    def __init__(self, path):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            pytest.skip(f"inotify is unavailable here (errno {ctypes.get_errno()})")
        if libc.inotify_add_watch(self.fd, os.fsencode(str(path)), self.IN_OPEN | self.IN_ACCESS) < 0:
            os.close(self.fd)
            pytest.skip(f"inotify can't watch {path} (errno {ctypes.get_errno()})")

    def events(self):
        masks = []
        while True:
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                return masks
            offset = 0
            while offset < len(data):
                _, mask, _, length = self._EVENT.unpack_from(data, offset)
                masks.append(mask)
                offset += self._EVENT.size + length

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        os.close(self.fd)


def write_manifests(folder: Path) -> dict:
    """Media files that stand for other people's uploads (the canaries), and manifests named like
    videos pointing at them: {kind: (manifest path, canary path)} for dash, hls, hls-named-mp4, ffconcat."""
    mp4 = make_clip(folder / "canary.mp4", 64, 48, 25, 1)
    ts = folder / "canary.ts"
    ffmpeg("-i", str(mp4), "-c", "copy", "-f", "mpegts", str(ts))
    dash = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT1S"'
        ' minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">\n'
        ' <Period>\n  <AdaptationSet mimeType="video/mp4">\n'
        '   <Representation id="0" bandwidth="100000" width="64" height="48" codecs="avc1.64000a">\n'
        f'    <BaseURL>file://{mp4}</BaseURL>\n'
        '   </Representation>\n  </AdaptationSet>\n </Period>\n</MPD>\n'
    )
    hls = f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{ts}\n#EXT-X-ENDLIST\n"
    manifests = {
        "dash": (folder / "dash.mp4", dash, mp4),
        "hls": (folder / "playlist.m3u8", hls, ts),  # ffmpeg detects HLS by name and content
        "hls-named-mp4": (folder / "playlist.mp4", hls, ts),
        "ffconcat": (folder / "list.mp4", "ffconcat version 1.0\nfile canary.mp4\n", mp4),
    }
    for path, text, _ in manifests.values():
        path.write_text(text)
    return {kind: (path, canary) for kind, (path, _, canary) in manifests.items()}
