"""Protocol library for the OpenAI Realtime API (GA and beta dialects).

Nothing in this package imports Home Assistant: it is the layer a reader studies to
learn the protocol, and it is tested on its own against the local emulator.
"""
