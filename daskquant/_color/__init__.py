"""Colors: color spaces, palettes, dithering, display conversions."""
