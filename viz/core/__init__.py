"""GL-free core: render arguments and results, the renderer and its thread, headless output, files."""
