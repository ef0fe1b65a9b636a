"""Text to speech: the Piper engine, text splitting for streaming, and the speech use case."""
