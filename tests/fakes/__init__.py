"""Test doubles that speak real protocols (a fake Twilio REST server on loopback)."""
