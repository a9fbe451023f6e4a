"""Runnable comparisons that print ratios measured in the same run."""
