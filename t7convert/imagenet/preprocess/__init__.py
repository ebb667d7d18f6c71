"""fb.resnet.torch's validation preprocessing, exactly as Torch7 computed it.

``val_transform()(load_image(path))`` gives the ``3x224x224`` tensor that fb.resnet.torch fed its
models (``10x3x224x224`` with ``ten_crop=True``). Against tensors written by real Torch7 the
difference is zero on the shared PNG and JPEG fixtures (JPEG depends on the decoder agreeing with
libjpeg; Pillow's libjpeg-turbo did).
"""
from t7convert.imagenet.preprocess.bicubic import scale_bicubic
from t7convert.imagenet.preprocess.image_load import ImageLoadError, load_image
from t7convert.imagenet.preprocess.transforms import (
                         IMAGENET_MEAN,
                         IMAGENET_STD,
                         INTERPOLATIONS,
                         ValTransform,
                         center_crop,
                         color_normalize,
                         scale_shorter_side,
                         scaled_size,
                         ten_crop,
                         val_transform,
)

__all__ = ["load_image", "ImageLoadError", "val_transform", "ValTransform", "scale_bicubic",
           "scale_shorter_side", "scaled_size", "color_normalize", "center_crop", "ten_crop",
           "IMAGENET_MEAN", "IMAGENET_STD", "INTERPOLATIONS"]
