"""Command-line tools; run as ``python tools/NAME.py`` with the package installed (``pip install -e .``)."""
