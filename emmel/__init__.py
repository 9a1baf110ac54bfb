"""emmel: build the EMMEL Chinese multimodal entity linking dataset and benchmark it."""

__version__ = "0.1.0"
TOOL = f"emmel {__version__}"
