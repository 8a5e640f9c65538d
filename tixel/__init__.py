"""tixel: one config, one path from data to a deployed model, for text and images."""

__version__ = "0.1.0"
