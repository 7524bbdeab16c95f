"""Derive the generator variables of PaddleCV/gan's published pix2pix and CycleGAN archives from the
library's naming rules, and write them as layout manifests (pix2pix_G.json, cyclegan_9blocks_G.json).

    python tests/paddlecv_layouts/derive_layouts.py        # rewrites the JSON files beside it

The rules, read from PaddlePaddle/models ``PaddleCV/gan`` at 336c84129cb0 (2019-06-28, the commit
that published the archive links in its README; the naming is the same up to 0173b12c3974, the
last commit before the folder was removed):

- ``network/base_network.py``: ``conv2d(name=N)`` creates ``N_w`` [out, in, k, k] (fluid
  ``conv2d``), ``N_b`` [out] only with ``use_bias=True``; ``deconv2d(name=N)`` creates ``N_w``
  [in, out, k, k] (fluid ``conv2d_transpose``), same bias rule; with ``norm="batch_norm"``
  ``norm_layer(name=N + "_norm")`` then creates ``N_norm_w``, ``N_norm_b`` (scale, shift),
  ``N_norm_mean``, ``N_norm_var`` (moving statistics), each [channels]. ``conv2d`` and ``deconv2d``
  default to ``use_bias=False``.
- ``network/Pix2pix_network.py``: ``network_G(input, "generator", cfg)`` with ``net_G=unet_256`` is
  ``build_generator_Unet(name="generator_unet256", num_downsample=8)`` ->
  ``UnetSkipConnectionBlock(i=0, outer_nc=3, inner_nc=g_base_dims, outermost, name + "_u0")``,
  recursing with ``name + "_u%d" % i``; its ``use_bias = norm == "instance"`` is False for
  ``batch_norm`` (and for ``instance_norm``), and the outermost up conv passes no ``use_bias``.
- ``network/CycleGAN_network.py``: ``network_G(input, name, cfg)`` with ``net_G=resnet_9block`` is
  ``build_generator_resnet_blocks(name=name + "_resnet9block", n_gen_res=9)``: c1 (7x7), c2, c3
  (3x3 stride 2), r1..r9 (``build_resnet_block``: ``_c1``, ``_c2``, norm always batch norm,
  ``use_bias = norm_type == "instance_norm"``), c4, c5 (``deconv2d`` 3x3 stride 2), c6 (7x7, the only bias).
- ``trainer/Pix2pix.py`` and ``trainer/CycleGAN.py`` build the generators under the names
  "generator" and "GA" then "GB"; ``util/utility.py`` ``checkpoints`` saves the generator trainer's
  whole program with ``fluid.io.save_persistables`` into ``<epoch>/net_G``, and ``infer.py`` loads
  ``<init_model>/net_G``. That program also holds the discriminator(s), the Adam state and the
  intermediate results marked persistable: those are not listed here (see ``notes``).
- Configurations from scripts/run_pix2pix.sh and scripts/run_cyclegan.sh (``g_base_dims`` 64 and
  32, ``norm_type`` batch_norm; config.py's defaults for the rest).

Variables are listed in the order the library creates them (a depth-first walk of the network code).
The same description builds the generators as a real static graph (``StaticProgram``), which
tests/importers/test_paddlecv_tables.py saves with Paddle's own ``save_vars`` and runs, to compare
with our networks loaded through the converter.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_COMMIT = "336c84129cb0ea9c6c811c5391d5a0eae0deabf0"
NAMING_UNCHANGED_UNTIL = "0173b12c3974de44b0bdeb06802d6f27cb66dc65"


class Program:
    """Records the variables base_network's layers create, in order. Values flowing through the network
    are channel counts here; ``StaticProgram`` runs the same description as a real static graph."""

    def __init__(self):
        self.variables: list[list] = []

    def _add(self, name, shape):
        self.variables.append([name, [int(d) for d in shape], "float32"])

    @staticmethod
    def channels(x) -> int:
        return x

    def _record_norm(self, name, channels, norm):
        if norm is None:
            return
        assert norm == "batch_norm", "only batch_norm is used by these two archives"
        for suffix in ("w", "b", "mean", "var"):  # fluid batch_norm: scale, bias, moving mean, moving variance
            self._add(f"{name}_norm_{suffix}", [channels])

    def _record_conv(self, name, weight_shape, num_filters, use_bias):
        self._add(f"{name}_w", weight_shape)
        if use_bias:
            self._add(f"{name}_b", [num_filters])

    def norm(self, name, x, norm):
        self._record_norm(name, self.channels(x), norm)
        return x

    def conv2d(self, x, num_filters, filter_size, name, stride=1, padding=0, norm=None, use_bias=False, act=None):
        self._record_conv(name, [num_filters, self.channels(x), filter_size, filter_size], num_filters, use_bias)
        return self.norm(name, num_filters, norm)

    def deconv2d(self, x, num_filters, filter_size, name, stride=1, padding=0, outpadding=(0, 0, 0, 0), norm=None,
                 use_bias=False, act=None):
        self._record_conv(name, [self.channels(x), num_filters, filter_size, filter_size], num_filters, use_bias)
        return self.norm(name, num_filters, norm)

    # Operations without variables.
    def pad_reflect(self, x, pads):
        return x

    def relu(self, x):
        return x

    def leaky_relu(self, x, alpha):
        return x

    def concat(self, a, b):
        return a + b

    def add(self, a, b):
        return a


class StaticProgram(Program):
    """The same layers as static-graph operators of today's Paddle (``paddle.static.nn``, the successors
    of the ``fluid.layers`` base_network calls), named as base_network names them: a program whose
    ``save_vars`` writes the library's persistables, and whose output is the library's computation.
    Call it inside ``paddle.static.program_guard`` (and, on Paddle 3, ``paddle.pir_utils.OldIrGuard``)."""

    @staticmethod
    def channels(x) -> int:
        return int(x.shape[1])

    def norm(self, name, x, norm):
        import paddle

        if norm is None:
            return x
        self._record_norm(name, self.channels(x), norm)
        # is_test=False, as base_network builds it for inference too: the batch's statistics.
        return paddle.static.nn.batch_norm(
            x, is_test=False, param_attr=paddle.ParamAttr(name=f"{name}_norm_w"),
            bias_attr=paddle.ParamAttr(name=f"{name}_norm_b"), moving_mean_name=f"{name}_norm_mean",
            moving_variance_name=f"{name}_norm_var")

    @staticmethod
    def _act(x, act):
        import paddle

        if act == "tanh":  # the tanh operator appended as fluid.layers.tanh did (Paddle 3's paddle.tanh wants PIR values)
            helper = paddle.base.layer_helper.LayerHelper("tanh")
            out = helper.create_variable_for_type_inference(dtype=x.dtype)
            helper.append_op(type="tanh", inputs={"X": x}, outputs={"Out": out})
            return out
        return {None: lambda v: v, "relu": paddle.nn.functional.relu}[act](x)

    def conv2d(self, x, num_filters, filter_size, name, stride=1, padding=0, norm=None, use_bias=False, act=None):
        import paddle

        self._record_conv(name, [num_filters, self.channels(x), filter_size, filter_size], num_filters, use_bias)
        y = paddle.static.nn.conv2d(x, num_filters, filter_size, stride=stride, padding=padding,
                                    param_attr=paddle.ParamAttr(name=f"{name}_w"),
                                    bias_attr=paddle.ParamAttr(name=f"{name}_b") if use_bias else False)
        return self._act(self.norm(name, y, norm), act)

    def deconv2d(self, x, num_filters, filter_size, name, stride=1, padding=0, outpadding=(0, 0, 0, 0), norm=None,
                 use_bias=False, act=None):
        import paddle

        self._record_conv(name, [self.channels(x), num_filters, filter_size, filter_size], num_filters, use_bias)
        y = paddle.static.nn.conv2d_transpose(x, num_filters, filter_size=filter_size, stride=stride, padding=padding,
                                              param_attr=paddle.ParamAttr(name=f"{name}_w"),
                                              bias_attr=paddle.ParamAttr(name=f"{name}_b") if use_bias else False)
        if any(outpadding):  # pad2d's [top, bottom, left, right] with zeros
            top, bottom, left, right = outpadding
            y = paddle.nn.functional.pad(y, [left, right, top, bottom])
        return self._act(self.norm(name, y, norm), act)

    def pad_reflect(self, x, pads):
        import paddle

        top, bottom, left, right = pads
        return paddle.nn.functional.pad(x, [left, right, top, bottom], mode="reflect")

    def relu(self, x):
        import paddle

        return paddle.nn.functional.relu(x)

    def leaky_relu(self, x, alpha):
        import paddle

        return paddle.nn.functional.leaky_relu(x, alpha)

    def concat(self, a, b):
        import paddle

        return paddle.concat([a, b], axis=1)

    def add(self, a, b):
        return a + b


def unet_skip_connection_block(p: Program, x, i, num_downs, outer_nc, inner_nc,
                               outermost=False, innermost=False, norm="batch_norm", name=""):
    """Pix2pix_network.UnetSkipConnectionBlock (dropout never reaches it: use_dropout is not passed down)."""
    use_bias = norm == "instance"  # as written there: never true for "batch_norm"/"instance_norm"
    if outermost:
        down = p.conv2d(x, inner_nc, 4, name + "_down_conv", stride=2, padding=1, use_bias=use_bias)
        i += 1
        sub = unet_skip_connection_block(p, down, i, num_downs, inner_nc, inner_nc * 2, norm=norm, name=name + "_u%d" % i)
        # no use_bias passed: no bias
        return p.deconv2d(p.relu(sub), outer_nc, 4, name + "_up_conv", stride=2, padding=1, act="tanh")
    if innermost:
        down = p.conv2d(p.leaky_relu(x, 0.2), inner_nc, 4, name + "_down_conv", stride=2, padding=1, use_bias=use_bias)
        up = p.deconv2d(p.relu(down), outer_nc, 4, name + "_up_conv", stride=2, padding=1, norm=norm, use_bias=use_bias)
        return p.concat(x, up)
    down = p.conv2d(p.leaky_relu(x, 0.2), inner_nc, 4, name + "_down_conv", stride=2, padding=1, norm=norm,
                    use_bias=use_bias)
    i += 1
    if i < 4:
        sub = unet_skip_connection_block(p, down, i, num_downs, inner_nc, inner_nc * 2, norm=norm, name=name + "_u%d" % i)
    elif i < num_downs - 1:
        sub = unet_skip_connection_block(p, down, i, num_downs, inner_nc, inner_nc, norm=norm, name=name + "_u%d" % i)
    else:
        sub = unet_skip_connection_block(p, down, i, num_downs, inner_nc, inner_nc, innermost=True, norm=norm,
                                         name=name + "_u%d" % i)
    up = p.deconv2d(p.relu(sub), outer_nc, 4, name + "_up_conv", stride=2, padding=1, norm=norm, use_bias=use_bias)
    return p.concat(x, up)


def pix2pix_generator(p: Program, x, name="generator", net_g="unet_256", g_base_dims=64, norm_type="batch_norm"):
    """Pix2pix_model.network_G with net_G unet_256 / unet_128 (build_generator_Unet)."""
    num_downsample = {"unet_256": 8, "unet_128": 7}[net_g]
    scope = f"{name}_unet{2 ** num_downsample}"
    return unet_skip_connection_block(p, x, 0, num_downsample, 3, g_base_dims, outermost=True, norm=norm_type,
                                      name=scope + "_u0")


def resnet_generator(p: Program, x, name, net_g="resnet_9block", g_base_dims=32, norm_type="batch_norm"):
    """CycleGAN_model.network_G with net_G resnet_9block / resnet_6block (build_generator_resnet_blocks)."""
    n_gen_res = {"resnet_9block": 9, "resnet_6block": 6}[net_g]
    scope = f"{name}_resnet{n_gen_res}block"
    use_bias = norm_type == "instance_norm"
    y = p.conv2d(p.pad_reflect(x, [3, 3, 3, 3]), g_base_dims, 7, scope + "_c1", norm=norm_type, act="relu")
    y = p.conv2d(y, g_base_dims * 2, 3, scope + "_c2", stride=2, padding=1, norm=norm_type, act="relu")
    y = p.conv2d(y, g_base_dims * 4, 3, scope + "_c3", stride=2, padding=1, norm=norm_type, act="relu")
    for i in range(n_gen_res):
        block = scope + "_r{}".format(i + 1)
        # build_resnet_block is not passed norm_type: its default, batch_norm.
        r = p.conv2d(p.pad_reflect(y, [1, 1, 1, 1]), g_base_dims * 4, 3, block + "_c1", norm="batch_norm",
                     use_bias=use_bias, act="relu")
        r = p.conv2d(p.pad_reflect(r, [1, 1, 1, 1]), g_base_dims * 4, 3, block + "_c2", norm="batch_norm",
                     use_bias=use_bias)
        y = p.add(r, y)
    # deconv2d(padding=[1, 1], outpadding=[0, 1, 0, 1]): 2L - 1, then a zero row and column.
    y = p.deconv2d(y, g_base_dims * 2, 3, scope + "_c4", stride=2, padding=1, outpadding=(0, 1, 0, 1), norm=norm_type,
                   act="relu")
    y = p.deconv2d(y, g_base_dims, 3, scope + "_c5", stride=2, padding=1, outpadding=(0, 1, 0, 1), norm=norm_type,
                   act="relu")
    return p.conv2d(p.pad_reflect(y, [3, 3, 3, 3]), 3, 7, scope + "_c6", use_bias=True, act="tanh")


TRAINING_STATE_NOTE = (
    "The archive is the generator trainer's save_persistables: besides these variables it may hold "
    "the discriminator's ({d}), Adam's per-parameter moment1/moment2/beta1_pow_acc/beta2_pow_acc "
    "accumulators, the learning rate (learning_rate, with piecewise_decay also @LR_DECAY_COUNTER@) "
    "and the outputs marked persistable ({tmp}). None of them is needed for inference."
)


def manifests() -> dict[str, dict]:
    pix2pix = Program()
    pix2pix_config = {"net_G": "unet_256", "g_base_dims": 64, "norm_type": "batch_norm", "name": "generator"}
    pix2pix_generator(pix2pix, 3, pix2pix_config["name"], pix2pix_config["net_G"], pix2pix_config["g_base_dims"],
                      pix2pix_config["norm_type"])
    cyclegan = Program()
    cyclegan_config = {"net_G": "resnet_9block", "g_base_dims": 32, "norm_type": "batch_norm", "names": ["GA", "GB"]}
    for name in cyclegan_config["names"]:  # trainer/CycleGAN.py: GA(input_A) first, then GB(input_B)
        resnet_generator(cyclegan, 3, name, cyclegan_config["net_G"], cyclegan_config["g_base_dims"], cyclegan_config["norm_type"])
    common = {"source_commit": SOURCE_COMMIT, "naming_unchanged_until": NAMING_UNCHANGED_UNTIL,
              "derived_by": "tests/paddlecv_layouts/derive_layouts.py"}
    return {
        "pix2pix_G": {
            "name": "pix2pix_G",
            "source": "PaddlePaddle/models PaddleCV/gan network/Pix2pix_network.py:build_generator_Unet",
            "config": pix2pix_config,
            "weight_url": "https://paddle-gan-models.bj.bcebos.com/pix2pix_G.tar.gz",
            "archive_member": "pix2pix_G",
            **common,
            "notes": TRAINING_STATE_NOTE.format(d="discriminator_basic_*", tmp="generator_unet256_u0_up_conv_tanh.tmp_0"),
            "variables": pix2pix.variables,
        },
        "cyclegan_9blocks_G": {
            "name": "cyclegan_9blocks_G",
            "source": "PaddlePaddle/models PaddleCV/gan network/CycleGAN_network.py:build_generator_resnet_blocks",
            "config": cyclegan_config,
            "weight_url": "https://paddle-gan-models.bj.bcebos.com/cyclegan_9blocks_G.tar.gz",
            "archive_member": "cyclegan_9blocks_G",
            **common,
            "notes": TRAINING_STATE_NOTE.format(d="DA_basic_*, DB_basic_*",
                                                tmp="GA_resnet9block_c6_tanh.tmp_0, GB_resnet9block_c6_tanh.tmp_0, losses"),
            "variables": cyclegan.variables,
        },
    }


def dumps(manifest: dict) -> str:
    """JSON with one variable per line (reviewable diffs)."""
    head = {k: v for k, v in manifest.items() if k != "variables"}
    lines = json.dumps(head, indent=1)[:-2] + ',\n "variables": [\n'
    lines += ",\n".join("  " + json.dumps(v) for v in manifest["variables"])
    return lines + "\n ]\n}\n"


def main() -> int:
    for name, manifest in manifests().items():
        path = HERE / f"{name}.json"
        text = dumps(manifest)
        assert json.loads(text) == manifest
        path.write_text(text)
        print(f"{path}: {len(manifest['variables'])} variables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
