"""Inputs: readers (files, TIFF, OME-Zarr, collections), image layout, chunk policy."""
