"""The bridge between Home Assistant and the realtime protocol library."""
