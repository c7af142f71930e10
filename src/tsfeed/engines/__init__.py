"""Alternative window engines for :func:`tsfeed.make_datasets`.

The default engine lives in :mod:`tsfeed.pipeline` and :mod:`tsfeed.gather`; this package holds
the per-series Keras engine, kept as the reference for the window rule.
"""
