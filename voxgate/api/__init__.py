"""HTTP routers only: read the request, call a use case (gateway, transcription, tts, jobs), render the
answer. Business rules live below; the error envelope and upload reading are here."""
