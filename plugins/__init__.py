"""Recommender algorithms as plugins: the contract, registry, built-in algorithms and evaluation.

Pure code on numpy/scipy data: nothing here imports ``server`` or ``workers``.
"""
