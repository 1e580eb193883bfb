"""daskquant: K-color quantization of very large images with distributed k-means on Dask."""

from daskquant._api._cv2compat import (
    KMEANS_PP_CENTERS,
    KMEANS_RANDOM_CENTERS,
    KMEANS_USE_INITIAL_LABELS,
    TERM_CRITERIA_COUNT,
    TERM_CRITERIA_EPS,
    TERM_CRITERIA_MAX_ITER,
    kmeans,
)
from daskquant._api._fit import FitResult, fit_palette
from daskquant._api._labels import apply_palette
from daskquant._api._palette import load_palette
from daskquant._api._quality import quality
from daskquant._api._quantize import Summary, quantize
from daskquant._errors import (
    DaskQuantError,
    InputError,
    InvalidParameterError,
    QualityTooLowError,
    StoreError,
    TooFewColorsError,
)
from daskquant._io._collection import open_collection
from daskquant._io._readers import open_image
from daskquant._store._export import export
from daskquant._store._preview import preview
from daskquant._store._store import open_store
from daskquant._version import __version__

__all__ = [
    "KMEANS_PP_CENTERS",
    "KMEANS_RANDOM_CENTERS",
    "KMEANS_USE_INITIAL_LABELS",
    "TERM_CRITERIA_COUNT",
    "TERM_CRITERIA_EPS",
    "TERM_CRITERIA_MAX_ITER",
    "DaskQuantError",
    "FitResult",
    "InputError",
    "InvalidParameterError",
    "QualityTooLowError",
    "StoreError",
    "Summary",
    "TooFewColorsError",
    "__version__",
    "apply_palette",
    "export",
    "fit_palette",
    "kmeans",
    "load_palette",
    "open_collection",
    "open_image",
    "open_store",
    "preview",
    "quality",
    "quantize",
]
