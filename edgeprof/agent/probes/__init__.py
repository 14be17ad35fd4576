"""On-device probes: one small module per measurement, each saying how it measured."""
