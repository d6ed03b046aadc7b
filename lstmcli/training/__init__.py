"""Training: the loop, distribution, the tf.data pipeline, schedules, TensorBoard events."""
