"""Tests of the web UI: gradio_client against the served app, and headless Chromium."""
