"""Training recipe: optimizers (RAdam, Lookahead) and learning-rate / weight-decay schedules.

``islr.training.optimizers`` holds the Keras 3 optimizers and ``islr.training.schedules`` the
one-cycle schedules; both are registered as serializable (package ``islr``) so that ``.keras``
files that were compiled with them load with ``safe_mode=True``.
"""
