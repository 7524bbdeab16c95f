"""core.registry: one Registry class for networks, checkpoints, converters and applications, and the
invariants the real registries keep (checkpoint names, declared defaults, aliases, manifest names)."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import paddle
import pytest

from core import models, nets, weights
from core.registry import CONVERTERS, NETWORKS, WEIGHTS, Registry, WeightSpec, register_weights
from tests.reference import assert_same_layout, load_manifest, reference_dir

# ---------------------------------------------------------------- the class


def test_add_get_names_and_aliases():
    things = Registry("thing")
    assert things.add("apple", 1, aliases=("pomme", "apfel")) == 1
    things.add("pear", 2)
    assert things.get("apple") == things.get("pomme") == things.get("apfel") == 1
    assert things.canonical("pomme") == "apple" and things.canonical("pear") == "pear"
    assert things.names() == ["apple", "pear"]  # aliases are not names
    assert things.entries() == [1, 2]
    assert things.aliases() == {"apfel": "apple", "pomme": "apple"} and things.aliases("pear") == {}
    assert "pomme" in things and "plum" not in things
    with pytest.raises(KeyError, match="unknown thing 'plum'; known: apple, pear"):
        things.get("plum")
    with pytest.raises(KeyError, match="unknown thing 'plum'"):
        things.canonical("plum")


def test_the_decorator_registers_what_it_decorates():
    things = Registry("thing")

    @things.register("double", aliases=("twice",))
    def double(x):
        return 2 * x

    assert things.get("twice") is double and double(3) == 6


def test_a_taken_name_or_alias_is_refused_for_another_entry():
    things = Registry("thing")
    things.add("apple", 1, aliases=("pomme",))
    things.add("apple", 1, aliases=("pomme",))  # the same registration again (a module imported twice) is fine
    for name, entry, aliases in (("apple", 2, ()),  # another entry under a taken name
                                 ("pomme", 3, ()),  # a name that is an alias of another entry
                                 ("plum", 4, ("apple",)),  # an alias that is another entry's name
                                 ("quince", 5, ("pomme",))):  # an alias taken by another entry
        with pytest.raises(ValueError, match="registered twice"):
            things.add(name, entry, aliases)
    assert things.names() == ["apple"] and things.aliases() == {"pomme": "apple"}


def test_scoped_replaces_or_adds_for_the_block_then_restores():
    things = Registry("thing")
    things.add("apple", 1, aliases=("pomme",))
    with things.scoped("apple", 10, aliases=("malus",)) as entry:
        assert entry == 10 and things.get("apple") == things.get("malus") == 10
        with things.scoped("plum", 20, aliases=("prune",)):
            assert things.get("prune") == 20 and things.names() == ["apple", "plum"]
        assert "plum" not in things and "prune" not in things
    assert things.get("apple") == things.get("pomme") == 1 and "malus" not in things
    assert things.aliases() == {"pomme": "apple"}

    with pytest.raises(RuntimeError):  # an exception inside the block restores too
        with things.scoped("plum", 20):
            raise RuntimeError
    assert things.names() == ["apple"]


def test_without_hides_an_entry_and_its_aliases_for_the_block_then_restores():
    things = Registry("thing")
    things.add("apple", 1, aliases=("pomme",))
    things.add("pear", 2)
    with things.without("pomme"):  # by alias: the entry goes, with all its names
        assert "apple" not in things and "pomme" not in things and things.names() == ["pear"]
        with pytest.raises(KeyError, match="unknown thing 'apple'; known: pear"):
            things.get("apple")
    assert things.get("pomme") == 1 and things.aliases() == {"pomme": "apple"}
    with pytest.raises(KeyError, match="unknown thing 'plum'"):
        with things.without("plum"):
            pass


@pytest.fixture
def throwaway_package(tmp_path, monkeypatch):
    """A package of registering modules written to tmp_path (unique names), importable; forgotten afterwards."""
    stem = f"gg_registry_test_{tmp_path.name.replace('-', '_').lower()}"
    home, package, loner = f"{stem}_home", f"{stem}_things", f"{stem}_loner"
    (tmp_path / f"{home}.py").write_text(textwrap.dedent(f"""
        from core.registry import Registry
        THINGS = Registry("thing", discover=("{package}", "{loner}"))
    """))
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "alpha.py").write_text(f"from {home} import THINGS\nTHINGS.add('alpha', 1, aliases=('a',))\n")
    # A module being discovered may read the registry: it sees what is there so far (no recursion, no deadlock).
    (tmp_path / package / "beta.py").write_text(
        f"from {home} import THINGS\nSEEN = THINGS.names()\nTHINGS.add('beta', 2)\n"
    )
    (tmp_path / f"{loner}.py").write_text(f"from {home} import THINGS\nTHINGS.add('gamma', 3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = (home, package, f"{package}.alpha", f"{package}.beta", loner)
    yield names
    for name in names:
        sys.modules.pop(name, None)


def test_a_registry_discovers_its_packages_and_modules_on_first_read(throwaway_package):
    import importlib

    home, package, alpha, beta, loner = throwaway_package
    things = importlib.import_module(home).THINGS
    assert not any(name in sys.modules for name in (package, alpha, beta, loner))  # nothing imported yet
    things.add("early", 0)  # adding does not discover

    assert things.names() == ["alpha", "beta", "early", "gamma"]  # every module of the package, and the module
    assert all(name in sys.modules for name in (package, alpha, beta, loner))
    assert things.get("a") == 1
    assert set(sys.modules[beta].SEEN) <= {"alpha", "early"}  # what was there while it was discovered

    # Once: later reads import nothing again (a module forgotten by Python would be run again if they did).
    del sys.modules[alpha]
    things.get("beta")
    assert things.names() == ["alpha", "beta", "early", "gamma"] and alpha not in sys.modules


def test_scoped_discovers_first_so_the_real_entry_comes_back(throwaway_package):
    import importlib

    home, *_ = throwaway_package
    things = importlib.import_module(home).THINGS
    with things.scoped("alpha", 100):  # the first read: discovery runs before the replacement
        assert things.get("alpha") == things.get("a") == 100
    assert things.get("alpha") == 1 and things.names() == ["alpha", "beta", "gamma"]


# ---------------------------------------------------------------- checkpoints


def test_a_checkpoint_name_must_be_architecture_dot_tag():
    for bad in ("nodot", ".tag", "architecture."):
        with pytest.raises(ValueError, match="architecture.tag"):
            register_weights(WeightSpec(name=bad, architecture="wgan_mnist", filename="f.pdparams"))
        assert bad not in WEIGHTS


def test_every_checkpoint_is_named_by_its_architecture_and_a_tag():
    assert weights.specs(), "no checkpoint is registered"
    for s in weights.specs():
        architecture, dot, tag = s.name.partition(".")
        assert dot and tag and tag == s.tag, s.name
        # The prefix is the architecture (family) of the network the checkpoint fits, not a configuration name.
        assert architecture == NETWORKS.get(s.architecture).architecture, (s.name, s.architecture)
        assert architecture in nets.architectures(), s.name


# The old names every script, API choice and document used: each stays valid and means the same checkpoint.
OLD_NAMES = {
    "cyclegan_horse2zebra": "cyclegan_resnet9.horse2zebra",
    "cyclegan_zebra2horse": "cyclegan_resnet9.zebra2horse",
    "vintage_photo": "cyclegan_resnet9.vintage",
    "realesrgan_x4plus": "rrdb_x4.realesrgan_x4plus",
    "realesrgan_x4plus_anime": "rrdb_x4.realesrgan_anime",
    "realesr_animevideov3_x4": "srvgg_compact.animevideov3_x4",
    "realsr_df2k_jpeg": "rrdb_x4.realsr_df2k_jpeg",
    "esrgan_x4": "rrdb_x4.esrgan",
    "lesrcnn_x4": "lesrcnn_x4.div2k",
    "deoldify_stable": "deoldify.stable",
    "deoldify_artistic": "deoldify.artistic",
    "stylegan2_ffhq_1024": "stylegan2.ffhq_1024",
    "stylegan2_animeface_512": "stylegan2.animeface_512",
    "digits_cgan": "deep_conv.digits_cgan",
    "digits_wgan_gp": "deep_conv.digits_wgan_gp",
    "digits_classifier": "digits_classifier.mnist_5k",
    "photo2cartoon": "ugatit_p2c.photo2cartoon",
    "ugatit_selfie2anime": "ugatit_light.selfie2anime",
    "pix2pix_facades": "pix2pix_unet256.facades",
    "animeganv2_hayao": "animeganv2.hayao",
}


def test_every_alias_resolves_to_its_checkpoint():
    names = set(WEIGHTS.names())
    declared = {alias: s.name for s in weights.specs() for alias in s.aliases}
    assert WEIGHTS.aliases() == declared  # nothing registered an alias its spec does not declare
    for alias, name in declared.items():
        assert alias not in names, f"alias {alias} of {name} is also a checkpoint name"
        assert weights.spec(alias) is weights.spec(name) and weights.spec(alias).name == name
        assert WEIGHTS.canonical(alias) == name
    assert {old: weights.spec(old).name for old in OLD_NAMES} == OLD_NAMES


def test_every_declared_default_exists_and_fits_its_network():
    declaring = [n for n in nets.names() if nets.network(n).default_weights]
    assert {"cyclegan_resnet9", "cyclegan_resnet9_horse2zebra", "stylegan2_ffhq_config_f_1024", "wgan_mnist"} <= set(declaring)
    for name in declaring:
        network = nets.network(name)
        declared = network.default_weights
        assert declared in WEIGHTS.names(), f"{name} declares {declared!r}, which is no checkpoint name (an alias?)"
        s = weights.default_spec(name)
        assert s.name == declared
        # Same family, and built in this network's configuration (its size, its class count...).
        assert weights.network_of(s).architecture == network.architecture, (name, declared)
        config = weights.network_config(s)
        assert all(config.get(k) == v for k, v in network.config.items()), (name, declared, network.config, config)
    # A configuration of one family never declares another family's checkpoint: create refuses that.
    assert weights.default_spec("realsr_rrdb_x4").name == "rrdb_x4.realsr_df2k_jpeg"
    assert weights.default_spec("stylegan2_animeface_512").name == "stylegan2.animeface_512"


def test_declared_defaults_on_this_machine_load_strictly_by_network_name():
    """Where the default's file is here (the bundled digits, small imports), create(name, pretrained=True) loads it."""
    loaded = 0
    for name in nets.names():
        declared = nets.network(name).default_weights
        path = weights.locate(weights.spec(declared)) if declared else None
        if path is None or path.stat().st_size > 20_000_000:
            continue
        net = models.create(name, pretrained=True)
        assert not net.training
        loaded += 1
    assert loaded >= 3, "the bundled digit checkpoints should be here"


def test_every_packaged_source_names_a_registered_converter():
    for s in weights.specs():
        if s.packaged:
            assert s.packaged.converter in CONVERTERS, (s.name, s.packaged.converter)
    assert {"ncnn_rrdb", "ncnn_srvgg", "torch_resnet_generator", "torch_dcgan_digiface", "torch_dcgan_omniart_eyes"} <= set(CONVERTERS.names())


# ---------------------------------------------------------------- networks


# Every manifest of shared/reference/manifests whose network we implement: each stays a valid network name.
MANIFEST_NAMES = [
    "animeganv2_hayao", "basicvsr_reds_x4", "basicvsrpp_reds_x4", "bisenet_face_parsing", "cond_dcgan_mnist",
    "cyclegan_resnet9_horse2zebra", "dcgan_mnist", "edvr_l_w_tsa_srx4", "iconvsr_reds_x4", "ppmsvsr_l_reds_x4", "ppmsvsr_reds_x4",
    "deepremaster_modelC", "deepremaster_modelR", "deoldify_artistic", "gfpgan_v1_512", "gpen512_face_enhance", "gpen_ffhq256",
    "deoldify_stable", "face_blazeface", "face_s3fd", "faceseg_fcn_hrnetw18", "fom_vox_256", "fom_vox_mobile_256",
    "lesrcnn_x4", "photo2cartoon_genA2B", "photopen_spade", "pix2pix_unet256_facades", "realsr_rrdb_x4", "wav2lip_hq",
    "stylegan2_256", "stylegan2_animeface_512", "stylegan2_ffhq_config_f_1024", "ugatit_light_selfie2anime", "wgan_mnist",
]


def test_the_registered_manifest_names_are_the_expected_ones():
    manifests = reference_dir() / "manifests"
    if not manifests.is_dir():
        pytest.skip(f"{manifests} is not present")
    present = {p.stem for p in manifests.glob("*.json")}
    assert sorted(present & set(nets.names())) == sorted(MANIFEST_NAMES)


@pytest.mark.parametrize("name", MANIFEST_NAMES)
def test_every_manifest_name_we_register_is_a_valid_name_for_create(name):
    manifest = load_manifest(name)  # skips when the manifests are absent
    assert name in nets.names()
    # LazyGuard skips parameter initialisation: the layout of the largest network is checked in a second.
    with paddle.LazyGuard():
        net = models.create(name)
    assert isinstance(net, paddle.nn.Layer) and not net.training
    assert_same_layout(net, manifest)


def test_a_configuration_is_its_architecture_with_arguments():
    assert set(nets.architectures()) <= set(nets.names())
    for name in nets.names():
        network = nets.network(name)
        family = nets.network(network.architecture)
        assert family.architecture == family.name and family.factory is network.factory, name
        assert network.module.startswith("core.nets."), name
    stylegan = nets.network("stylegan2_animeface_512")
    assert (stylegan.architecture, dict(stylegan.config)) == ("stylegan2", {"size": 512})
    assert nets.build("stylegan2_256", size=32, style_dim=16, n_mlp=2, narrow=1 / 64).size == 32  # overrides win


def test_nets_build_is_random_weights_in_eval_mode():
    paddle.seed(0)
    a = nets.build("wgan_mnist", latent_dim=8, ngf=4)
    paddle.seed(1)
    b = nets.build("wgan_mnist", latent_dim=8, ngf=4)
    assert not a.training and not b.training
    assert not np.array_equal(a.state_dict()["l1.0.weight"].numpy(), b.state_dict()["l1.0.weight"].numpy())
    with pytest.raises(KeyError, match="unknown network 'no_such_net'"):
        nets.build("no_such_net")
