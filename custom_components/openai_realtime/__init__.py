"""OpenAI Realtime for Home Assistant."""
