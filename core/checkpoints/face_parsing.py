"""Checkpoints of Face segmentation and parsing (``core.nets.face_parsing``): PaddleGAN's FCN-HRNet and BiSeNet."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

register_weights(
    WeightSpec(
        name="fcn_hrnet_w18.faceseg",
        architecture="fcn_hrnet_w18",
        filename="faceseg_FCN-HRNetW18.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/faceseg_FCN-HRNetW18.pdparams",
        key=None,
        description="Face vs background segmentation used by PaddleGAN's photo2cartoon (FaceSeg)",
        licence="Apache-2.0 (PaddleGAN); its training data is not stated",
        source_note=(
            "PaddleGAN ppgan/faceutils/face_segmentation (FaceSeg loads it with set_state_dict as a flat "
            "state dict); layout checked against shared/reference faceseg_fcn_hrnetw18, not against the file"
        ),
    )
)

register_weights(
    WeightSpec(
        name="bisenet.face_parsing",
        architecture="bisenet",
        filename="bisenet.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/bisenet.pdparams",
        key=None,
        description="BiSeNet face parsing (19 CelebAMask-HQ parts) used by PaddleGAN's face parsing and makeup",
        licence=(
            "PaddleGAN port (Apache-2.0) of PSGAN / face-parsing.PyTorch (MIT); trained on CelebAMask-HQ, "
            "whose images are for non-commercial research and education"
        ),
        source_note=(
            "PaddleGAN ppgan/faceutils/mask (FaceParser loads it with set_dict as a flat state dict); "
            "layout checked against shared/reference bisenet_face_parsing, not against the file"
        ),
    )
)
