"""The HTTP service (FastAPI, extra ``api``): ``persona.api.main.create_app``. Key management needs no extra."""
