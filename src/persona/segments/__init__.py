"""Customer segments: RFM rules, k-means and DBSCAN on profile features, each explained in words."""

from persona.segments.dbscan import DBSCANSegmenter
from persona.segments.kmeans import KMeansSegmenter
from persona.segments.rfm import RFMSegmenter
from persona.segments.service import (
    Segmentation,
    get_segment,
    list_segments,
    save_segmentation,
    segment_profiles,
)

__all__ = [
    "DBSCANSegmenter",
    "KMeansSegmenter",
    "RFMSegmenter",
    "Segmentation",
    "get_segment",
    "list_segments",
    "save_segmentation",
    "segment_profiles",
]
