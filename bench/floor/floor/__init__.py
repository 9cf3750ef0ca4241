"""The independent floor of `make bench`: a stock Django project with one stock DRF view.

Nothing here imports the service (``fido``, ``transactions``, ``analytics``): it is what any Django
REST framework endpoint costs on the same gunicorn, PostgreSQL and Redis, so the benchmark's ratios
expose what the service's own stack adds on top.
"""
