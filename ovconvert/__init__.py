"""ovconvert: TensorFlow → OpenVINO IR conversions driven by YAML recipes, each validated against TensorFlow."""

__version__ = "0.1.0"
