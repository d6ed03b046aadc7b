"""The model: cells in NumPy, the `.keras` reader, the engines, the Keras builder, the kernels."""
