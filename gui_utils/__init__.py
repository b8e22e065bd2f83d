"""GLFW window, Dear ImGui context, core-profile OpenGL textures and fonts.

Nothing in this package knows about GANs: it is the thin layer between the application (``viz``) and
the windowing / OpenGL stack, usable by any imgui-bundle tool.
"""
