"""The output store: Zarr writing, resume, exports, previews."""
