"""Typed knowledge of the API: resource descriptors, label and annotation names, conditions, names.

Pure data and pure functions over plain JSON dicts. No IO.
"""
