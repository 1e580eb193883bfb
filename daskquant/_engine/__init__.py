"""The k-means engine: sources of partial sums, Lloyd, seeding, numba kernels."""
