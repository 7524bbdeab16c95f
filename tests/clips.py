"""Small test videos made with the ffmpeg that ships in imageio-ffmpeg (no files committed)."""
import subprocess
from pathlib import Path

from core.media import ffmpeg_exe


def make_clip(path: Path, width: int, height: int, fps, seconds: float, audio: bool = True) -> Path:
    """An H.264 test pattern of `seconds` at `fps`, with a 300 Hz tone (AAC) when `audio`."""
    command = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=300:duration={seconds}", "-c:a", "aac", "-shortest"]
    command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True)
    return Path(path)
