"""Benchmarks for pneumonia-xray: ``python -m bench`` measures speed, size, memory and the
accuracy cost of quantization against baselines measured in the same run.

Importing this package imports nothing heavy; TensorFlow is loaded only by the benchmarks
that need the float Keras baseline, and memory/start-up probes run in fresh processes.
"""
