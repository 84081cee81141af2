"""The dashboard: server-rendered pages under ``/ui`` (no build step), served by the API."""
