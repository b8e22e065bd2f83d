"""One ImGui widget per panel; each turns user input into changes of the frozen render arguments."""
