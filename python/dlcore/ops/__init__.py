"""Detection ops with torchvision.ops's names and semantics: box format conversion, box areas,
the IoU family (pairwise and as losses) and non-maximum suppression.

Everything here works on dlcore tensors; see :mod:`dlcore.ops.boxes` for the exact formulas
and the behaviour at degenerate inputs.
"""
from .boxes import (  # noqa: F401
    batched_nms,
    box_area,
    box_convert,
    box_iou,
    complete_box_iou,
    complete_box_iou_loss,
    distance_box_iou,
    distance_box_iou_loss,
    generalized_box_iou,
    generalized_box_iou_loss,
    nms,
)

__all__ = ["batched_nms", "box_area", "box_convert", "box_iou", "complete_box_iou", "complete_box_iou_loss",
           "distance_box_iou", "distance_box_iou_loss", "generalized_box_iou", "generalized_box_iou_loss", "nms"]
