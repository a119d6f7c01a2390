"""Memoji Booth: a kiosk that turns a facial expression into a live cartoon avatar."""

__version__ = "0.1.0"
