"""Embedded data: ``toyfaces``, procedural CelebA-like faces with known ground truth.

Each face carries the ten binary attributes of INIT (Cao et al., "Informative Sample Mining
Network for Multi-Domain Image-to-Image Translation", CelebA experiments) in ``ATTRIBUTES``
order, a vector of continuous identity parameters in [0, 1] (``IDENTITY_FIELDS``), an edge
map and a segmentation mask (``MASK_CLASSES``). Sample ``index`` of ``split`` is drawn from
``SeedSequence(seed, spawn_key=(split, index, stream))``, so it is the same in every process.

Drawing. A face is painted in flat colours with PIL onto a canvas of *part ids* at 4x the
output size, then each part id is coloured from a per-face palette and every 4x4 block is
averaged (anti-aliasing with a box filter, so each output pixel depends on its own block
only). The mask is the class of each block's centre part; the edge map counts the canvas
pixels on a part boundary in each block, in quarters capped at 1 (0, .25, ..., 1).
Painting order (later parts cover earlier ones): background, clothes, long hair (female),
neck, ears, face, wrinkles (not young), hair cap, side locks (female), bangs, eyebrows,
eyes, nose, beard, mouth, glasses.

Attributes are visible in every combination and local to their region (``FaceGeometry``):

- hair colour (black/blond/brown, at most one; none on = grey): the hair palette only;
- bangs: a fringe between the hairline and the eyebrows (``forehead_box``);
- smiling: an open, curved mouth with teeth vs closed straight lips (``mouth_box``);
- male: short hair with visible ears, a square jaw, thick straight eyebrows; female: long
  hair to the shoulders, side locks over the ears, a narrow chin, thin arched eyebrows.
  Eyes, nose and mouth (``feature_boxes``) never move;
- no_beard: off = a dark beard over the lower face (``beard_box``);
- pale_skin: the skin palette comes from a light range disjoint from the non-pale one;
- eyeglasses: dark frames, bridge and arms, drawn last inside ``eye_band``;
- young: off = forehead lines, crow's feet, eye bags, nasolabial folds, neck lines (on skin).

Attributes are drawn independently (hair colours as one categorical draw), so a classifier
cannot lean on correlations; ``DEFAULT_ATTRIBUTE_PROBS`` moves CelebA's rates towards 0.5
so rare attributes still have thousands of examples in 20,000 faces.

Speed: about 500 faces/s at 64 px on one core (600 at 32 px, 250 at 128 px), too slow to
feed training, so ``ToyFaces(cache=True)`` (the DataModule's default) renders a split once,
with up to 8 worker processes, into a uint8 ``.npy`` under ``$GANLAB_CACHE/toyfaces``
(default ``~/.cache/ganlab/toyfaces``) and memory-maps it; cached and on-the-fly items are
identical.

The package: ``renderer`` (attributes and identity -> image, edges, mask), ``faces`` (the
draws of each face, the ``ToyFaces`` data set and its cache) and ``datamodule``
(``ToyFacesDataModule``).
"""

from ganlab.data.toyfaces.datamodule import ToyFacesDataModule
from ganlab.data.toyfaces.faces import (
    DEFAULT_SPLIT_SIZES,
    SPLITS,
    ToyFaces,
    attribute_probabilities,
    cache_dir,
    sample_face,
)
from ganlab.data.toyfaces.renderer import (
    ATTRIBUTES,
    DEFAULT_ATTRIBUTE_PROBS,
    HAIR_COLOURS,
    IDENTITY_FIELDS,
    MASK_CLASSES,
    FaceGeometry,
    face_geometry,
    palette,
    render,
    render_arrays,
    render_layers,
)

__all__ = [
    "ATTRIBUTES",
    "DEFAULT_ATTRIBUTE_PROBS",
    "DEFAULT_SPLIT_SIZES",
    "HAIR_COLOURS",
    "IDENTITY_FIELDS",
    "MASK_CLASSES",
    "SPLITS",
    "FaceGeometry",
    "ToyFaces",
    "ToyFacesDataModule",
    "attribute_probabilities",
    "cache_dir",
    "face_geometry",
    "palette",
    "render",
    "render_arrays",
    "render_layers",
    "sample_face",
]
