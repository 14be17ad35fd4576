"""Host-side datasets: build NPZ files from images, CSV or .npy files (Pillow decodes images, on the host only),
and describe them. The agent reads the NPZ with numpy alone."""

from edgeprof.dataset.build import BuildRequest, build_dataset, calibration_path
from edgeprof.dataset.preprocess import Preprocessing, parse_floats, parse_scale, parse_size
from edgeprof.dataset.sources import parse_classes
from edgeprof.dataset.summary import summarize

__all__ = ["BuildRequest", "Preprocessing", "build_dataset", "calibration_path", "parse_classes", "parse_floats",
           "parse_scale", "parse_size", "summarize"]
