"""Logic behind the analysis command-line tools (images, videos, spectra); the CLIs in viz/ stay thin."""
