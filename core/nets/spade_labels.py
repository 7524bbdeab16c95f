"""The label sets of the published SPADE generators (no paddle: the scene painter's page names them).

Facts read from PaddlePaddle/models ``PaddleCV/gan`` (``scripts/run_SPADE.sh``, ``infer_SPADE.sh``) and
PaddleGAN (``configs/photopen.yaml``, ``ppgan/utils/photopen.py``).
"""
from __future__ import annotations

# run_SPADE.sh / infer_SPADE.sh: --label_nc 36 --crop_height 512 --crop_width 1024; ngf keeps its default 64
# (trainer/SPADE.py, infer.py). The reader one-hots the label image's pixel values into label_nc channels
# (Cityscapes labelIds are 0-33; channels 34 and 35 stay empty) and, since --no_instance defaults to False,
# appends one channel of instance-map edges: 37 input channels.
CITYSCAPES_LABEL_NC = 36
# Cityscapes' labelIds (cityscapesScripts, helpers/labels.py), channel i = labelId i.
CITYSCAPES_LABELS = (
    "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground", "road",
    "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge", "tunnel", "pole",
    "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle",
)

# configs/photopen.yaml: label_nc 12 with contain_dontcare_label (13 one-hot channels) and the edges of the
# label map itself (ppgan/utils/photopen.py data_onehot_pro): semantic_nc 14.
PHOTOPEN_LABEL_NC = 13
