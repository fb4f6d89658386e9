"""Fixtures of the emulator's own tests: `emu` and `http` come from tests/conftest.py
(every server event the emulator sent is checked against the SDK's models)."""
