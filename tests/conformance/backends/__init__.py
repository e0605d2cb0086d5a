"""The backends the conformance suite runs on: AWS's emulator and our local backend."""
