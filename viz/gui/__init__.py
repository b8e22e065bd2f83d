"""The GUI layer: the ImGui application and its widgets (the only part of viz/ that imports imgui or glfw)."""
