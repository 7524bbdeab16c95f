"""Write stargan_G.json, attgan_G.json and stgan_G.json: the generator variables of PaddleCV/gan's published models.

PaddlePaddle/models' ``PaddleCV/gan`` (static graph, Paddle 1.x) names every variable itself: its
helpers in ``network/base_network.py`` pass ``name + "_w"`` / ``name + "_b"`` as a convolution's
weight and bias ParamAttr, and ``norm_layer`` (called with ``name + "_norm"``) names batch norm's
``_w``, ``_b``, ``_mean``, ``_var`` and instance norm's ``_scale``, ``_offset``. This script rebuilds
each generator as a static-graph program by those rules, with Paddle's own legacy static layers
(``paddle.static.nn.conv2d``, ``conv2d_transpose``, ``batch_norm``, ``instance_norm``: the successors
of the ``fluid.layers`` functions the library calls), following the library's network files step by
step (``network/StarGAN_network.py`` ``network_G``; ``network/AttGAN_network.py`` ``Genc`` and
``Gdec``; ``network/STGAN_network.py`` ``Genc``, ``GRU`` / ``gru_cell`` and ``Gdec``). The layout
is then read from the program: every persistable variable, its shape as Paddle computes it (so
``conv2d_transpose``'s ``[in, out, k, k]`` weight comes from Paddle, not from us), in creation order.
It does not import ``core``: the name tables in ``core/nets`` are checked against what it writes.
(The generators have no fully connected layer, whose fluid weight would be ``[in, out]``; only the
discriminators, left out here, use ``base_network.linear``.)

The same programs run: ``twin`` builds one at a small configuration, fills it with seeded values and
saves its variables, inputs and inference output, so a test can load those variables into our
network through its name table and compare the pictures (the library's inference builds the
generators with ``is_test=True``: batch norm on its moving statistics).

    python tests/paddlecv_layouts/derive_attribute_layouts.py            # rewrite the three JSON files
    python tests/paddlecv_layouts/derive_attribute_layouts.py --twin stgan --config '{"g_base_dims": 4}' --out twin.npz

The legacy static layers need the old static graph: under Paddle 3 this script sets
``FLAGS_enable_pir_api=0`` before it imports paddle (run it as its own process).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("FLAGS_enable_pir_api", "0")

import numpy as np  # noqa: E402
import paddle  # noqa: E402
from paddle.base.layer_helper import LayerHelper  # noqa: E402

HERE = Path(__file__).resolve().parent
warnings.filterwarnings("ignore", message=r"(?s).*is deprecated since")  # the legacy static layers under Paddle 3

# infer.py / the trainers' --selected_attrs; StarGAN's from scripts/infer_stargan.sh.
CELEBA_13 = ["Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Bushy_Eyebrows", "Eyeglasses", "Male",
             "Mouth_Slightly_Open", "Mustache", "No_Beard", "Pale_Skin", "Young"]
STARGAN_5 = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]

# The published models' arguments (infer.py's defaults and the infer scripts' flags).
PUBLISHED = {
    "stargan": {"image_size": 128, "c_dim": 5, "g_base_dims": 64, "repeat_num": 6},
    "attgan": {"image_size": 128, "c_dim": 13, "g_base_dims": 64, "n_layers": 5, "max_dim": 1024},
    "stgan": {"image_size": 128, "c_dim": 13, "g_base_dims": 64, "n_layers": 5, "gru_n_layers": 4, "max_dim": 1024,
              "use_gru": True},
}
MANIFESTS = {
    "stargan": {"name": "stargan_G", "source": "PaddleCV/gan network/StarGAN_network.py:StarGAN_model.network_G",
                "attributes": STARGAN_5},
    "attgan": {"name": "attgan_G", "source": "PaddleCV/gan network/AttGAN_network.py:AttGAN_model.network_G",
               "attributes": CELEBA_13},
    "stgan": {"name": "stgan_G", "source": "PaddleCV/gan network/STGAN_network.py:STGAN_model.network_G",
              "attributes": CELEBA_13},
}
# README's table of pretrained models; infer.py loads the variables from init_model + "/net_G".
URL = "https://paddle-gan-models.bj.bcebos.com/{}_G.tar.gz"
ARCHIVE_MEMBER = "net_G"
# The library's last state (the parent of 1a3c1f754, which removed PaddleCV/gan).
SOURCE_COMMIT = "0173b12c3974de44b0bdeb06802d6f27cb66dc65"
NOTES = ("The archive is the generator trainer's persistables (infer.py reads init_model + '/net_G'; the folder's "
         "place inside the archive is not documented): besides these variables it may hold the discriminator's, "
         "Adam's accumulators and the learning rate, which inference does not read.")


# ---------------------------------------------------------------- base_network.py's rules


def _same_padding(size: int, stride: int, kernel: int) -> int:
    """cal_padding: the 'SAME' padding; the library pads asymmetric cases by more and crops, which no
    layer of these generators meets at even sides."""
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    if total % 2:
        raise NotImplementedError(f"asymmetric 'SAME' padding at side {size}: the library would crop")
    return total // 2


def _norm(x, kind: str, name: str, is_test: bool):
    if kind == "batch_norm":
        return paddle.static.nn.batch_norm(
            x, is_test=is_test, param_attr=paddle.ParamAttr(name=name + "_w"),
            bias_attr=paddle.ParamAttr(name=name + "_b"),
            moving_mean_name=name + "_mean", moving_variance_name=name + "_var")
    if kind == "instance_norm":
        return paddle.static.nn.instance_norm(
            x, param_attr=paddle.ParamAttr(name=name + "_scale"), bias_attr=paddle.ParamAttr(name=name + "_offset"))
    raise ValueError(kind)


def _unary(kind: str, x):
    """One legacy op (``tanh``, ``sigmoid``) appended as fluid.layers did: Paddle 3's ``paddle.tanh``
    takes PIR values only, not the old graph's variables."""
    helper = LayerHelper(kind)
    out = helper.create_variable_for_type_inference(x.dtype)
    helper.append_op(type=kind, inputs={"X": x}, outputs={"Out": out})
    return out


def _activate(x, activation: str | None, slope: float):
    if activation is None:
        return x
    if activation in ("tanh", "sigmoid"):
        return _unary(activation, x)
    return {"relu": paddle.nn.functional.relu, "leaky_relu": lambda t: paddle.nn.functional.leaky_relu(t, slope)}[activation](x)


def _layer(x, filters: int, kernel: int, stride: int, name: str, *, transposed=False, padding=None, norm=None,
           activation=None, slope=0.2, bias=False, is_test=True):
    """conv2d / deconv2d: weight <name>_w, bias <name>_b (if any), norm <name>_norm_*, then the activation.
    padding None: 'SAME' (from the input's side, as cal_padding)."""
    if padding is None:
        padding = _same_padding(x.shape[2], stride, kernel)
    weight = paddle.ParamAttr(name=name + "_w")
    bias_attr = paddle.ParamAttr(name=name + "_b") if bias else False
    if transposed:
        y = paddle.static.nn.conv2d_transpose(x, filters, filter_size=kernel, stride=stride, padding=padding,
                                              param_attr=weight, bias_attr=bias_attr)
    else:
        y = paddle.static.nn.conv2d(x, filters, kernel, stride=stride, padding=padding, param_attr=weight,
                                    bias_attr=bias_attr)
    if norm is not None:
        y = _norm(y, norm, name + "_norm", is_test)
    return _activate(y, activation, slope)


def _tile_concat(z, a):
    """The networks' ``concat``: the attribute vector [N, c] tiled to z's size and put after z's channels."""
    tiled = paddle.tile(paddle.reshape(a, [-1, a.shape[1], 1, 1]), [1, 1, z.shape[2], z.shape[3]])
    return paddle.concat([z, tiled], axis=1)


# ---------------------------------------------------------------- the networks


def stargan_g(image, label_trg, cfg, name="g_main"):
    x = _tile_concat(image, label_trg)
    x = _layer(x, cfg["g_base_dims"], 7, 1, name + "0", padding=3, norm="instance_norm", activation="relu")
    for i in range(2):
        x = _layer(x, cfg["g_base_dims"] * 2 ** (i + 1), 4, 2, name + str(i * 3 + 3), padding=1,
                   norm="instance_norm", activation="relu")
    for i in range(cfg["repeat_num"]):
        block = name + ".%d" % (i + 9)
        y = _layer(x, cfg["g_base_dims"] * 4, 3, 1, block + ".main0", padding=1, norm="instance_norm", activation="relu")
        y = _layer(y, cfg["g_base_dims"] * 4, 3, 1, block + ".main3", padding=1, norm="instance_norm")
        x = x + y
    for i in range(2):
        x = _layer(x, cfg["g_base_dims"] * 2 ** (1 - i), 4, 2, name + str(15 + i * 3), transposed=True, padding=1,
                   norm="instance_norm", activation="relu")
    return _layer(x, 3, 7, 1, name + "21", padding=3, activation="tanh")


def _encoder(image, cfg, name, slope):
    zs, z = [], image
    for i in range(cfg["n_layers"]):
        z = _layer(z, min(cfg["g_base_dims"] * 2 ** i, cfg["max_dim"]), 4, 2, name + str(i), norm="batch_norm",
                   activation="leaky_relu", slope=slope)
        zs.append(z)
    return zs


def _decoder(zs, a, cfg, name, shortcut_layers, inject_layers):
    n = cfg["n_layers"]
    shortcut_layers, inject_layers = min(shortcut_layers, n - 1), min(inject_layers, n - 1)
    z = _tile_concat(zs[-1], a)
    for i in range(n):
        if i < n - 1:
            z = _layer(z, min(cfg["g_base_dims"] * 2 ** (n - 1 - i), cfg["max_dim"]), 4, 2, name + str(i),
                       transposed=True, norm="batch_norm", activation="relu")
            if shortcut_layers > i:
                z = paddle.concat([z, zs[n - 2 - i]], axis=1)
            if inject_layers > i:
                z = _tile_concat(z, a)
        else:
            z = _layer(z, 3, 4, 2, name + str(i), transposed=True, activation="tanh", bias=True)
    return z


def _gru_cell(features, state, channels, name, kernel=3):
    """One STU: (output, the state passed on: pass_state 'lstate', reset gate times the upsampled state)."""
    upsampled = _layer(state, channels, 4, 2, name + "_deconv2d", transposed=True, bias=True)
    reset = _layer(paddle.concat([features, upsampled], axis=1), channels, kernel, 1, name + "_reset_gate",
                   activation="sigmoid", bias=True)
    update = _layer(paddle.concat([features, upsampled], axis=1), channels, kernel, 1, name + "_update_gate",
                    activation="sigmoid", bias=True)
    kept = reset * upsampled
    info = _layer(paddle.concat([features, kept], axis=1), channels, kernel, 1, name + "_info",
                  activation="tanh", bias=True)
    return (1 - update) * upsampled + update * info, kept


def _gru(zs, a, cfg, name, inject_layers=4, residual=False):
    """The STUs from the innermost shortcut out: the new shortcuts, then the innermost features."""
    n = cfg["gru_n_layers"]
    shortcuts, state = [], _tile_concat(zs[-1], a)
    for i in range(n):
        level = n - 1 - i
        output, kept = _gru_cell(zs[level], state, min(cfg["g_base_dims"] * 2 ** level, cfg["max_dim"]), name + str(i))
        shortcuts.insert(0, output + zs[level] if residual else output)
        state = _tile_concat(kept, a) if inject_layers > i else kept
    return shortcuts + [zs[-1]]


def attgan_g(image, label_org, label_trg, cfg, name="generator"):
    zs = _encoder(image, cfg, name + "_Genc", slope=0.01)
    return _decoder(zs, label_trg, cfg, name + "_Gdec", shortcut_layers=1, inject_layers=1)


def stgan_g(image, label_org, label_trg, cfg, name="generator"):
    """The library's final STGAN; cfg["v1_5"]: release v1.5's (STU output plus the encoder features, slope 0.01)."""
    old = cfg.get("v1_5", False)
    zs = _encoder(image, cfg, name + "_Genc", slope=0.01 if old else 0.2)
    difference = label_trg - label_org
    if cfg.get("use_gru", True):
        zs = _gru(zs, difference, cfg, name + "_GRU", residual=old)
    return _decoder(zs, difference, cfg, name + "_Gdec", shortcut_layers=4, inject_layers=4)


NETWORKS = {"stargan": stargan_g, "attgan": attgan_g, "stgan": stgan_g}


def build(model: str, cfg: dict):
    """(main program, startup program, [image, label_org, label_trg] inputs, output) of `model` for inference."""
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup):
        size, c = cfg["image_size"], cfg["c_dim"]
        image = paddle.static.data("input", [None, 3, size, size], "float32")
        label_org = paddle.static.data("label_org_", [None, c], "float32")
        label_trg = paddle.static.data("label_trg_", [None, c], "float32")
        if model == "stargan":
            output = stargan_g(image, label_trg, cfg)
        else:
            output = NETWORKS[model](image, label_org, label_trg, cfg)
    return main, startup, [image, label_org, label_trg], output


def _dtype(var) -> str:
    text = str(var.dtype).lower().rsplit(".", 1)[-1]
    return {"fp32": "float32", "fp16": "float16", "fp64": "float64"}.get(text, text)


def variables(main) -> list[list]:
    """[name, shape, dtype] of every persistable variable, in creation order (the inputs are not persistable)."""
    return [[v.name, [int(d) for d in v.shape], _dtype(v)] for v in main.list_vars() if v.persistable]


def manifest(model: str) -> dict:
    paddle.enable_static()
    cfg = PUBLISHED[model]
    main, _, _, _ = build(model, cfg)
    about = MANIFESTS[model]
    return {"name": about["name"], "source": about["source"], "config": cfg, "weight_url": URL.format(model),
            "archive_member": ARCHIVE_MEMBER, "source_commit": SOURCE_COMMIT,
            "derived_by": "tests/paddlecv_layouts/derive_attribute_layouts.py", "notes": NOTES,
            "attributes": about["attributes"], "variables": variables(main)}


def dumps(data: dict) -> str:
    """JSON with one variable a line."""
    head = {k: v for k, v in data.items() if k != "variables"}
    lines = json.dumps(head, indent=1)[:-2] + ',\n "variables": [\n'
    lines += ",\n".join("  " + json.dumps(v) for v in data["variables"])
    return lines + "\n ]\n}\n"


def write_all(directory: Path = HERE) -> list[Path]:
    written = []
    for model in NETWORKS:
        data = manifest(model)
        path = directory / f"{data['name']}.json"
        path.write_text(dumps(data))
        written.append(path)
    return written


# ---------------------------------------------------------------- the twin run


def twin(model: str, cfg: dict, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Build `model` at `cfg`, give every variable seeded values (norm statistics and scales spread
    around their usual values), run inference on seeded inputs; {"var:<name>": value, "input:<name>": value,
    "output": picture}."""
    paddle.enable_static()
    paddle.seed(seed)
    rng = np.random.default_rng(seed)
    main, startup, inputs, output = build(model, cfg)
    executor = paddle.static.Executor(paddle.CPUPlace())
    scope = paddle.static.Scope()
    result: dict[str, np.ndarray] = {}
    with paddle.static.scope_guard(scope):
        executor.run(startup)
        for name, shape, _ in variables(main):
            if name.endswith("_var"):
                value = rng.uniform(0.5, 1.5, shape)
            elif name.endswith(("_norm_w", "_scale")):
                value = rng.uniform(0.7, 1.3, shape)
            elif name.endswith(("_mean", "_offset", "_b")):
                value = rng.normal(0.0, 0.1, shape)
            else:
                fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
                value = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)
            value = value.astype(np.float32)
            scope.find_var(name).get_tensor().set(value, paddle.CPUPlace())
            result[f"var:{name}"] = value
        c = cfg["c_dim"]
        size = cfg["image_size"]
        feed = {
            "input": rng.uniform(-1, 1, (batch, 3, size, size)).astype(np.float32),
            "label_org_": (rng.integers(0, 2, (batch, c)) - 0.5).astype(np.float32),
            "label_trg_": (rng.integers(0, 2, (batch, c)) - 0.5).astype(np.float32),
        }
        if model == "stargan":
            feed["label_trg_"] = rng.integers(0, 2, (batch, c)).astype(np.float32)
        (picture,) = executor.run(main, feed=feed, fetch_list=[output])
    result.update({f"input:{k}": v for k, v in feed.items()})
    result["output"] = np.asarray(picture)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--twin", choices=sorted(NETWORKS), help="run one network at --config and save to --out")
    parser.add_argument("--config", default="{}", help="JSON: the twin's arguments over the published ones")
    parser.add_argument("--out", type=Path, help="the twin's .npz")
    parser.add_argument("--dir", type=Path, default=HERE, help="where the JSON files go (default: beside this script)")
    args = parser.parse_args(argv)
    if args.twin:
        if args.out is None:
            parser.error("--twin needs --out")
        values = twin(args.twin, {**PUBLISHED[args.twin], **json.loads(args.config)})
        np.savez(args.out, **values)
        print(f"{args.twin}: {sum(k.startswith('var:') for k in values)} variables, output {list(values['output'].shape)} -> {args.out}")
        return 0
    for path in write_all(args.dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
