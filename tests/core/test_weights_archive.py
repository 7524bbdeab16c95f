"""core.weights: checkpoints published as archives in another format (``WeightSpec.archive``).

An archive of static-graph persistables (PaddleCV/gan's format: one file per variable, named by the
library) is served from 127.0.0.1 by the fixtures of test_weights.py; the tiny wgan_mnist stands in
for the network, its variables renamed by a tiny name table. The download must leave the converted
``.pdparams`` (loading strictly, giving the same outputs) and nothing else; a hostile or wrong
archive must leave nothing at all and say what was wrong.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile

import numpy as np
import paddle
import pytest

from core import models, weights
from core.errors import WeightsUnavailable
from core.importers.paddle_persistables import write_variable
from core.registry import PublishedArchive
from tests.core.test_weights import (  # noqa: F401  (fixtures: used by name)
    TINY,
    dirs,
    go_online,
    isolated_registry,
    loopback_only,
    register,
    server,
    spec_for,
    tiny_net,
)

MEMBER = "tiny_G"


def tiny_table() -> dict[str, str]:
    """{library name: our name} in the PaddleCV/gan style: a scope prefix, underscores for dots."""
    return {f"gen_{name.replace('.', '_')}": name for name in tiny_net().state_dict()}


def tiny_state(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    state = {}
    for name, tensor in tiny_net().state_dict().items():
        value = rng.standard_normal(tuple(tensor.shape)).astype("float32")
        state[name] = np.abs(value) + 0.5 if name.endswith("_variance") else value  # a variance is positive
    return state


# What a trainer's save_persistables leaves beside the generator: none of it may stop the conversion.
TRAINING_STATE = {
    "learning_rate_0": np.array([2e-4], "float32"),
    "@LR_DECAY_COUNTER@": np.array([4000], "int64"),
    "gen_l1_0_weight_moment1_0": np.zeros((8, 392), "float32"),
    "gen_l1_0_weight_beta1_pow_acc_0": np.array([0.5], "float32"),
    "gen_conv_blocks_9_tanh.tmp_0": np.zeros((1, 1, 28, 28), "float32"),
    "disc_c1_w": np.ones((4, 1, 3, 3), "float32"),  # the discriminator, outside the generator's scope
    "disc_c1_w_moment2_0": np.ones((4, 1, 3, 3), "float32"),
}


def library_files(state, extra=TRAINING_STATE, prefix=f"{MEMBER}/") -> dict[str, bytes]:
    """{path inside the archive: bytes}: each variable of `state` under its library name, then `extra`."""
    names = {ours: library for library, ours in tiny_table().items()}
    files = {f"{prefix}{names[name]}": write_variable(value) for name, value in state.items()}
    files.update({f"{prefix}{name}": write_variable(value) for name, value in extra.items()})
    return files


def tar_gz(files: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    """A .tar.gz of `files`, plus special `links` members {name: (tar type, target)}."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        folders = sorted({name.rsplit("/", 1)[0] for name in files if "/" in name})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            tar.addfile(info)
    return out.getvalue()


def archive_spec(url, **fields):
    fields.setdefault("net_overrides", dict(TINY))
    fields.setdefault("archive", PublishedArchive("paddle_persistables", MEMBER, f"{__name__}:tiny_table"))
    return spec_for(fields.pop("filename", "test_archive.pdparams"), url=url, **fields)


def outputs(net):
    paddle.seed(0)
    z = paddle.to_tensor(np.random.default_rng(5).standard_normal((2, TINY["latent_dim"])).astype("float32"))
    return net(z).numpy()


def net_with(state):
    net = tiny_net()
    weights.load_state_strict(net, state, "the test state")
    return net


def cache_listing():
    folder = weights.cache_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------- a good archive


def test_archive_download_converts_and_loads_strictly_with_identical_outputs(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    state = tiny_state(seed=1)
    body = tar_gz(library_files(state))
    s = register(archive_spec(server.serve_bytes("/tiny_G.tar.gz", body), sha256=hashlib.sha256(body).hexdigest()))

    path = weights.fetch(s)

    assert path == weights.cache_dir() / s.filename
    # Only the converted file and its digest record: the archive and its unpacked folder are gone.
    assert cache_listing() == [s.filename, s.filename + ".sha256"]
    record = json.loads(weights.digest_record_path(path).read_text())
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert s.url in record["source"] and hashlib.sha256(body).hexdigest() in record["source"]
    saved, layout = weights.read_checkpoint(path, s.key)
    assert layout == "flat state dict" and sorted(saved) == sorted(state)

    loaded = models.create("wgan_mnist", pretrained=s.name)
    for name, tensor in loaded.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), state[name], err_msg=name)
    np.testing.assert_array_equal(outputs(loaded), outputs(net_with(state)))
    # Found in the cache from now on: no second download, and the archive's pin is not held against
    # the converted file.
    assert weights.fetch(s) == path
    assert server.hits == ["/tiny_G.tar.gz"]


def test_cli_download_converts_an_archive(dirs, server, monkeypatch, capsys, register):
    go_online(monkeypatch)
    s = register(archive_spec(server.serve_bytes("/cli_G.tar.gz", tar_gz(library_files(tiny_state(2)))),
                              filename=f"test_archive_cli_{server.port}.pdparams"))

    assert weights.main(["download", s.name]) == 0

    out = capsys.readouterr().out
    assert f"{s.name}: converted from {s.url}" in out and f"{s.name}: {weights.cache_dir() / s.filename}" in out
    assert (weights.cache_dir() / s.filename).is_file()


def test_a_zip_with_the_variables_at_its_top_level_is_found_by_their_names(dirs, server, monkeypatch, register):
    """The inner layout of a published archive is not documented: a folder other than the declared member
    (here the archive's top level) is accepted when it is the one holding the network's variables."""
    go_online(monkeypatch)
    state = tiny_state(3)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in library_files(state, prefix="").items():
            zf.writestr(name, body)
    s = register(archive_spec(server.serve_bytes("/flat.zip", out.getvalue())))

    net = tiny_net()
    weights.load_into(net, s)

    np.testing.assert_array_equal(outputs(net), outputs(net_with(state)))


def test_a_nested_model_key_is_written_as_the_spec_says(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    s = register(archive_spec(server.serve_bytes("/keyed.tar.gz", tar_gz(library_files(tiny_state(4)))), key="netG"))

    path = weights.fetch(s)

    saved = weights.load_saved(path)
    assert list(saved) == ["netG"]
    weights.load_into(tiny_net(), s)


def test_the_offline_message_says_the_file_is_converted_from_the_archive(dirs, register):
    s = register(archive_spec("http://127.0.0.1:9/offline_G.tar.gz"))
    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(s)
    message = str(caught.value)
    assert "converted from the archive published at http://127.0.0.1:9/offline_G.tar.gz, in paddle_persistables format" in message
    assert message.endswith(f"python -m core.weights download {s.name}")


# ---------------------------------------------------------------- refused archives leave nothing


def refused(s, *expected):
    """fetch(s) fails naming every `expected` text, and leaves nothing in the cache."""
    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(s)
    message = str(caught.value)
    for text in expected:
        assert text in message, (text, message)
    assert cache_listing() == [], cache_listing()
    return message


@pytest.mark.parametrize("hostile, reason", [
    ({"../escaped": b"x"}, "climbs out of its folder"),
    ({f"{MEMBER}/../../escaped": b"x"}, "climbs out of its folder"),
    ({"/tmp/escaped_absolute": b"x"}, "has an absolute path"),
])
def test_a_member_outside_the_folder_is_refused(dirs, server, monkeypatch, register, hostile, reason):
    go_online(monkeypatch)
    files = {**library_files(tiny_state()), **hostile}
    s = register(archive_spec(server.serve_bytes("/hostile.tar.gz", tar_gz(files))))

    refused(s, reason, s.url)

    assert not (dirs / "escaped").exists() and not (weights.cache_dir().parent / "escaped").exists()


@pytest.mark.parametrize("kind, target, reason", [
    (tarfile.SYMTYPE, "/etc/passwd", "is a symbolic link"),
    (tarfile.LNKTYPE, f"{MEMBER}/learning_rate_0", "is a hard link"),
    (tarfile.CHRTYPE, "", "is a device"),
    (tarfile.FIFOTYPE, "", "is a pipe"),
])
def test_links_devices_and_pipes_are_refused(dirs, server, monkeypatch, register, kind, target, reason):
    go_online(monkeypatch)
    body = tar_gz(library_files(tiny_state()), links={f"{MEMBER}/gen_l1_0_bias_link": (kind, target)})
    s = register(archive_spec(server.serve_bytes("/links.tar.gz", body)))

    refused(s, reason, "only regular files and folders are unpacked")


def test_a_zip_symlink_is_refused(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in library_files(tiny_state()).items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo(f"{MEMBER}/sneaky")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    s = register(archive_spec(server.serve_bytes("/link.zip", out.getvalue())))

    refused(s, "'tiny_G/sneaky' is a symbolic link")


def test_an_archive_that_unpacks_past_the_cap_is_refused(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    files = {**library_files(tiny_state()), f"{MEMBER}/huge": bytes(3_000_000)}  # zeros: a few kB packed
    body = tar_gz(files)
    assert len(body) < 100_000
    s = register(archive_spec(server.serve_bytes("/bomb.tar.gz", body), max_bytes=1_000_000))

    refused(s, "unpacks to more than 1,000,000 bytes", "'tiny_G/huge'")


def test_an_archive_over_the_download_cap_is_refused_before_unpacking(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    body = tar_gz(library_files(tiny_state()))
    s = register(archive_spec(server.serve_bytes("/big.tar.gz", body), max_bytes=len(body) - 1))

    refused(s, "over the cap")


def test_a_wrong_archive_digest_is_refused(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    s = register(archive_spec(server.serve_bytes("/pinned.tar.gz", tar_gz(library_files(tiny_state()))), sha256="0" * 64))

    refused(s, "/pinned.tar.gz has sha256")


def test_something_that_is_no_archive_is_refused(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    s = register(archive_spec(server.serve_bytes("/not.tar.gz", b"\x89PNG\r\n\x1a\n" + bytes(100))))

    refused(s, "neither a tar nor a zip archive")


def test_a_damaged_archive_is_refused(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    body = tar_gz(library_files(tiny_state()))
    s = register(archive_spec(server.serve_bytes("/cut.tar.gz", body[: len(body) // 2])))

    refused(s, "damaged")


# ---------------------------------------------------------------- archives that do not fit the network


def test_a_variable_missing_from_the_archive_is_named(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    files = library_files(tiny_state())
    del files[f"{MEMBER}/gen_conv_blocks_6_weight"]
    s = register(archive_spec(server.serve_bytes("/missing.tar.gz", tar_gz(files))))

    refused(s, "1 missing: gen_conv_blocks_6_weight", "could not be converted")


def test_an_unknown_variable_in_the_network_scope_is_named(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    files = {**library_files(tiny_state()), f"{MEMBER}/gen_conv_blocks_42_weight": write_variable(np.zeros(3, "float32"))}
    s = register(archive_spec(server.serve_bytes("/extra.tar.gz", tar_gz(files))))

    refused(s, "1 unexpected: gen_conv_blocks_42_weight")


def test_a_variable_of_the_wrong_shape_is_named_by_the_strict_load(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    state = tiny_state()
    state["l1.0.weight"] = np.zeros((8, 391), "float32")
    s = register(archive_spec(server.serve_bytes("/shape.tar.gz", tar_gz(library_files(state)))))

    refused(s, "l1.0.weight [8, 391] (network expects [8, 392])")


def test_a_truncated_variable_file_is_named(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    files = library_files(tiny_state())
    files[f"{MEMBER}/gen_l1_0_bias"] = files[f"{MEMBER}/gen_l1_0_bias"][:-7]
    s = register(archive_spec(server.serve_bytes("/truncated.tar.gz", tar_gz(files))))

    refused(s, "variable 'gen_l1_0_bias'", "truncated")


def test_an_archive_without_the_network_variables_lists_what_it_holds(dirs, server, monkeypatch, register):
    go_online(monkeypatch)
    s = register(archive_spec(server.serve_bytes("/other.tar.gz", tar_gz({"net_D/disc_c1_w": write_variable(np.ones(2, "float32"))}))))

    refused(s, "has no 'tiny_G'", "net_D/")
