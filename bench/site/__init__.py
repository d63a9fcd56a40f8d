"""A bench-only Django site: the project's URLs plus the admission benchmark's baseline view.

Loaded only by bench/admission.py's gunicorn (DJANGO_SETTINGS_MODULE=bench.site.settings); the
production URLconf never includes it.
"""
