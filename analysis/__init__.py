"""The analyses behind the tools and the visualizer's views: image and video frames, spectra and their plots,
texture sticking, projection, latent directions and latent files.

Below viz/ and tools/: this package imports only networks/, ops/ and training/ (the dataset reader), never the
renderer or the GUI (tests/test_import_rules.py).
"""
