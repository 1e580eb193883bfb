"""The public functions: fit, label, quantize, the cv2-compatible kmeans, quality."""
