"""Landmark datasets: loaders for the common formats, augmentation and the face-crop dataset.

Every loader yields dicts ``image`` (uint8 RGB [H,W,3]), ``landmarks`` (float32 [K,2], 0-based
pixel coordinates, pixel centres at integers, NaN = unlabelled), ``visible`` (bool [K]), ``box``
(float32 [4] x, y, w, h) and ``meta`` (path, subsets, attributes, source).
"""

from facekd.data.augment import AugmentConfig
from facekd.data.base import DataError, FaceRecord, LandmarkDataset, SkipBadSamples, load_image
from facekd.data.crop import CropDataset
from facekd.data.formats import (COFW, CSVLandmarks, CocoKeypoints, DlibXML, Pts300W, UnlabelledImages, WFLW,
                                 WFLW_ATTRIBUTES, detect_format, load_dataset, read_pts)

__all__ = [
    "AugmentConfig", "CropDataset", "DataError", "FaceRecord", "LandmarkDataset", "SkipBadSamples",
    "load_image", "Pts300W", "WFLW", "CocoKeypoints", "COFW", "DlibXML", "CSVLandmarks", "UnlabelledImages",
    "WFLW_ATTRIBUTES", "detect_format", "load_dataset", "read_pts",
]
