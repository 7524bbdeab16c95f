"""Derive the variables of PaddleCV/gan's SPADE generator (the published ``spade_G.tar.gz``) and write ``spade_G.json``.

This follows the library's own call sequence (``network/SPADE_network.py``: ``SPADE_model.network_G``,
``SPADEResnetBlock``, ``SPADE``) and the naming rules of the helpers it calls (``network/base_network.py`` and
Paddle's static-graph layers), and imports nothing from ``core``: the test that maps every variable through
``core.nets.spade.paddlecv_name_table`` onto our network is a cross-check of two separate derivations.

The rules, by helper:

* ``conv2d(name=n, use_bias=True)``: filter ``n_w`` [out, in, k, k], then bias ``n_b`` [out].
* ``conv2d_spectral_norm(name=n)``: ``n.weight_orig`` [out, in, k, k]; then ``fluid.layers.spectral_norm(...,
  name=n + ".spectral_norm")`` creates u [out] and v [in*k*k] through ``LayerHelper.create_parameter`` without
  names, which generates ``<layer name>.w_<counter>``: ``n.spectral_norm.w_0`` and ``.w_1``; then the bias ``n_b``.
* SPADE's ``fluid.layers.batch_norm``: scale ``n.param_free_norm.weight``, bias ``.bias`` (constant 1 and 0, not
  trainable, but persistable), then ``.running_mean`` and ``.running_var``; all [channels].
* Inside a SPADE (``n``): ``n.mlp_shared.0`` (label channels -> 128, 3x3, ReLU), ``n.mlp_gamma``, ``n.mlp_beta``
  (128 -> channels), then the batch norm. A block (``generator_<block>``) makes ``.norm_s``/``.conv_s`` (1x1, no
  bias) first when its channel count changes, then ``.norm_0``, ``.conv_0``, ``.norm_1``, ``.conv_1`` (3x3, bias).

Every tensor is float32; every kernel is [out, in, k, k] (the generator has no fc layer, whose old weights would
be [in, out]).

The same call sequence also runs on Paddle's legacy static graph (``paddle.static.nn.conv2d``, ``batch_norm``,
``spectral_norm``: the successors of the ``fluid.layers`` the library calls): ``--check-static`` compares the
variables that graph creates with the rules' list, and ``--twin`` runs a narrow copy on seeded variables and a
seeded label map and saves everything, so a test can load those variables into our network through its name table
and compare the images (inference: batch norm on its moving statistics, spectral norm as the op computes it).

    python tests/paddlecv_layouts/derive_spade_layout.py                 # (re)writes spade_G.json beside this file
    python tests/paddlecv_layouts/derive_spade_layout.py --check-static  # and compares with Paddle's static graph
    python tests/paddlecv_layouts/derive_spade_layout.py --twin out.npz --config '{"ngf": 2}'

Under Paddle 3 the static modes set ``FLAGS_enable_pir_api=0`` before importing paddle (run them as their own
process); writing the JSON needs no paddle at all.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "spade_G.json"

# scripts/run_SPADE.sh and infer_SPADE.sh (--label_nc 36 --crop_height 512 --crop_width 1024); trainer/SPADE.py and
# infer.py defaults (--ngf 64, --no_instance False); network_G hard-codes num_up_layers = 5 and SPADE's nhidden = 128.
CONFIG = {"ngf": 64, "label_nc": 36, "no_instance": False, "crop_height": 512, "crop_width": 1024, "num_up_layers": 5,
          "nhidden": 128, "name": "generator"}
# Cityscapes' labelIds 0-33 (cityscapesScripts helpers/labels.py); the reader one-hots pixel values into 36 channels.
CITYSCAPES_IDS = (
    "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground", "road",
    "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge", "tunnel", "pole",
    "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle",
)
URL = "https://paddle-gan-models.bj.bcebos.com/spade_G.tar.gz"
# infer.py: fluid.io.load_persistables(exe, os.path.join(init_model, "net_G")), one file per variable.
ARCHIVE_MEMBER = "net_G"


# ---------------------------------------------------------------- the library's call sequence


def spade(b, x, seg, channels, name, nhidden):
    seg = b.resize(seg, *b.size(x))
    actv = b.conv2d(seg, nhidden, 3, f"{name}.mlp_shared.0", act="relu")
    gamma = b.conv2d(actv, channels, 3, f"{name}.mlp_gamma")
    beta = b.conv2d(actv, channels, 3, f"{name}.mlp_beta")
    return b.modulate(b.batch_norm(x, name), gamma, beta)


def resnet_block(b, x, seg, fin, fout, name, nhidden):
    middle = min(fin, fout)
    if fin != fout:
        x_s = spade(b, x, seg, fin, f"{name}.norm_s", nhidden)
        x_s = b.conv2d_spectral_norm(x_s, fout, 1, f"{name}.conv_s", bias=False)
    else:
        x_s = x
    dx = b.leaky_relu(spade(b, x, seg, fin, f"{name}.norm_0", nhidden))
    dx = b.conv2d_spectral_norm(dx, middle, 3, f"{name}.conv_0", bias=True)
    dx = b.leaky_relu(spade(b, dx, seg, middle, f"{name}.norm_1", nhidden))
    dx = b.conv2d_spectral_norm(dx, fout, 3, f"{name}.conv_1", bias=True)
    return b.add(dx, x_s)


def network_g(b, config=CONFIG):
    """The generator as the library builds it for `config`, on builder `b`: (inputs, output)."""
    nf, name, height, width, nhidden = (config[k] for k in ("ngf", "name", "crop_height", "crop_width", "nhidden"))
    inputs = [b.data("input_label", config["label_nc"], height, width)]
    if not config["no_instance"]:  # the trainer and infer.py: concat([input_label, input_ins], 1)
        inputs.append(b.data("input_ins", 1, height, width))
    seg = b.concat(inputs)
    scale = 2 ** config["num_up_layers"]
    x = b.conv2d(b.resize(seg, height // scale, width // scale), 16 * nf, 3, f"{name}_fc")
    # (block, in and out channels in ngf, whether a 2x nearest upsampling follows)
    stages = [("head_0", 16, 16, True), ("G_middle_0", 16, 16, False), ("G_middle_1", 16, 16, True),
              ("up_0", 16, 8, True), ("up_1", 8, 4, True), ("up_2", 4, 2, True), ("up_3", 2, 1, False)]
    for block, fin, fout, upsample in stages:
        x = resnet_block(b, x, seg, fin * nf, fout * nf, f"{name}_{block}", nhidden)
        if upsample:
            x = b.resize(x, *(2 * d for d in b.size(x)))
    return inputs, b.tanh(b.conv2d(b.leaky_relu(x), 3, 3, f"{name}_conv_img"))


class ShapeRecorder:
    """Runs the calls on shapes (C, H, W) and records each variable they create, in order."""

    def __init__(self):
        self.variables: list[tuple[str, list[int]]] = []
        self._counters: dict[str, int] = {}

    def _new(self, name, shape):
        self.variables.append((name, [int(d) for d in shape]))

    def _generated(self, layer_name):  # unique_name.generate(layer_name + ".w")
        key = f"{layer_name}.w"
        index = self._counters.get(key, 0)
        self._counters[key] = index + 1
        return f"{key}_{index}"

    def data(self, name, channels, height, width):
        return (channels, height, width)

    def conv2d(self, x, out, k, name, act=None):
        self._new(f"{name}_w", [out, x[0], k, k])
        self._new(f"{name}_b", [out])
        return (out, x[1], x[2])

    def conv2d_spectral_norm(self, x, out, k, name, bias):
        self._new(f"{name}.weight_orig", [out, x[0], k, k])
        self._new(self._generated(f"{name}.spectral_norm"), [out])
        self._new(self._generated(f"{name}.spectral_norm"), [x[0] * k * k])
        if bias:
            self._new(f"{name}_b", [out])
        return (out, x[1], x[2])

    def batch_norm(self, x, name):
        for part in ("weight", "bias", "running_mean", "running_var"):
            self._new(f"{name}.param_free_norm.{part}", [x[0]])
        return x

    def resize(self, x, height, width):
        return (x[0], height, width)

    def size(self, x):
        return x[1], x[2]

    def modulate(self, x, gamma, beta):
        assert x == gamma == beta, (x, gamma, beta)
        return x

    def leaky_relu(self, x):
        return x

    def add(self, x, y):
        assert x == y, (x, y)
        return x

    def concat(self, parts):
        return (sum(p[0] for p in parts), parts[0][1], parts[0][2])

    def tanh(self, x):
        return x


def rule_variables(config=CONFIG) -> list[tuple[str, list[int]]]:
    recorder = ShapeRecorder()
    _, out = network_g(recorder, config)
    assert out == (3, config["crop_height"], config["crop_width"]), out
    return recorder.variables


def derive(config=CONFIG) -> dict:
    variables = rule_variables(config)
    labels = list(CITYSCAPES_IDS) + [f"(no Cityscapes labelId {i})" for i in range(len(CITYSCAPES_IDS), config["label_nc"])]
    if not config["no_instance"]:
        labels.append("instance edges")
    elements = 0
    for _, shape in variables:
        count = 1
        for d in shape:
            count *= d
        elements += count
    return {
        "name": "spade_G",
        "source": "PaddleCV/gan network/SPADE_network.py:SPADE_model.network_G (base_network.py conv2d, "
        "conv2d_spectral_norm; trainer/SPADE.py, infer.py, scripts/run_SPADE.sh)",
        "config": dict(config),
        "weight_url": URL,
        "archive_member": ARCHIVE_MEMBER,
        # Input channels: the one-hot label ids, then the edges of the instance map.
        "labels": labels,
        "total_elements": elements,
        "variables": [[name, shape, "float32"] for name, shape in variables],
    }


def dumps(data: dict) -> str:
    """JSON with one variable a line."""
    head = {k: v for k, v in data.items() if k != "variables"}
    text = json.dumps(head, indent=1)[:-2] + ',\n "variables": [\n'
    text += ",\n".join("  " + json.dumps(v) for v in data["variables"])
    return text + "\n ]\n}\n"


# ---------------------------------------------------------------- the same calls on Paddle's static graph


def _static_builder():
    import paddle
    from paddle.base import ParamAttr
    from paddle.base.layer_helper import LayerHelper

    F = paddle.nn.functional

    class StaticBuilder:
        def data(self, name, channels, height, width):
            return paddle.static.data(name, [-1, channels, height, width], "float32")

        def conv2d(self, x, out, k, name, act=None):
            return paddle.static.nn.conv2d(x, out, k, padding=k // 2, param_attr=ParamAttr(name=f"{name}_w"),
                                           bias_attr=ParamAttr(name=f"{name}_b"), act=act)

        def conv2d_spectral_norm(self, x, out, k, name, bias):
            helper = LayerHelper("conv2d_spectral_norm", name=name)
            weight = helper.create_parameter(ParamAttr(name=f"{name}.weight_orig"), [out, x.shape[1], k, k], "float32")
            weight = paddle.static.nn.spectral_norm(weight, dim=0, name=f"{name}.spectral_norm")
            bias = helper.create_parameter(ParamAttr(name=f"{name}_b"), [out], "float32", is_bias=True) if bias else None
            return F.conv2d(x, weight, bias, padding=k // 2)

        def batch_norm(self, x, name):
            fixed = dict(trainable=False)
            return paddle.static.nn.batch_norm(
                x, is_test=True, name=name, param_attr=ParamAttr(name=f"{name}.param_free_norm.weight", **fixed),
                bias_attr=ParamAttr(name=f"{name}.param_free_norm.bias", **fixed),
                moving_mean_name=f"{name}.param_free_norm.running_mean",
                moving_variance_name=f"{name}.param_free_norm.running_var")

        def resize(self, x, height, width):
            return F.interpolate(x, size=[height, width], mode="nearest")

        def size(self, x):
            return x.shape[2], x.shape[3]

        def modulate(self, x, gamma, beta):
            return x * (1 + gamma) + beta

        def leaky_relu(self, x):
            return F.leaky_relu(x, 0.2)

        def add(self, x, y):
            return x + y

        def concat(self, parts):
            return paddle.concat(parts, axis=1)

        def tanh(self, x):  # the legacy op itself: Paddle 3's paddle.tanh takes PIR values only
            helper = LayerHelper("tanh")
            out = helper.create_variable_for_type_inference(x.dtype)
            helper.append_op(type="tanh", inputs={"X": x}, outputs={"Out": out})
            return out

    return paddle, StaticBuilder()


def _static_program(config):
    paddle, builder = _static_builder()
    paddle.enable_static()
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.utils.unique_name.guard(), paddle.static.program_guard(main, startup):
        inputs, output = network_g(builder, config)
    return paddle, main, startup, inputs, output


def static_variables(config) -> list[tuple[str, list[int]]]:
    """The parameters Paddle's static graph creates for `config`, in creation order, with their shapes."""
    _, main, _, _, _ = _static_program(config)
    return [(p.name, [int(d) for d in p.shape]) for p in main.global_block().all_parameters()]


def twin(config, batch: int = 2, seed: int = 0) -> dict:
    """Run the static graph at `config` on seeded variables and a seeded label map:
    {"var:<name>": value, "input_label": ..., "input_ins": ..., "instances": ..., "output": image}."""
    import numpy as np

    paddle, main, startup, inputs, output = _static_program(config)
    rng = np.random.default_rng(seed)
    height, width = config["crop_height"], config["crop_width"]
    # Label and instance maps of blocks (the reader one-hots the labels; edges come from the instances).
    cells = rng.integers(0, config["label_nc"], (batch, height // 8, width // 8))
    labels = cells.repeat(8, axis=1).repeat(8, axis=2)
    instances = (rng.integers(0, 3, (batch, height // 4, width // 4)).repeat(4, axis=1).repeat(4, axis=2) + 10 * labels)
    one_hot = (np.arange(config["label_nc"])[None, :, None, None] == labels[:, None]).astype(np.float32)
    edge = np.zeros((batch, 1, height, width), bool)
    across = instances[:, None, :, 1:] != instances[:, None, :, :-1]
    down = instances[:, None, 1:, :] != instances[:, None, :-1, :]
    edge[..., 1:] |= across
    edge[..., :-1] |= across
    edge[..., 1:, :] |= down
    edge[..., :-1, :] |= down
    feed = {"input_label": one_hot, "input_ins": edge.astype(np.float32)}
    result = {"labels": labels, "instances": instances, **feed}
    executor = paddle.static.Executor(paddle.CPUPlace())
    scope = paddle.static.Scope()
    with paddle.static.scope_guard(scope):
        executor.run(startup)
        for parameter in main.global_block().all_parameters():
            name, shape = parameter.name, [int(d) for d in parameter.shape]
            if name.endswith("running_var"):
                value = rng.uniform(0.5, 1.5, shape)
            elif name.endswith("param_free_norm.weight"):  # 1 in a real checkpoint: spread to see it is used
                value = rng.uniform(0.7, 1.3, shape)
            elif name.endswith(("running_mean", "param_free_norm.bias", "_b")):
                value = rng.normal(0.0, 0.1, shape)
            elif ".spectral_norm.w_" in name:  # u and v: Normal(0, 1), as the op initialises them
                value = rng.normal(0.0, 1.0, shape)
            else:
                value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[1:])), shape)
            value = value.astype(np.float32)
            scope.find_var(name).get_tensor().set(value, paddle.CPUPlace())
            result[f"var:{name}"] = value
        (image,) = executor.run(main, feed={k: feed[k] for k in ("input_label", "input_ins")}, fetch_list=[output])
    paddle.disable_static()
    result["output"] = np.asarray(image)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check-static", action="store_true",
                        help="also build a narrow copy with Paddle's static graph and compare names, shapes and order")
    parser.add_argument("--twin", type=Path, metavar="OUT.npz", help="run a narrow copy (--config) and save it here")
    parser.add_argument("--config", default='{"ngf": 2, "nhidden": 8, "crop_height": 32, "crop_width": 64}',
                        help="JSON: the narrow copy's arguments over the published ones")
    args = parser.parse_args(argv)
    narrow = {**CONFIG, **json.loads(args.config)}
    if args.check_static or args.twin:
        os.environ.setdefault("FLAGS_enable_pir_api", "0")  # before paddle is imported: the legacy static graph
    if args.twin:
        import numpy as np

        values = twin(narrow)
        np.savez(args.twin, **values)
        print(f"twin: {sum(k.startswith('var:') for k in values)} variables, output {list(values['output'].shape)} -> {args.twin}")
        return 0
    layout = derive()
    OUTPUT.write_text(dumps(layout))
    print(f"wrote {OUTPUT} ({len(layout['variables'])} variables, {layout['total_elements']:,} elements)")
    if args.check_static:
        expected, built = rule_variables(narrow), static_variables(narrow)
        if built != expected:
            print("Paddle's static graph differs:", [(a, b) for a, b in zip(built, expected) if a != b][:5], len(built), len(expected))
            return 1
        print(f"Paddle's static graph creates the same {len(built)} variables in the same order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
