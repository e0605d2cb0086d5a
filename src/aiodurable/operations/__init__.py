"""One module per durable operation; each is a small state machine over
"what the checkpoint says" × "what the code asks" (docs/protocol.md §4.4, §6)."""
