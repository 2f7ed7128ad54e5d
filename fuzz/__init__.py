"""Fuzzing of the decode contract (`make fuzz`)."""
