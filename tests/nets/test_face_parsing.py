"""Face segmentation (FCN-HRNet-W18) and face parsing (BiSeNet): PaddleGAN's layouts and numbers
(shared/reference faceseg_fcn_hrnetw18 and bisenet_face_parsing), and the helpers around them."""
import numpy as np
import paddle
import pytest

from core import nets
from core.nets import face_parsing as fp
from core.registry import NETWORKS, WEIGHTS
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

FCN = "faceseg_fcn_hrnetw18"
BISENET = "bisenet_face_parsing"


@pytest.mark.parametrize("name", [FCN, BISENET])
def test_layout_and_fingerprint_are_paddlegan_s(name):
    manifest = load_manifest(name)
    net = nets.build(name)
    assert_same_layout(net, manifest)
    assert sum(int(np.prod(p.shape)) for p in net.parameters()) == manifest["total_params"]
    apply_recipe(net, manifest)
    (image,) = recipe_inputs(manifest)
    with paddle.no_grad():
        logits = net(paddle.to_tensor(image))
    assert_fingerprint({"output": logits}, manifest)


def test_registered_with_configurations_and_checkpoints():
    assert NETWORKS.get(FCN).architecture == "fcn_hrnet_w18"
    assert NETWORKS.get("fcn_hrnet_w18").default_weights == NETWORKS.get(FCN).default_weights == "fcn_hrnet_w18.faceseg"
    assert NETWORKS.get(BISENET).architecture == "bisenet"
    assert NETWORKS.get("bisenet").default_weights == NETWORKS.get(BISENET).default_weights == "bisenet.face_parsing"
    faceseg = WEIGHTS.get("fcn_hrnet_w18.faceseg")
    assert faceseg.architecture == "fcn_hrnet_w18" and faceseg.key is None
    assert faceseg.filename == "faceseg_FCN-HRNetW18.pdparams"
    assert faceseg.url == load_manifest(FCN)["weight_url"]
    parsing = WEIGHTS.get("bisenet.face_parsing")
    assert (parsing.architecture, parsing.filename, parsing.key) == ("bisenet", "bisenet.pdparams", None)
    assert parsing.url == load_manifest(BISENET)["weight_url"]


def test_a_flat_checkpoint_loads_strictly(tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(FCN, None, {}, tmp_path, monkeypatch, registered)


def test_stride_two_convolutions_pad_after_as_paddle_same_does():
    """HRNet was trained with padding='same': a stride-2 3x3 conv of an even size pads 0 before, 1 after.

    (The recorded fingerprint cannot tell: under the recipe HRNet's features die out before the head.)
    """
    layer = fp.ConvNorm(1, 1, 3, stride=2, relu=False)
    kernel = np.zeros([1, 1, 3, 3], np.float32)
    kernel[0, 0, 0, 0] = 1.0  # the top-left tap
    layer._conv.weight.set_value(paddle.to_tensor(kernel))
    layer.eval()
    image = np.arange(1, 65, dtype=np.float32).reshape(1, 1, 8, 8)
    with paddle.no_grad():
        out = layer(paddle.to_tensor(image)).numpy()
    assert out.shape == (1, 1, 4, 4)
    np.testing.assert_allclose(out[0, 0], image[0, 0, ::2, ::2] / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_hrnet_keeps_four_branches_and_the_output_the_input_size():
    net = nets.build(FCN)
    x = paddle.to_tensor(np.random.RandomState(0).rand(1, 3, 64, 96).astype(np.float32))
    with paddle.no_grad():
        features = net.backbone(x)
        logits = net(x)
    assert features.shape == [1, 18 + 36 + 72 + 144, 16, 24]
    assert logits.shape == [1, 2, 64, 96]


def test_bisenet_auxiliary_heads_on_request():
    paddle.seed(1)
    net = fp.bisenet(auxiliary_outputs=True)
    net.eval()
    x = paddle.to_tensor(np.random.RandomState(0).rand(1, 3, 64, 64).astype(np.float32))
    with paddle.no_grad():
        outputs = net(x)
        net.auxiliary_outputs = False
        main = net(x)
    assert [list(o.shape) for o in outputs] == [[1, 19, 64, 64]] * 3
    np.testing.assert_array_equal(outputs[0].numpy(), main.numpy())


# ------------------------------------------------------------------------ helpers


def test_faceseg_input_is_an_area_resize_to_384_over_255():
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, size=(768, 768, 3)).astype(np.uint8)
    x = fp.faceseg_input(image)
    assert x.shape == (1, 3, 384, 384) and x.dtype == np.float32
    # A 2x area reduction is the mean of each 2x2 block (rounded to uint8), with no mean or std applied.
    blocks = image.astype(np.float64).reshape(384, 2, 384, 2, 3).mean(axis=(1, 3)).transpose(2, 0, 1)
    assert np.max(np.abs(x[0] * 255.0 - blocks)) <= 0.5 + 1e-4
    flat = fp.faceseg_input(np.full((300, 500, 3), 51, np.uint8))  # any size and aspect
    np.testing.assert_allclose(flat, np.full((1, 3, 384, 384), 0.2, np.float32), rtol=1e-6)
    with pytest.raises(ValueError):
        fp.faceseg_input(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        fp.faceseg_input(np.zeros((10, 10, 3), np.float32))


def test_faceseg_mask_is_the_argmax_resized_back():
    yy, xx = np.mgrid[0:384, 0:384]
    disc = (yy - 192) ** 2 + (xx - 160) ** 2 < 100**2
    logits = np.zeros((1, 2, 384, 384), np.float32)
    logits[0, 1] = np.where(disc, 3.0, -3.0)
    tie = np.zeros((384, 384), bool)
    tie[180:200, 150:170] = True  # equal logits inside the disc: argmax takes the first class, background
    logits[0, :, 180:200, 150:170] = 0.5
    mask = fp.faceseg_mask(logits, 600, 450)
    assert mask.shape == (600, 450) and mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    # The disc, scaled to the image (centre y 300, x 187.5; radii 156 and 117), with its tie hole.
    assert mask[300, 130] == 1.0 and mask[300, 440] == 0.0 and mask[20, 20] == 0.0
    assert mask[290:304, 180:196].max() == 0.0
    area = (np.pi * 100**2 - tie.sum()) / 384**2
    assert abs(mask.mean() - area) < 0.01
    face = (disc & ~tie).astype(np.float32)
    np.testing.assert_array_equal(fp.faceseg_mask(logits[0], 384, 384), face)
    with pytest.raises(ValueError):
        fp.faceseg_mask(np.zeros((1, 3, 8, 8)), 8, 8)


def test_whiten_background_keeps_the_face_and_whitens_the_rest():
    image = np.full((4, 6, 3), 40, np.uint8)
    mask = np.zeros((4, 6), np.float32)
    mask[:, :3] = 1.0
    mask[0, 5] = 0.5
    out = fp.whiten_background(image, mask)
    assert out.dtype == np.float32 and out.shape == (4, 6, 3)
    assert np.all(out[:, :3] == 40) and np.all(out[1:, 3:] == 255)
    np.testing.assert_allclose(out[0, 5], 147.5)


def test_face_parsing_input_and_labels():
    x = fp.face_parsing_input(np.full((256, 300, 3), 255, np.uint8))
    assert x.shape == (1, 3, 512, 512) and x.dtype == np.float32
    expected = (1.0 - np.asarray(fp.IMAGENET_MEAN)) / np.asarray(fp.IMAGENET_STD)
    np.testing.assert_allclose(x[0, :, 100, 100], expected, rtol=1e-5)
    logits = np.zeros((1, 19, 2, 3), np.float32)
    logits[0, 17, 0, :] = 1.0  # hair
    logits[0, 10, 1, 0] = 1.0  # nose
    labels = fp.face_parsing_labels(logits)
    assert labels.tolist() == [[17, 17, 17], [10, 0, 0]]
    assert fp.psgan_labels(labels).tolist() == [[10, 10, 10], [6, 0, 0]]


def test_class_names():
    assert len(fp.BISENET_CLASSES) == len(fp.PSGAN_LABEL_OF_CLASS) == fp.BISENET_NUM_CLASSES == 19
    assert fp.BISENET_CLASSES[:2] == ("background", "skin") and fp.BISENET_CLASSES[-2:] == ("hair", "hat")
    named = dict(zip(fp.BISENET_CLASSES, fp.PSGAN_LABEL_OF_CLASS))
    assert (named["nose"], named["u_lip"], named["mouth"], named["l_lip"], named["neck"]) == (6, 7, 8, 9, 13)
