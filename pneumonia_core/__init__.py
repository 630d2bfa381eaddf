"""Qt-free, TensorFlow-free core shared by training, conversion and the desktop app."""

__version__ = "0.1.0"
