"""digitcnn: handwritten digit recognition with a CNN, from MNIST to a web page."""

__version__ = "0.1.0"
