"""fairlit: invariant, fair representations with Stochastically Quantized Neural Networks."""

__version__ = "0.1.0"

__all__ = ["__version__"]
