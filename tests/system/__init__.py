"""System tests: real processes (the emulator, Home Assistant, the CLI satellite)."""
