"""GraphDef helpers: reading and writing GraphDefs (without importing TensorFlow), tensor specs."""
