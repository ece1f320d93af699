"""Benchmarks of the pipeline's stages against their floors, on the sample world at a chosen scale.

``python -m benchmarks.run --scale 0.1`` (see benchmarks/README.md). Not tests: nothing here asserts a time.
"""
