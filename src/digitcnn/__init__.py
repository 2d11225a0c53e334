"""digitcnn: handwritten digit recognition with a CNN, from MNIST to a web page.

    from digitcnn import DigitReader
    DigitReader().read("photo.jpg").digits
"""

__version__ = "0.1.0"
__all__ = ["DigitReader"]


def __getattr__(name):
    # Lazy, so that `import digitcnn.data` stays as cheap as NumPy.
    if name == "DigitReader":
        from .predict import DigitReader

        return DigitReader
    raise AttributeError(f"module 'digitcnn' has no attribute {name!r}")
