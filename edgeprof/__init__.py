"""edgeprof: an edge-device inference profiler."""

__version__ = "0.1.0"
