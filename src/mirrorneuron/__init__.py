"""mirrorneuron: interpretability as a game — imitate one unit of a neural network."""

__version__ = "0.1.0"
