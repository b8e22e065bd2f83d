"""The visualizer in three layers: core (GL-free rendering, headless), gui (ImGui app and widgets), analysis."""
