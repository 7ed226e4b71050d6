"""Training: input pipeline, distribution strategies, optimizers and schedules.

``data`` builds padded batches of raw frames from TFRecords; ``distribute`` picks the
tf.distribute strategy; ``optimizers`` holds the Keras 3 RAdam and Lookahead and
``schedules`` the one-cycle learning-rate and weight-decay schedules. Optimizers and
schedules are registered as serializable (package ``islr``) so ``.keras`` files compiled
with them load with ``safe_mode=True``.
"""
