"""Logic behind the analysis tools and views (images, videos, spectra, texture sticking); no GUI code."""
